"""IFEval (Zhou et al., 2023): 541 prompts with verifiable instructions ("answer in fewer than 50 words", "wrap the
response in JSON"), judged by rule-based checkers (harness/metrics/ifeval), not against references.

Each instance keeps its instructions in `extra["instruction_id_list"]` and `extra["kwargs"]` (JSON lists). Prompts
are sent as they are: no instructions, prefixes or few-shot examples (there is no train split).
"""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class IFEvalScenario(JsonlScenario):
    name = "ifeval"
    description = "IFEval: 541 prompts with verifiable instructions, checked by rules (whole set)."
    main_metric = "ifeval_prompt_strict"
    default_method = "generation"
    source = ("https://github.com/google-research/google-research/tree/master/instruction_following_eval "
              "(Zhou et al., arXiv:2311.07911)")
    license = "Apache-2.0"
    data_shipped = "full"
    data_files = ("test.jsonl.gz",)
    instructions = ""
    input_prefix = ""
    input_suffix = ""
    output_prefix = ""
