"""IFEval's format, content, start/end and combination checkers (the rest of `checkers.CHECKERS`)."""

from __future__ import annotations

import json
import re

from harness.metrics.ifeval.checkers import Kwargs, checker

_CONSTRAINED_RESPONSES = ("My answer is yes.", "My answer is no.", "My answer is maybe.")


@checker("detectable_content:number_placeholders")
def number_placeholders(response: str, kw: Kwargs) -> bool:
    return len(re.findall(r"\[.*?\]", response)) >= kw["num_placeholders"]


@checker("detectable_content:postscript")
def postscript(response: str, kw: Kwargs) -> bool:
    """A line containing the marker (`P.S.` also matches `p. s.`; `P.P.S` also `p. p. s`), case-insensitively."""
    marker = kw["postscript_marker"].strip()
    if marker == "P.P.S":
        pattern = r"\s*p\.\s?p\.\s?s.*$"
    elif marker == "P.S.":
        pattern = r"\s*p\.\s?s\..*$"
    else:
        pattern = r"\s*" + marker.lower() + r".*$"
    return bool(re.findall(pattern, response.lower(), flags=re.MULTILINE))


@checker("detectable_format:number_bullet_lists")
def number_bullet_lists(response: str, kw: Kwargs) -> bool:
    """Exactly n lines starting with `* ` (not `**`) or `-`."""
    stars = re.findall(r"^\s*\*[^\*].*$", response, flags=re.MULTILINE)
    dashes = re.findall(r"^\s*-.*$", response, flags=re.MULTILINE)
    return len(stars) + len(dashes) == kw["num_bullets"]


@checker("detectable_format:constrained_response")
def constrained_response(response: str, kw: Kwargs) -> bool:
    return any(option in response.strip() for option in _CONSTRAINED_RESPONSES)


@checker("detectable_format:number_highlighted_sections")
def number_highlighted_sections(response: str, kw: Kwargs) -> bool:
    """Non-empty `*single*` and `**double**` highlights within one line."""
    singles = re.findall(r"\*[^\n\*]*\*", response)
    doubles = re.findall(r"\*\*[^\n\*]*\*\*", response)
    count = sum(1 for h in singles if h.strip("*").strip())
    count += sum(1 for h in doubles if h.removeprefix("**").removesuffix("**").strip())
    return count >= kw["num_highlights"]


@checker("detectable_format:multiple_sections")
def multiple_sections(response: str, kw: Kwargs) -> bool:
    """At least n sections, each started by the splitter word and a number (`SECTION 1`)."""
    pattern = r"\s?" + kw["section_spliter"].strip() + r"\s?\d+\s?"
    return len(re.split(pattern, response)) - 1 >= kw["num_sections"]


@checker("detectable_format:json_format")
def json_format(response: str, kw: Kwargs) -> bool:
    value = (response.strip().removeprefix("```json").removeprefix("```Json").removeprefix("```JSON")
             .removeprefix("```").removesuffix("```").strip())
    try:
        json.loads(value)
    except ValueError:
        return False
    return True


@checker("detectable_format:title")
def title(response: str, kw: Kwargs) -> bool:
    return any(t.lstrip("<").rstrip(">").strip() for t in re.findall(r"<<[^\n]+>>", response))


@checker("combination:two_responses")
def two_responses(response: str, kw: Kwargs) -> bool:
    """Two different non-empty responses separated by `******` (an empty piece is allowed only at either end)."""
    pieces = response.split("******")
    valid = []
    for index, piece in enumerate(pieces):
        if not piece.strip():
            if index not in (0, len(pieces) - 1):
                return False
        else:
            valid.append(piece)
    return len(valid) == 2 and valid[0].strip() != valid[1].strip()


@checker("combination:repeat_prompt")
def repeat_prompt(response: str, kw: Kwargs) -> bool:
    return response.strip().lower().startswith(kw["prompt_to_repeat"].strip().lower())


@checker("startend:end_checker")
def end_checker(response: str, kw: Kwargs) -> bool:
    return response.strip().strip('"').lower().endswith(kw["end_phrase"].strip().lower())


@checker("startend:quotation")
def quotation(response: str, kw: Kwargs) -> bool:
    value = response.strip()
    return len(value) > 1 and value[0] == '"' and value[-1] == '"'
