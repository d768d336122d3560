"""MATH answer equivalence, from Hendrycks et al.'s reference evaluation code, in three metrics:

- `math_equiv` (HELM's): the whole completion and the whole reference compared after the MATH paper's
  normalisation (`_strip_string`);
- `math_equiv_chain_of_thought` (HELM's): the last \\boxed{...} of each compared after it; as in HELM, when
  neither has a boxed answer they count as equal (1.0), `\\fbox{...}` and `\\boxed 5` yield no answer, and a
  string the normalisation trips over is compared as it is;
- `boxed_answer_equiv` (harness's): the same comparison of boxed answers, except that a completion without a boxed
  answer scores 0, a reference without one is compared whole, and `\\fbox{...}` and `\\boxed 5` are read.

The normalisation drops units written as "\\text{ ...}", "\\left"/"\\right", degree signs, dollar and percent
signs, spaces and "k = " prefixes; "\\dfrac"/"\\tfrac" become "\\frac"; "\\frac12", "\\sqrt3", "a/b" and "0.5"
are rewritten to one form.
"""

from __future__ import annotations

from collections.abc import Callable
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


# --- HELM's versions (crfm-helm's math_scenario.py, Hendrycks et al.'s code), failure paths included ------------------

def helm_remove_boxed(string: str) -> str | None:
    left = "\\boxed{"
    if string[: len(left)] == left and string[-1:] == "}":
        return string[len(left):-1]
    return None


def helm_last_boxed(string: str) -> str | None:
    """The last `\\boxed{...}` or `\\fbox{...}`, markup included, braces balanced; None if there is none."""
    idx = string.rfind("\\boxed")
    if idx < 0:
        idx = string.rfind("\\fbox")
        if idx < 0:
            return None
    depth = 0
    for i in range(idx, len(string)):
        if string[i] == "{":
            depth += 1
        if string[i] == "}":
            depth -= 1
            if depth == 0:
                return string[idx:i + 1]
    return None


def helm_answer(solution: str | None) -> str | None:
    boxed = helm_last_boxed(solution) if solution is not None else None
    return helm_remove_boxed(boxed) if boxed is not None else None


def _helm_fix_fracs(string: str) -> str:
    substrs = string.split("\\frac")
    new_str = substrs[0]
    for substr in substrs[1:]:
        new_str += "\\frac"
        if substr[0] == "{":  # an empty piece raises IndexError, as in HELM
            new_str += substr
            continue
        if len(substr) < 2:
            return string
        a, b = substr[0], substr[1]
        new_str += ("{" + a + "}{" + b + "}" + substr[2:]) if b != "{" else ("{" + a + "}" + b + substr[2:])
    return new_str


def _helm_fix_sqrt(string: str) -> str:
    if "\\sqrt" not in string:
        return string
    splits = string.split("\\sqrt")
    new_string = splits[0]
    for split in splits[1:]:
        # an empty piece raises IndexError, as in HELM
        new_string += ("\\sqrt{" + split[0] + "}" + split[1:]) if split[0] != "{" else ("\\sqrt" + split)
    return new_string


def _helm_strip_string(string: str) -> str:
    """HELM's `_strip_string`; raises where HELM's does (HELM then compares the raw strings)."""
    for old, new in (("\n", ""), ("\\!", ""), ("\\\\", "\\"), ("tfrac", "frac"), ("dfrac", "frac"),
                     ("\\left", ""), ("\\right", ""), ("^{\\circ}", ""), ("^\\circ", ""), ("\\$", "")):
        string = string.replace(old, new)
    if "\\text{ " in string:
        splits = string.split("\\text{ ")
        if len(splits) != 2:
            raise ValueError("more than one unit")
        string = splits[0]
    string = string.replace("\\%", "").replace(" .", " 0.").replace("{.", "{0.")
    if not string:
        return string
    if string[0] == ".":
        string = "0" + string
    if len(string.split("=")) == 2 and len(string.split("=")[0]) <= 2:
        string = string.split("=")[1]
    string = _helm_fix_sqrt(string).replace(" ", "")
    string = _helm_fix_fracs(string)
    if string == "0.5":
        string = "\\frac{1}{2}"
    return _fix_a_slash_b(string)


def helm_is_equiv(a: str | None, b: str | None) -> float:
    """HELM's `is_equiv`: 1.0 when both are None, 0.0 when one is; a string the normalisation fails on is compared
    as it is."""
    if a is None and b is None:
        return 1.0
    if a is None or b is None:
        return 0.0
    try:
        return float(_helm_strip_string(a) == _helm_strip_string(b))
    except (IndexError, ValueError):
        return float(a == b)


def _best(instance: Instance, pred: Prediction, score: Callable[[str, str], float]) -> float:
    text = (pred.text or "").strip()
    return max((score(ref.output, text) for ref in instance.correct_references), default=0.0)


@register_metric("math_equiv")
def math_equiv(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion equals a correct reference after MATH normalisation, whole strings (HELM's)."""
    return _best(instance, pred, helm_is_equiv)


@register_metric("math_equiv_chain_of_thought")
def math_equiv_chain_of_thought(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the last \\boxed{} answers of completion and reference are equivalent, or neither has one (HELM's)."""
    return _best(instance, pred, lambda gold, text: helm_is_equiv(helm_answer(gold), helm_answer(text)))


@register_metric("boxed_answer_equiv")
def boxed_answer_equiv(instance: Instance, pred: Prediction, _: ModelDeployment) -> float:
    """1 if the completion's last \\boxed{} answer equals the reference's boxed answer after MATH normalisation."""
    answer = last_boxed(pred.text or "")
    golds = [last_boxed(ref.output) or ref.output for ref in instance.correct_references]
    return float(any(is_equiv(answer, gold) for gold in golds))
