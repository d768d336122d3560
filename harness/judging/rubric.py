"""Rubrics: the judge's prompt template and how to read its verdict, one YAML file each (the shipped ones are in
harness/judging/rubrics/; a user's is a path). A rubric's version is the sha256 of its file, stored with every
judgment it produced.

A rubric file:

    name: single                 # how suites and the site call it
    kind: single                 # single | reference | pairwise | refusal
    scale: [1, 10]               # single, reference: the lowest and highest score
    labels: [A, B, C]            # pairwise: first better, second better, tie; refusal: its labels
    refusal: [2_full_refusal]    # refusal: the labels that count as a refusal
    max_tokens: 512              # the judge's reply budget (default 512)
    system: "..."                # the judge's system message (may be empty)
    user: "..."                  # the judge's user message: str.format fields, below
    verdict: '\\[\\[(\\d+)\\]\\]'   # a regex whose first group is the verdict

Fields a template may use: {question} (this turn's user message), {history} (the conversation before this turn,
"" on the first turn), {answer}, {reference} (reference kind: the reference answer to this turn), {turn} (1-based),
and for pairwise {answer_a}, {answer_b}, {history_a}, {history_b}. A literal brace is doubled ({{ and }}).
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.yaml_lines import LineList, check_keys, load_yaml

RUBRICS_DIR = Path(__file__).resolve().parent / "rubrics"
KINDS = ("single", "reference", "pairwise", "refusal")
FIELDS = {
    "single": {"question", "history", "answer", "turn"},
    "reference": {"question", "history", "answer", "reference", "turn"},
    "pairwise": {"question", "turn", "answer_a", "answer_b", "history_a", "history_b"},
    "refusal": {"question", "history", "answer", "turn"},
}
KEYS = {"name", "kind", "scale", "labels", "refusal", "max_tokens", "system", "user", "verdict", "description"}
TIE = "tie"  # a pairwise verdict that prefers neither answer
FIRST, SECOND = "first", "second"  # pairwise verdicts: the answer shown first (A) or second (B) is better


@dataclass(frozen=True)
class Rubric:
    name: str
    kind: str
    system: str
    user: str
    verdict: re.Pattern[str]
    version: str  # sha256 of the file
    path: str
    scale: tuple[float, float] | None = None
    labels: tuple[str, ...] = ()
    refusal: tuple[str, ...] = ()
    max_tokens: int = 512
    description: str = ""

    def render(self, **fields: str) -> tuple[str, str]:
        """(system, user) with the fields filled in. Candidate answers are put in as they are: str.format does not
        look into the values it inserts, so braces in an answer are harmless."""
        return self.system.format(**fields), self.user.format(**fields)

    def parse(self, reply: str) -> tuple[str | None, str | None]:
        """(verdict, None), or (None, why it cannot be read). A verdict is a number for single and reference,
        first | second | tie for pairwise, one of the labels for refusal. Several different verdicts in one reply are
        a failure, never a guess."""
        found = list(dict.fromkeys(m.group(1).strip() for m in self.verdict.finditer(reply or "")))
        if not found:
            return None, f"no verdict matching {self.verdict.pattern}"
        if len(found) > 1:
            return None, f"several different verdicts: {', '.join(found[:5])}"
        raw = found[0]
        if self.kind in ("single", "reference"):
            try:
                value = float(raw)
            except ValueError:
                return None, f"verdict {raw[:40]!r} is not a number"
            low, high = self.scale or (float("-inf"), float("inf"))
            if not low <= value <= high:
                return None, f"score {raw[:40]} outside the scale {low:g}-{high:g}"
            return f"{value:g}", None
        if raw not in self.labels:
            return None, f"verdict {raw[:40]!r} is not one of {', '.join(self.labels)}"
        if self.kind == "pairwise":
            return (FIRST, SECOND, TIE)[self.labels.index(raw)], None
        return raw, None


def rubric_path(name_or_path: str, base: Path | None = None) -> Path:
    """A shipped rubric's file by name, or a user's file (relative to `base`, the suite's folder)."""
    if name_or_path.endswith((".yaml", ".yml")) or "/" in name_or_path:
        path = Path(name_or_path)
        return path if path.is_absolute() or base is None else base / path
    path = RUBRICS_DIR / f"{name_or_path}.yaml"
    if not path.is_file():
        shipped = ", ".join(sorted(p.stem for p in RUBRICS_DIR.glob("*.yaml")))
        raise HarnessError(f"no rubric {name_or_path!r} (shipped: {shipped}; or give a rubric file's path)",
                           field="rubric")
    return path


_cache: dict[tuple[str, str], Rubric] = {}


def load_rubric(name_or_path: str, base: Path | None = None) -> Rubric:
    path = rubric_path(name_or_path, base)
    if not path.is_file():
        raise HarnessError("no such rubric file", path=str(path), field="rubric")
    data = path.read_bytes()
    version = hashlib.sha256(data).hexdigest()
    key = (str(path), version)
    if key not in _cache:
        _cache[key] = _parse(path, version)
    return _cache[key]


def _parse(path: Path, version: str) -> Rubric:
    raw = check_keys(load_yaml(path), KEYS, {"name", "kind", "user", "verdict"}, path, "rubric")
    where = str(path)

    def fail(message: str, key: str) -> HarnessError:
        return HarnessError(message, path=where, line=raw.line_of(key), field=key)

    def text(key: str, default: str = "") -> str:
        value = raw.get(key, default)
        if not isinstance(value, str):
            raise fail(f"expected a string, got {type(value).__name__}", key)
        return value

    name, kind = text("name"), text("kind")
    if not name.strip():
        raise fail("must be a non-empty string", "name")
    if kind not in KINDS:
        raise fail(f"{kind!r} is not one of {', '.join(KINDS)}", "kind")
    system, user = text("system"), text("user")
    for key, template in (("system", system), ("user", user)):
        try:
            used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as exc:
            raise fail(f"not a valid template: {exc}", key) from None
        unknown = sorted(used - FIELDS[kind])
        if unknown:
            raise fail(f"unknown field {{{unknown[0]}}} for a {kind} rubric (fields: "
                       f"{', '.join(sorted(FIELDS[kind]))})", key)
    try:
        verdict = re.compile(text("verdict"))
    except re.error as exc:
        raise fail(f"not a valid regex: {exc}", "verdict") from None
    if verdict.groups < 1:
        raise fail("the regex needs a group: (...) around the verdict", "verdict")
    scale = None
    labels: tuple[str, ...] = ()
    refusal: tuple[str, ...] = ()
    if kind in ("single", "reference"):
        value = raw.get("scale")
        if not (isinstance(value, LineList) and len(value) == 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in value) and value[0] < value[1]):
            raise fail("a single or reference rubric needs scale: [lowest, highest]", "scale")
        scale = (float(value[0]), float(value[1]))
    else:
        value = raw.get("labels")
        wanted = 3 if kind == "pairwise" else 2
        if not (isinstance(value, LineList) and len(value) >= wanted and all(isinstance(v, str) and v for v in value)
                and len(set(value)) == len(value)):
            what = "[first better, second better, tie]" if kind == "pairwise" else "a list of distinct labels"
            raise fail(f"a {kind} rubric needs labels: {what}", "labels")
        if kind == "pairwise" and len(value) != 3:
            raise fail("a pairwise rubric has exactly 3 labels: first better, second better, tie", "labels")
        labels = tuple(value)
        if kind == "refusal":
            counted = raw.get("refusal")
            if not (isinstance(counted, LineList) and counted and all(v in labels for v in counted)):
                raise fail("a refusal rubric needs refusal: [the labels that count as a refusal]", "refusal")
            refusal = tuple(counted)
    max_tokens = raw.get("max_tokens", 512)
    if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
        raise fail("must be a positive integer", "max_tokens")
    return Rubric(name, kind, system, user, verdict, version, where, scale, labels, refusal, max_tokens,
                  text("description"))


