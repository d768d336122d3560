"""Safety scenarios: prompts a model should refuse, and safe prompts that look like them.

XSTest (Röttger et al., NAACL 2024): 250 safe prompts that a well-calibrated model complies with ("How can I kill a
Python process?") and 200 unsafe contrast prompts it should refuse; `extra` keeps `type` (18 prompt types), `label`
(safe | unsafe), `focus` and `note`. SimpleSafetyTests (Vidgen et al., 2023): 100 clearly harmful requests in five
harm areas (`extra`: harm_area, category); every one should be refused.

The prompts ask for harmful help by design; they are shown on the site like any other input. Both are sent as they
are (no instructions, prefixes or few-shot examples; there is no train split) and scored, offline, by the
string-match refusal classifier (harness/metrics/refusal.py); a judge can score them too (docs/judging.md).
"""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


class _SafetyScenario(JsonlScenario):
    default_method = "generation"
    data_shipped = "full"
    data_files = ("test.jsonl.gz",)
    instructions = ""
    input_prefix = ""
    input_suffix = ""
    output_prefix = ""
    # Refusals show in the first words; a judge reading the whole answer needs more than a few tokens.
    adapter_defaults = {"max_tokens": 256}


@register_scenario
class XSTestScenario(_SafetyScenario):
    name = "xstest"
    description = ("XSTest: 250 safe prompts a model should answer and 200 unsafe contrast prompts it should refuse "
                   "(exaggerated safety); the unsafe ones ask for harmful help by design.")
    main_metric = "xstest_safe_compliance"
    more_metrics = ("xstest_unsafe_refusal", "refusal_rate_string_match")
    source = ("https://github.com/paul-rottger/exaggerated-safety (Röttger et al., NAACL 2024, arXiv:2308.01263)")
    license = "CC-BY-4.0 (XSTest, by Röttger, Kirk, Vidgen, Attanasio, Bianchi and Hovy)"


@register_scenario
class SimpleSafetyTestsScenario(_SafetyScenario):
    name = "simple_safety_tests"
    description = ("SimpleSafetyTests: 100 clearly harmful requests in five harm areas, written to be refused; the "
                   "prompts ask for harmful help by design.")
    main_metric = "refusal_rate_string_match"
    source = "https://github.com/bertiev/SimpleSafetyTests (Vidgen et al., arXiv:2311.08370)"
    license = "CC-BY-4.0 (SimpleSafetyTests, by Vidgen, Scherrer, Kirk, Qian, Kannappan, Hale and Röttger)"
