"""MT-Bench (Zheng et al., 2023): 80 two-turn questions, 10 in each of 8 categories (writing, roleplay, reasoning,
math, coding, extraction, stem, humanities), answered as a conversation (the second turn follows up on the model's
own first answer: the multi_turn_chat adapter) and graded by a judge (a suite entry's `judges:`), per turn and per
category.

Each instance's input is its first turn; `extra` holds `turns` (both user turns), `category`, and for the 30 math,
reasoning and coding questions `reference_answer` (GPT-4's answer to each turn, which a `reference` rubric shows the
judge). There are no references to match: `references` is empty.

`category` (default all) keeps one category's 10 questions.
"""

from __future__ import annotations

from typing import Any

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario

CATEGORIES = ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")


@register_scenario
class MTBenchScenario(JsonlScenario):
    name = "mt_bench"
    description = ("MT-Bench: 80 two-turn questions in 8 categories; the model's own first answer is in the second "
                   "turn's prompt; scored by a judge (whole set).")
    main_metric = "judge_score"
    default_method = "multi_turn_chat"
    source = ("https://github.com/lm-sys/FastChat/tree/main/fastchat/llm_judge (Zheng et al., arXiv:2306.05685)")
    license = "Apache-2.0"
    data_shipped = "full"
    data_files = ("test.jsonl.gz",)
    instructions = ""
    input_prefix = "User: "
    input_suffix = "\n"
    output_prefix = "Assistant: "
    args: dict[str, Any] = {"category": "all"}
    arg_values = {"category": CATEGORIES}
    adapter_defaults = {"max_tokens": 1024, "stop": ["\nUser:"]}
    filters_rows = True

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        category = self.kwargs["category"]
        if category != "all" and category not in CATEGORIES:
            from harness.errors import HarnessError

            raise HarnessError(f"unknown MT-Bench category {category!r} (one of: all, {', '.join(CATEGORIES)})",
                               field="args")

    def keep_row(self, row: Any) -> bool:
        return self.kwargs["category"] == "all" or row.get("category") == self.kwargs["category"]
