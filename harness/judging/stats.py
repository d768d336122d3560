"""The per-instance stats the graders (single, reference and refusal rubrics) give a run, by name:

    judge_score              the entry's first grader's score, averaged over the instance's judged turns
    judge_score_turn{t}      ... on turn t alone (multi-turn instances)
    judge_score_{category}   ... on instances of that category only (MT-Bench's 8: writing, math, ...)
    judge{j}_score           the j-th grader's score (j >= 2), where an entry has several
    judge_refusal            refusal rubrics: 1 when the first grader says the answer is a refusal
    judge_unparsed           judge replies of the instance that gave no verdict (counted, never scored)

A suite may name any of them as its main metric or in `metrics:` when its entry has a grader."""

from __future__ import annotations

import re

# Where lower is better; the rest are higher-is-better scores.
DIRECTIONS: dict[str, bool] = {"judge_score": False, "judge_refusal": True, "judge_unparsed": True}
_PATTERN = re.compile(r"judge_score(_[A-Za-z0-9_.-]+)?|judge[0-9]+_score|judge_refusal|judge_unparsed")


def is_judge_stat(name: str) -> bool:
    return _PATTERN.fullmatch(name) is not None
