"""NarrativeQA (Kocisky et al., TACL 2018), summaries setting: answer a question about a book or film from its
Wikipedia summary; scored by token F1 (and ROUGE-L), as in HELM.

Not shipped: `harness prefetch` downloads `qaps.csv` and `third_party/wikipedia/summaries.csv` from DeepMind's
repository at a pinned commit (trust-on-first-use: no sha256 could be derived offline). One question per document
is drawn exactly as HELM does (Python's `random.seed(0)`, then `random.choice` over each document's questions, split
by split in the order train, valid, test), giving 1,102 / 115 / 355 instances. Both human answers are references.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from pathlib import Path

from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.download import DownloadedScenario, RemoteFile

_COMMIT = "f74c266a00d4b6f2306f34a5f7b1cc14f92bdb3e"
_BASE = f"https://raw.githubusercontent.com/google-deepmind/narrativeqa/{_COMMIT}"
REMOTE_FILES = {
    "qaps": RemoteFile(f"{_BASE}/qaps.csv", _COMMIT, None, "Apache-2.0", None,
                       "NarrativeQA question-answer pairs (46,765 rows)"),
    "summaries": RemoteFile(f"{_BASE}/third_party/wikipedia/summaries.csv", _COMMIT, None,
                            "CC-BY-SA-3.0 (Wikipedia)", None, "NarrativeQA Wikipedia summaries (1,572 rows)"),
}
SPLITS = ("train", "valid", "test")


def read_csv(path: Path, needed: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"), newline=""))
        rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise HarnessError(f"unreadable CSV: {e}", path=str(path)) from e
    missing = [c for c in needed if c not in (reader.fieldnames or ())]
    if missing:
        raise HarnessError(f"CSV has no column {missing[0]!r}", path=str(path), field=missing[0])
    return rows


@register_scenario
class NarrativeQAScenario(DownloadedScenario):
    name = "narrativeqa"
    description = "NarrativeQA: questions on book and film summaries, one per document (download: 355 test)."
    main_metric = "f1_bag"
    default_method = "generation"
    source = "https://github.com/google-deepmind/narrativeqa (Kocisky et al., arXiv:1712.07040)"
    license = "Apache-2.0 (summaries CC-BY-SA-3.0)"
    input_prefix = "Passage: "
    output_prefix = "Answer: "

    def remote_files(self) -> tuple[RemoteFile, ...]:
        return (REMOTE_FILES["qaps"], REMOTE_FILES["summaries"])

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        qaps = read_csv(paths[0], ("document_id", "set", "question", "answer1", "answer2"))
        summaries = {r["document_id"]: r for r in read_csv(paths[1], ("document_id", "set", "summary"))}
        rng = random.Random(0)  # HELM: random.seed(0), one random.choice per document, splits in this order
        for split in SPLITS:
            by_doc: dict[str, list[dict[str, str]]] = {}
            for row in qaps:
                if row["set"] == split:
                    by_doc.setdefault(row["document_id"], []).append(row)
            for doc, rows in by_doc.items():
                row = rng.choice(rows)
                if doc not in summaries:
                    raise HarnessError(f"no summary for document {doc}", path=str(paths[1]), field="document_id")
                question = row["question"].strip()
                question += "" if question.endswith("?") else "?"
                text = f"{summaries[doc]['summary'].strip()}\nQuestion: {question}"
                refs = (Reference(row["answer1"], (CORRECT,)), Reference(row["answer2"], (CORRECT,)))
                yield Instance(f"{split}/{doc}", text, refs, split, {"question": question})
