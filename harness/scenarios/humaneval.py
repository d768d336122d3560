"""HumanEval (Chen et al., 2021): 164 Python problems, each a function signature with a docstring that the model
completes; a completion is correct when the problem's unit tests pass, run in the sandbox (harness/sandbox.py).

The prompt is the problem's text exactly: no prefix, suffix or instructions, since the completion continues the
function. Each instance keeps the canonical solution as its reference (for display) and the tests in
`extra["test"]` and `extra["entry_point"]`, which the `code_pass` metric (pass@1/5/10) runs.
"""

from __future__ import annotations


from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario

# The stop sequences of the Codex paper: a new top-level statement ends the function being written.
STOP_SEQUENCES = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\n#")


@register_scenario
class HumanEvalScenario(JsonlScenario):
    name = "humaneval"
    description = "HumanEval: complete 164 Python functions from their docstrings; scored by running unit tests."
    main_metric = "pass@1"
    default_method = "generation"
    source = "https://github.com/openai/human-eval (Chen et al., arXiv:2107.03374)"
    license = "MIT"
    data_shipped = "full"
    instructions = ""
    input_prefix = ""
    input_suffix = ""
    output_prefix = ""
    data_files = ("test.jsonl.gz",)
    # Decoding defaults a suite entry may override (`max_tokens:`, `stop:`): the longest canonical solution is 864
    # characters (about 250 tokens), so 512 leaves room for a verbose but correct body.
    adapter_defaults = {"max_tokens": 512, "stop": list(STOP_SEQUENCES)}
