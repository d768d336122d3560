"""MMLU (Hendrycks et al., ICLR 2021): 57-subject multiple choice; the whole test set ships (14,042 questions),
with the 5 dev questions per subject as the `train` split for few-shot examples (HELM's setup)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from harness.errors import HarnessError
from harness.instance import Instance
from harness.scenarios.base import data_root, register_scenario
from harness.scenarios.jsonl import JsonlScenario, LazyInstances, Row, as_dict, load

# Listed here (not read from the data) so an unknown subject is rejected when the suite is checked, before loading.
SUBJECTS: tuple[str, ...] = tuple("""
abstract_algebra anatomy astronomy business_ethics clinical_knowledge college_biology college_chemistry
college_computer_science college_mathematics college_medicine college_physics computer_security
conceptual_physics econometrics electrical_engineering elementary_mathematics formal_logic global_facts
high_school_biology high_school_chemistry high_school_computer_science high_school_european_history
high_school_geography high_school_government_and_politics high_school_macroeconomics high_school_mathematics
high_school_microeconomics high_school_physics high_school_psychology high_school_statistics
high_school_us_history high_school_world_history human_aging human_sexuality international_law jurisprudence
logical_fallacies machine_learning management marketing medical_genetics miscellaneous moral_disputes
moral_scenarios nutrition philosophy prehistory professional_accounting professional_law professional_medicine
professional_psychology public_relations security_studies sociology us_foreign_policy virology world_religions
""".split())
ALL = "all"

# (file, split) -> (the rows load() gave, those rows by subject): made once, so a suite of every subject
# (`subject: each`) decodes the 14k test rows once rather than once per subject. The rows are load()'s cached list:
# a file read again (changed on disk) gives another list, and the index is made again.
_by_subject: dict[tuple[str, str], tuple[list[tuple[int, Row]], dict[str, list[tuple[int, Row]]]]] = {}


@register_scenario
class MMLUScenario(JsonlScenario):
    name = "mmlu"
    description = "MMLU: 4-way multiple choice questions in 57 subjects (whole test set; dev rows as few-shot pool)."
    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://github.com/hendrycks/test (Hendrycks et al., ICLR 2021)"
    license = "MIT"
    data_shipped = "full"
    instructions = "The following are multiple choice questions (with answers)."
    input_prefix = "Question: "
    output_prefix = "Answer: "
    args: ClassVar[dict[str, Any]] = {"subject": ALL}
    arg_values: ClassVar[dict[str, tuple[str, ...]]] = {"subject": SUBJECTS}

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        subject = self.kwargs["subject"]
        if subject != ALL and subject not in SUBJECTS:
            raise HarnessError(f"unknown MMLU subject {subject!r}; valid: {ALL}, {', '.join(SUBJECTS)}",
                               field="args")
        self.subject: str = subject

    def instructions_for(self, instance: Instance | None = None) -> str:
        """HELM's wording names the subject. With subject=all there is no single one to name, unless the caller
        passes the instance (the adapter's per-instance `instructions_for` hook can), whose subject is then used."""
        subject = self.subject
        if subject == ALL:
            subject = instance.extra.get("subject", "") if instance is not None else ""
            if not subject:
                return self.instructions
        return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}."

    def instructions_for_instance(self, instance: Instance) -> str:
        return self.instructions_for(instance)

    def split(self, name: str) -> Sequence[Instance]:
        if self.subject == ALL:
            return super().split(name)
        sequences = []
        for file in self.data_files:
            relpath = f"{self.name}/{file}"
            path = data_root() / relpath
            group = load(relpath).get(name, [])
            cached = _by_subject.get((relpath, name))
            if cached is None or cached[0] is not group:
                index: dict[str, list[tuple[int, Row]]] = {}
                for number, row in group:
                    index.setdefault(str(as_dict(row, path, number).get("subject")), []).append((number, row))
                cached = _by_subject[(relpath, name)] = (group, index)
            rows = cached[1].get(self.subject, [])
            if rows:
                sequences.append(LazyInstances(rows, path, self.transform))  # type: ignore[arg-type]
        if len(sequences) == 1:
            return sequences[0]
        return [inst for seq in sequences for inst in seq]

    @property
    def filters_rows(self) -> bool:  # type: ignore[override]
        return self.subject != ALL

    def keep_row(self, row: dict[str, Any]) -> bool:
        return self.subject == ALL or row.get("subject") == self.subject
