"""GSM8K (Cobbe et al., 2021): grade-school math word problems answered by free generation.

The whole test set ships; each test instance has one reference, the final number (thousands separators removed),
and its upstream worked solution in `extra["rationale"]`. The source package lacks the train split, so the few-shot
pool (`train`) is the 8 standard chain-of-thought exemplars of Wei et al. (2022).

Few-shot examples must show reasoning, and the adapter shows an example's *first* correct reference. So a train
instance's references are (worked answer ending "So the answer is N.", "N"): the prompt teaches the model to reason
and then state "So the answer is N.", which the answer_number_match metric reads. Test references stay [N].
"""

from __future__ import annotations

from dataclasses import replace

from harness.instance import CORRECT, TRAIN, Instance, Reference
from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class GSM8KScenario(JsonlScenario):
    name = "gsm8k"
    description = "GSM8K: grade-school math word problems, chain-of-thought generation (whole test set)."
    main_metric = "answer_number_match"
    default_method = "generation"
    source = "https://github.com/openai/grade-school-math (Cobbe et al., arXiv:2110.14168)"
    license = "MIT"
    data_shipped = "full"
    instructions = ""
    input_prefix = "Question: "
    output_prefix = "Answer: "

    def transform(self, instance: Instance) -> Instance:
        rationale = instance.extra.get("rationale")
        if instance.split != TRAIN or not rationale:
            return instance
        return replace(instance, references=(Reference(rationale, (CORRECT,)), *instance.references))
