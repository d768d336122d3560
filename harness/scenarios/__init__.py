"""Built-in scenarios, registered by name. A scenario's module is imported when the scenario is first asked for:
importing all of them (and the download code's tarfile, zipfile and csv) would slow every run's start."""

from __future__ import annotations

import importlib

# Every built-in scenario's name -> its module here (tests/test_scenarios.py checks this against what the modules
# register).
BUILT_IN: dict[str, str] = {
    "arc_challenge": "arc", "arc_easy": "arc", "bbq": "bbq", "boolq": "boolq", "gsm8k": "gsm8k",
    "hellaswag": "hellaswag", "humaneval": "humaneval", "ifeval": "ifeval", "med_qa": "med_qa", "mmlu": "mmlu",
    "natural_qa": "natural_qa", "openbookqa": "openbookqa", "truthfulqa": "truthfulqa",
    "simple_safety_tests": "safety", "xstest": "safety",
    "mt_bench": "mt_bench", "package_readmes": "package_readmes",
    # download-only
    "legalbench": "legalbench", "math": "math_dataset", "narrativeqa": "narrativeqa", "cnn_dailymail": "summarization",
    "xsum": "summarization", "wmt14": "wmt14",
}


def import_built_in(name: str | None = None) -> None:
    """Import the module of the built-in scenario `name`, or of every one (importing a module registers it)."""
    for module in sorted({BUILT_IN[name]} if name is not None else set(BUILT_IN.values())):
        importlib.import_module(f"harness.scenarios.{module}")
