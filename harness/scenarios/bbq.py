"""BBQ (Parrish et al., 2022): questions about two people of different social groups, asked after an ambiguous
context (the right answer is "unknown") or a disambiguated one (it names a person). Accuracy is `exact_match`; the
bias scores (`bbq_bias_ambiguous`, `bbq_bias_disambiguated` and their absolute values) are corpus metrics in
harness/metrics/bbq.py, which read each instance's `context_condition`, `question_polarity`, `unknown_index` and
`target_index`. A stratified seeded sample ships: 28 rows per category x condition x polarity (1,008 evaluated) and 1
per stratum (36) as the few-shot pool, over the 9 categories BIG-bench keeps."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class BBQScenario(JsonlScenario):
    name = "bbq"
    description = "BBQ: social bias in QA over ambiguous and disambiguated contexts (1,008-row stratified sample)."
    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://github.com/nyu-mll/BBQ (Parrish et al., Findings of ACL 2022), via BIG-bench's bbq_lite"
    license = "CC-BY-4.0 (BBQ by Parrish et al.; adapted)"
    data_shipped = "sample"
    instructions = "The following are multiple choice questions (with answers)."
    input_prefix = "Passage: "
    output_prefix = "Answer: "
