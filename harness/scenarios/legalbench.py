"""LegalBench (Guha et al., 2023): legal reasoning tasks, answered with a short label (quasi_exact_match).

The five tasks HELM uses, each a separate parameterisation (`task`). Not shipped: `harness prefetch` downloads the
task's train.tsv (the few-shot pool, 4-10 rows) and test.tsv from the Hugging Face dataset at a pinned revision.
No sha256 could be derived offline, so they are trust-on-first-use (the digest seen first is recorded and checked
after). The prompt settings (field order, instructions, output noun) are HELM's, from HazyResearch/legalbench
`helm_prompt_settings.jsonl` at commit 1d3fab01f6d646678741389ccd662281861f9d5c, copied here. Licenses differ per
task (CC-BY-4.0 for most; see the task cards).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.download import DownloadedScenario, RemoteFile

_REVISION = "daec8237410aa23e3faf4bc41ad8b3a7e1696826"
_BASE = f"https://huggingface.co/datasets/nguha/legalbench/resolve/{_REVISION}/data"

# task -> (prompt fields as (label, column), instructions, output noun)
TASKS: dict[str, tuple[tuple[tuple[str, str], ...], str, str]] = {
    "abercrombie": ((("Description", "text"),), (
        "A mark is generic if it is the common name for the product. A mark is descriptive if it describes a purpose, "
        "nature, or attribute of the product. A mark is suggestive if it suggests or implies a quality or "
        "characteristic of the product. A mark is arbitrary if it is a real English word that has no relation to the "
        "product. A mark is fanciful if it is an invented word. Label the type of mark for the following products."),
        "Type"),
    "corporate_lobbying": ((("Official title of bill", "bill_title"), ("Official summary of bill", "bill_summary"),
                            ("Company name", "company_name"), ("Company business description", "company_description")), (
        "You are a lobbyist analyzing Congressional bills for their impacts on companies. Given the title and summary "
        "of the bill, plus information on the company from its 10K SEC filing, it is your job to determine if a bill "
        "is at least somewhat relevant to a company in terms of whether it could impact the company's bottom-line if "
        "it was enacted (by saying Yes or No)."), "Label"),
    "international_citizenship_questions": ((("Question", "question"),), (
        "Answer the following questions considering the state of international law on January 1st, 2020. "
        "Answer Yes or No."), "Answer"),
    "function_of_decision_section": ((("Text", "Paragraph"),), (
        "Classify the following text using the following definitions.\n\n"
        "- Facts: The paragraph describes the factual background that led up to the present lawsuit.\n"
        "- Procedural History: The paragraph describes the course of litigation that led to the current proceeding "
        "before the court.\n"
        "- Issue: The paragraph describes the legal or factual issue that must be resolved by the court.\n"
        "- Rule: The paragraph describes a rule of law relevant to resolving the issue.\n"
        "- Analysis: The paragraph analyzes the legal issue by applying the relevant legal principles to the facts of "
        "the present dispute.\n"
        "- Conclusion: The paragraph presents a conclusion of the court.\n"
        "- Decree: The paragraph constitutes a decree resolving the dispute."), "Function"),
    "proa": ((("Statute", "text"),), (
        "A private right of action is when a regular person, a private citizen, is legally entitled to enforce their "
        "rights under a given statute. Does the clause specify a private right of action? Answer Yes or No."),
        "Answer"),
}


def remote_file(task: str, split: str) -> RemoteFile:
    return RemoteFile(f"{_BASE}/{task}/{split}.tsv", _REVISION, None, "CC-BY-4.0 (per task; see its card)", None,
                      f"LegalBench {task} {split} split (TSV)")


def read_tsv(path: Path) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) of a LegalBench TSV: a header, then tab-separated fields, double-quoted when they hold a
    tab, quote or newline (so a row may span lines)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"unreadable TSV: {e}", path=str(path)) from e
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter="\t")
    rows = []
    for row in reader:
        rows.append((reader.line_num, row))
    return rows


@register_scenario
class LegalBenchScenario(DownloadedScenario):
    name = "legalbench"
    description = "LegalBench: legal reasoning, one of HELM's five tasks, short-label generation (download)."
    main_metric = "quasi_exact_match"
    default_method = "generation"
    source = "https://hazyresearch.stanford.edu/legalbench/ (Guha et al., arXiv:2308.11462)"
    license = "CC-BY-4.0 (per task)"
    args = {"task": "abercrombie"}
    arg_values = {"task": tuple(TASKS)}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.task = str(self.kwargs["task"])
        if self.task not in TASKS:
            raise HarnessError(f"unknown LegalBench task {self.task!r} (known: {', '.join(TASKS)})", field="args")
        self.fields, self._instructions, noun = TASKS[self.task]
        self.output_prefix = f"{noun}: "  # type: ignore[misc]  (per task, as HELM's output noun)

    def instructions_for(self) -> str:
        return self._instructions

    def remote_files(self) -> tuple[RemoteFile, ...]:
        return (remote_file(self.task, "train"), remote_file(self.task, "test"))

    def parse(self, paths: list[Path]) -> Iterator[Instance]:
        for split, path in zip(("train", "test"), paths):
            for line, row in read_tsv(path):
                missing = [c for _, c in self.fields if row.get(c) is None] + ([] if row.get("answer") else ["answer"])
                if missing:
                    raise HarnessError(f"LegalBench {self.task} row lacks {missing[0]!r}", path=str(path), line=line,
                                       field=missing[0])
                text = "\n".join(f"{label}: {row[column]}" for label, column in self.fields)
                index = row.get("index") or str(line)
                yield Instance(f"{self.task}/{split}/{index}", text, (Reference(row["answer"], (CORRECT,)),), split)
