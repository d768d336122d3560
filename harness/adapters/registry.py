"""The adapter class of each AdapterSpec method, and the one way to make an adapter. A new method is a new module
with an Adapter subclass (see base.py), listed here and in spec.METHODS."""

from __future__ import annotations

from typing import Any

from harness.adapters.base import Adapter
from harness.adapters.generation import GenerationAdapter
from harness.adapters.language_modeling import LanguageModelingAdapter
from harness.adapters.multi_turn_chat import MultiTurnChatAdapter
from harness.adapters.multiple_choice_joint import MultipleChoiceJointAdapter
from harness.adapters.multiple_choice_separate import MultipleChoiceSeparateAdapter
from harness.adapters.spec import AdapterSpec
from harness.errors import HarnessError

ADAPTERS: dict[str, type[Adapter]] = {
    cls.method: cls for cls in (GenerationAdapter, MultipleChoiceJointAdapter, MultipleChoiceSeparateAdapter,
                                MultiTurnChatAdapter, LanguageModelingAdapter)
}


def make_adapter(spec: AdapterSpec, **options: Any) -> Adapter:
    """The adapter for spec.method, made with `options` (Adapter's keyword arguments: chat, context_length,
    count_tokens, instructions_for, group_of); a HarnessError (field "method") where there is none, or where the
    method cannot work over a chat API and chat is asked for."""
    cls = ADAPTERS.get(spec.method)
    if cls is None:
        raise HarnessError(f"unknown adapter method {spec.method!r}; one of: {', '.join(ADAPTERS)}", field="method")
    return cls(spec, **options)
