"""How well does a refusal classifier agree with people? XSTest ships 2,250 real completions (450 prompts x five
models), each labelled by two annotators as full compliance, full refusal or partial refusal, with a final label.
`judge_check` scores a classifier against the final labels (accuracy, Cohen's kappa, confusion matrix) beside the
annotators' own agreement, which bounds what any classifier can be expected to reach.

`harness judge-check --string-match` runs it, offline, with XSTest's string-match classifier (harness/judging/refusal).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.judging.refusal import COMPLIANCE, LABELS, PARTIAL, REFUSAL

COMPLETIONS = "xstest/completions.jsonl.gz"
Classifier = Callable[[str, str], str]  # (prompt, completion) -> one of LABELS


@dataclass(frozen=True)
class LabelledCompletion:
    id: str
    model: str  # the model that wrote the completion
    prompt: str
    completion: str
    label: str  # the prompt's: safe | unsafe
    annotation_1: str
    annotation_2: str
    final_label: str


def load_completions() -> list[LabelledCompletion]:
    """XSTest's 2,250 labelled completions from the shipped data (checksum-verified), each field checked."""
    from harness.scenarios.base import data_root
    from harness.scenarios.jsonl import as_dict, load

    path = data_root() / COMPLETIONS
    rows = []
    for number, raw in sorted((r for group in load(COMPLETIONS).values() for r in group), key=lambda r: r[0]):
        row = as_dict(raw, path, number)
        for field in ("id", "model", "input", "completion", "label", "annotation_1", "annotation_2", "final_label"):
            if not isinstance(row.get(field), str):
                raise HarnessError("missing or not a string", path=str(path), line=number, field=field)
        for field in ("annotation_1", "annotation_2", "final_label"):
            if row[field] not in LABELS:
                raise HarnessError(f"{row[field]!r} is not one of {', '.join(LABELS)}", path=str(path), line=number,
                                   field=field)
        rows.append(LabelledCompletion(row["id"], row["model"], row["input"], row["completion"], row["label"],
                                       row["annotation_1"], row["annotation_2"], row["final_label"]))
    return rows


@dataclass(frozen=True)
class Agreement:
    accuracy: float
    kappa: float

    def as_dict(self) -> dict[str, float | None]:
        return {"accuracy": _finite(self.accuracy), "kappa": _finite(self.kappa)}


def _finite(x: float) -> float | None:
    return None if x != x else round(x, 6)  # NaN has no JSON form


def _agreement(a: Sequence[str], b: Sequence[str]) -> Agreement:
    from harness.judging.agreement import accuracy, cohen_kappa

    return Agreement(accuracy(a, b), cohen_kappa(a, b))


def _binary(labels: Sequence[str]) -> list[str]:
    """Refused at all (full or partial) or complied: the question a two-class classifier can answer."""
    return [COMPLIANCE if label == COMPLIANCE else REFUSAL for label in labels]


@dataclass(frozen=True)
class JudgeCheckReport:
    n: int
    labels: tuple[str, ...]
    classifier: Agreement  # against final_label, three classes
    classifier_binary: Agreement  # partial refusals counted as refusals on both sides
    confusion: list[list[int]]  # rows final_label, columns classifier, in `labels` order
    annotators: Agreement  # annotation_1 vs annotation_2
    annotator_1_vs_final: Agreement
    annotator_2_vs_final: Agreement
    by_model: dict[str, Agreement]  # the classifier against final_label, per completing model

    def as_dict(self) -> dict[str, Any]:
        return {"n": self.n, "labels": list(self.labels), "classifier": self.classifier.as_dict(),
                "classifier_binary": self.classifier_binary.as_dict(),
                "confusion": {"rows": "final_label", "columns": "classifier", "matrix": self.confusion},
                "annotator_1_vs_annotator_2": self.annotators.as_dict(),
                "annotator_1_vs_final": self.annotator_1_vs_final.as_dict(),
                "annotator_2_vs_final": self.annotator_2_vs_final.as_dict(),
                "classifier_by_model": {m: a.as_dict() for m, a in self.by_model.items()}}


def judge_check(classify: Classifier, rows: Sequence[LabelledCompletion]) -> JudgeCheckReport:
    """Score `classify` against the rows' final labels, beside the annotators' agreement. A label outside XSTest's
    three is an error (ValueError), not counted as a miss."""
    from harness.judging.agreement import confusion_matrix

    if not rows:
        raise ValueError("no labelled completions")
    predicted = [classify(row.prompt, row.completion) for row in rows]
    for row, label in zip(rows, predicted):
        if label not in LABELS:
            raise ValueError(f"{row.id}: the classifier gave {label!r}, not one of {', '.join(LABELS)}")
    final = [row.final_label for row in rows]
    first, second = [row.annotation_1 for row in rows], [row.annotation_2 for row in rows]
    by_model: dict[str, list[int]] = {}
    for i, row in enumerate(rows):
        by_model.setdefault(row.model, []).append(i)
    return JudgeCheckReport(
        n=len(rows), labels=LABELS, classifier=_agreement(final, predicted),
        classifier_binary=_agreement(_binary(final), _binary(predicted)),
        confusion=confusion_matrix(final, predicted, LABELS),
        annotators=_agreement(first, second), annotator_1_vs_final=_agreement(first, final),
        annotator_2_vs_final=_agreement(second, final),
        by_model={m: _agreement([final[i] for i in idx], [predicted[i] for i in idx])
                  for m, idx in sorted(by_model.items())})


def format_report(report: JudgeCheckReport, name: str) -> str:
    short = {COMPLIANCE: "compliance", REFUSAL: "refusal", PARTIAL: "partial"}
    lines = [f"XSTest: {report.n} completions with human labels (final_label); classifier: {name}", "",
             f"{'':40} {'accuracy':>8}  {'kappa':>6}"]

    def row(title: str, a: Agreement) -> str:
        kappa = "n/a" if a.kappa != a.kappa else f"{a.kappa:.3f}"
        return f"{title:40} {a.accuracy:8.3f}  {kappa:>6}"

    lines += [row(f"{name} vs final_label", report.classifier),
              row(f"{name} vs final_label, 2 classes", report.classifier_binary),
              row("annotation_1 vs annotation_2", report.annotators),
              row("annotation_1 vs final_label", report.annotator_1_vs_final),
              row("annotation_2 vs final_label", report.annotator_2_vs_final), "",
              "2 classes: partial refusals counted as refusals, in the labels and the classifier's answers.", "",
              f"Confusion matrix (rows: final_label, columns: {name})",
              f"{'':12}" + "".join(f"{short[label]:>12}" for label in report.labels)]
    lines += [f"{short[label]:12}" + "".join(f"{count:12d}" for count in counts)
              for label, counts in zip(report.labels, report.confusion)]
    lines += ["", f"{name} vs final_label by completing model"]
    lines += [row(f"  {model}", a) for model, a in report.by_model.items()]
    return "\n".join(lines)


def add_parser(sub: Any) -> None:
    p = sub.add_parser("judge-check", help="measure a refusal classifier against XSTest's human labels")
    p.add_argument("--string-match", action="store_true", help="XSTest's string-match classifier (offline)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    # --judge DEPLOYMENT --rubric refusal: a judge model as the classifier (harness.judging.judge_model_check)
    p.add_argument("--judge", help="a deployment as the classifier: it labels each completion with --rubric")
    p.add_argument("--rubric", default="refusal", help="a refusal rubric's name or file (default: refusal)")
    p.add_argument("--models-file", action="append", default=[], help="extra deployments YAML (repeatable)")
    p.add_argument("--limit", type=int, help="check only the first N completions")
    p.add_argument("--output", default="out", help="where the judge's replies are stored (default: out)")
    p.add_argument("--db", help="SQLAlchemy database URL (default: sqlite:///OUTPUT/harness.db)")


def cmd_judge_check(args: argparse.Namespace) -> int:
    from harness.judging.refusal import string_match_label

    if getattr(args, "judge", None):
        from harness.judging.judge_model_check import cmd_judge_model_check

        return cmd_judge_model_check(args)
    if not args.string_match:
        raise HarnessError("judge-check needs a classifier to check: pass --string-match or --judge DEPLOYMENT")
    report = judge_check(lambda _prompt, completion: string_match_label(completion), load_completions())
    out = json.dumps({"classifier_name": "string_match", **report.as_dict()}, indent=2) if args.json else (
        format_report(report, "string match"))
    print(out)
    return 0
