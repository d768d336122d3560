"""NaturalQuestions, closed book (NQ-open: Lee et al., 2019, over Kwiatkowski et al., 2019): real Google search
questions answered from the model's own knowledge, scored against every acceptable short answer. HELM reports token
F1 (main) and quasi-exact match, and so does a suite entry that names no metrics. The 3,610
validation questions ship: 3,510 evaluated, 100 (seeded) as the few-shot pool."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class NaturalQAScenario(JsonlScenario):
    name = "natural_qa"
    description = "NaturalQuestions (open, closed book): short answers from memory; F1 and quasi-exact match."
    main_metric = "f1_bag"
    more_metrics = ("quasi_exact_match",)
    default_method = "generation"
    source = "https://github.com/google-research-datasets/natural-questions (NQ-open, Lee et al., arXiv:1906.00300)"
    license = "CC-BY-SA-3.0 (Natural Questions by Google; adapted, same license)"
    data_shipped = "full"
    instructions = ""
    input_prefix = "Question: "
    output_prefix = "Answer: "
