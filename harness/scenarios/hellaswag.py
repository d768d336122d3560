"""HellaSwag (Zellers et al., ACL 2019): pick the most plausible continuation of a short context. Ships a seeded
sample of 1,000 validation rows (split `test`) and 200 other validation rows as the few-shot pool (split `train`);
text cleaned as lm-evaluation-harness does. The full validation set is registered in `harness.scenarios.download`."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class HellaSwagScenario(JsonlScenario):
    name = "hellaswag"
    description = "HellaSwag: commonsense sentence completion, 4 endings (1,000-row seeded validation sample)."
    main_metric = "exact_match"
    # Scored per ending by log-probability, as in the paper and lm-eval: the endings are continuations of the
    # context, not options a reader picks by letter.
    default_method = "multiple_choice_separate"
    source = "https://rowanzellers.com/hellaswag/ (Zellers et al., ACL 2019)"
    license = "MIT"
    data_shipped = "sample"
    instructions = ""
    input_prefix = ""
    # The endings continue the context directly: no newline between them ("...the man" + " starts to ...").
    input_suffix = ""
    output_prefix = ""
