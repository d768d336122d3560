"""OpenBookQA (Mihaylov et al., 2018): elementary science questions that need a core fact plus common knowledge,
asked without the fact (HELM's `main` setting). Whole test set (500); the validation split (500) is the few-shot
pool."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class OpenBookQAScenario(JsonlScenario):
    name = "openbookqa"
    description = "OpenBookQA: elementary science with common sense, 4 options (whole test set; validation shots)."
    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://allenai.org/data/open-book-qa (Mihaylov et al., EMNLP 2018)"
    license = "Apache-2.0"
    data_shipped = "full"
    instructions = "The following are multiple choice questions (with answers) about common sense."
    input_prefix = "Question: "
    output_prefix = "Answer: "
