"""MedQA (Jin et al., 2021): USMLE-style medical licensing exam questions in English. The whole US test set ships
(1,250 evaluated, 23 seeded as the few-shot pool) in its 5-option form (A-E): HELM uses the 4-option variant, which
no installed source package holds and which cannot be derived from this one, so scores are not comparable with
HELM's MedQA numbers (chance is 20%, not 25%)."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class MedQAScenario(JsonlScenario):
    name = "med_qa"
    description = "MedQA: USMLE medical exam questions, 5 options (US test set; HELM uses a 4-option variant)."
    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://github.com/jind11/MedQA (Jin et al., arXiv:2009.13081)"
    license = "MIT"
    data_shipped = "full"
    instructions = "The following are multiple choice questions (with answers) about medicine."
    input_prefix = "Question: "
    output_prefix = "Answer: "
