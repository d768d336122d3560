"""MATH (Hendrycks et al., NeurIPS 2021): competition mathematics, answered with a worked solution ending in
\\boxed{answer} and scored by `boxed_answer_equiv` (HELM's "equivalent (CoT)" is `math_equiv_chain_of_thought`).

Not shipped (the original Hugging Face copy was taken down under a DMCA notice): `harness prefetch` downloads the
two JSONL files of OpenAI's PRM800K repository, which together hold all 12,500 MATH problems with their upstream
`unique_id` ("test/algebra/1.json"). The id's first part is the original MATH split, so the original 7,500 train /
5,000 test split is rebuilt exactly (PRM800K's own 12,000/500 split is ignored). Both files are Git LFS objects whose
pointers give their sha256 and size, so they are verified on download. Each instance's reference is the upstream
solution (its boxed answer is what `boxed_answer_equiv` compares); `extra` keeps `answer`, `subject` and `level`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.download import DownloadedScenario, RemoteFile

_PRM800K = "00811d6de065642a6967b9017d4cee59550c0ef4"
_MEDIA = f"https://media.githubusercontent.com/media/openai/prm800k/{_PRM800K}/prm800k/math_splits"
# sha256 and sizes are the `oid` and `size` of the Git LFS pointers at that commit.
REMOTE_FILES: dict[str, RemoteFile] = {
    "train": RemoteFile(f"{_MEDIA}/train.jsonl", _PRM800K,
                        "90d96daeac3fe343ebb1e22ce93dd99690f75983e957f88de42f87cffe1e8076", "MIT", 10896985,
                        "PRM800K math_splits/train.jsonl: 12,000 MATH problems (7,500 train + 4,500 test)"),
    "test": RemoteFile(f"{_MEDIA}/test.jsonl", _PRM800K,
                       "35dc41080a3680858b27fa7e0533d2d547825316fc5dafe5d316f4ccc5a06132", "MIT", 446564,
                       "PRM800K math_splits/test.jsonl: the other 500 MATH test problems (MATH-500)"),
}

SUBJECTS = {
    "algebra": "Algebra", "counting_and_probability": "Counting & Probability", "geometry": "Geometry",
    "intermediate_algebra": "Intermediate Algebra", "number_theory": "Number Theory", "prealgebra": "Prealgebra",
    "precalculus": "Precalculus",
}
LEVELS = ("1", "2", "3", "4", "5")


def _row(line: bytes, path: Path, number: int) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as e:
        raise HarnessError(f"not valid JSON: {e}", path=str(path), line=number) from e
    for key in ("problem", "solution", "subject", "level", "unique_id"):
        if key not in row:
            raise HarnessError(f"MATH row lacks {key!r}", path=str(path), line=number, field=key)
    return row


@register_scenario
class MATHScenario(DownloadedScenario):
    name = "math"
    description = "MATH: competition mathematics, chain-of-thought with a boxed answer (download: 5,000 test)."
    main_metric = "boxed_answer_equiv"
    default_method = "generation"
    source = "https://github.com/hendrycks/math (Hendrycks et al., arXiv:2103.03874), via openai/prm800k"
    license = "MIT"
    instructions = "Given a mathematics problem, determine the answer. Simplify your answer as much as possible."
    input_prefix = "Problem: "
    output_prefix = "Answer: "
    args = {"subject": "all", "level": "all"}
    arg_values = {"subject": tuple(SUBJECTS), "level": LEVELS}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        subject, level = str(self.kwargs["subject"]), str(self.kwargs["level"])
        if subject != "all" and subject not in SUBJECTS:
            raise HarnessError(f"unknown MATH subject {subject!r} (known: all, {', '.join(SUBJECTS)})", field="args")
        if level != "all" and level not in LEVELS:
            raise HarnessError(f"MATH level must be 1-5 or all, got {level!r}", field="args")
        self._subject = None if subject == "all" else SUBJECTS[subject]
        self._level = None if level == "all" else f"Level {level}"

    def remote_files(self) -> tuple[RemoteFile, ...]:
        return (REMOTE_FILES["train"], REMOTE_FILES["test"])

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        for path in paths:
            for number, line in enumerate(path.read_bytes().splitlines(), 1):
                if not line.strip():
                    continue
                row = _row(line, path, number)
                level = row["level"] if isinstance(row["level"], str) else f"Level {row['level']}"
                if (self._subject and row["subject"] != self._subject) or (self._level and level != self._level):
                    continue
                split = str(row["unique_id"]).split("/", 1)[0]
                if split not in ("train", "test"):
                    raise HarnessError(f"unique_id {row['unique_id']!r} names no MATH split", path=str(path),
                                       line=number, field="unique_id")
                extra = {"answer": str(row.get("answer", "")), "subject": row["subject"], "level": level}
                yield Instance(str(row["unique_id"]).removesuffix(".json"), row["problem"],
                               (Reference(row["solution"], (CORRECT,)),), split, extra)
