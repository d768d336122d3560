"""The adapter class of each AdapterSpec method, and the one way to make an adapter. A new method is a new module
with an Adapter subclass (see base.py), listed here and in spec.METHODS."""

from __future__ import annotations

from collections.abc import Callable

from harness.adapters.base import Adapter, subject_of
from harness.adapters.generation import GenerationAdapter
from harness.adapters.language_modeling import LanguageModelingAdapter
from harness.adapters.multi_turn_chat import MultiTurnChatAdapter
from harness.adapters.multiple_choice_joint import MultipleChoiceJointAdapter
from harness.adapters.multiple_choice_separate import MultipleChoiceSeparateAdapter
from harness.adapters.spec import AdapterSpec
from harness.errors import HarnessError
from harness.instance import Instance
from harness.tokens import estimate_tokens

ADAPTERS: dict[str, type[Adapter]] = {
    cls.method: cls for cls in (GenerationAdapter, MultipleChoiceJointAdapter, MultipleChoiceSeparateAdapter,
                                MultiTurnChatAdapter, LanguageModelingAdapter)
}


def make_adapter(
    spec: AdapterSpec,
    *,
    chat: bool = False,
    context_length: int = 4096,
    count_tokens: Callable[[str], int] = estimate_tokens,
    instructions_for: Callable[[Instance], str] = lambda _: "",
    group_of: Callable[[Instance], str] = subject_of,
) -> Adapter:
    """The adapter for spec.method; a HarnessError (field "method") where there is none, or where the method cannot
    work over a chat API and chat is asked for."""
    cls = ADAPTERS.get(spec.method)
    if cls is None:
        raise HarnessError(f"unknown adapter method {spec.method!r}; one of: {', '.join(ADAPTERS)}", field="method")
    return cls(spec, chat=chat, context_length=context_length, count_tokens=count_tokens,
               instructions_for=instructions_for, group_of=group_of)
