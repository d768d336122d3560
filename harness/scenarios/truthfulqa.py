"""TruthfulQA (Lin et al., 2022), HELM's multiple-choice form with one true answer: the best answer among the
question's incorrect answers, which imitate common human misconceptions. All 817 questions ship: 800 evaluated, 17
(seeded) as the few-shot pool. Choice order is shuffled per question (seeded), so the gold is not always first."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class TruthfulQAScenario(JsonlScenario):
    name = "truthfulqa"
    description = "TruthfulQA (MC, single true): pick the true answer among common misconceptions (800 + 17 shots)."
    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://github.com/sylinrl/TruthfulQA (Lin, Hilton and Evans, arXiv:2109.07958)"
    license = "Apache-2.0"
    data_shipped = "full"
    instructions = ""  # HELM gives none: the question has to stand on its own
    input_prefix = "Question: "
    output_prefix = "Answer: "
