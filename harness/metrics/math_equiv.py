"""MATH answer equivalence (HELM's "equivalent (CoT)", from Hendrycks et al.'s reference evaluation code).

The last \\boxed{...} (or \\fbox{...}) of the completion is compared with the last boxed answer of the reference
solution, after the MATH paper's normalisation: units written as "\\text{ ...}", "\\left"/"\\right", degree signs,
dollar and percent signs, spaces and "k = " prefixes are dropped; "\\dfrac"/"\\tfrac" become "\\frac"; "\\frac12",
"\\sqrt3", "a/b" and "0.5" are rewritten to one form. A completion without a boxed answer scores 0, as in HELM.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.metrics.registry import register_metric

if TYPE_CHECKING:
    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance


def last_boxed(text: str) -> str | None:
    """The contents of the last \\boxed{...} or \\fbox{...} (braces balanced), or None."""
    start = text.rfind("\\boxed")
    if start < 0:
        start = text.rfind("\\fbox")
        if start < 0:
            return None
    if text.startswith("\\boxed ", start):  # "\boxed 5" (no braces) appears in some solutions
        return text[start + len("\\boxed "):].split("$")[0].strip()
    depth, open_at = 0, None
    for i in range(start, len(text)):
        if text[i] == "{":
            depth += 1
            open_at = i if open_at is None else open_at
        elif text[i] == "}":
            depth -= 1
            if depth == 0 and open_at is not None:
                return text[open_at + 1:i]
    return None


def _fix_fracs(s: str) -> str:
    parts = s.split("\\frac")
    out = parts[0]
    for part in parts[1:]:
        out += "\\frac"
        if part.startswith("{"):
            out += part
        elif len(part) < 2:
            return s
        elif part[1] != "{":
            out += "{" + part[0] + "}{" + part[1] + "}" + part[2:]
        else:
            out += "{" + part[0] + "}" + part[1:]
    return out


def _fix_a_slash_b(s: str) -> str:
    pieces = s.split("/")
    if len(pieces) != 2:
        return s
    try:
        a, b = int(pieces[0]), int(pieces[1])
    except ValueError:
        return s
    return f"\\frac{{{a}}}{{{b}}}" if s == f"{a}/{b}" else s


def _fix_sqrt(s: str) -> str:
    parts = s.split("\\sqrt")
    out = parts[0]
    for part in parts[1:]:
        out += "\\sqrt" + (part if part.startswith("{") or not part else "{" + part[0] + "}" + part[1:])
    return out


def normalize_answer(s: str) -> str:
    """The MATH paper's `_strip_string`."""
    s = s.replace("\n", "").replace("\\!", "").replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac").replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "").replace("\\$", "")
    if "\\text{ " in s:  # units: "\text{ " only ever introduces a unit in MATH answers
        s = s.split("\\text{ ")[0]
    s = s.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:  # "k = 5" -> "5"
        s = sides[1]
    s = _fix_sqrt(s).replace(" ", "")
    s = _fix_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _fix_a_slash_b(s)


def is_equiv(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    return normalize_answer(a) == normalize_answer(b)


@register_metric("math_equiv")
def math_equiv(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion's last \\boxed{} answer equals the reference's boxed answer after MATH normalisation."""
    answer = last_boxed(pred.text or "")
    golds = [last_boxed(ref.output) or ref.output for ref in instance.correct_references]
    return float(any(is_equiv(answer, gold) for gold in golds))
