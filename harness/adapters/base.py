"""What every adapter method shares: the adapted instance and the prediction it gives, the prompt's frame
(instructions, few-shot examples fitted to the context, the query), its chat form, and failed requests.

One module per method (generation.py, multiple_choice_joint.py, multiple_choice_separate.py) says how an instance
reads as an example and as the query, which requests it makes and how their answers become a Prediction; registry.py
maps the AdapterSpec's method to its class. The prompt, as sent to a completions API (prompt.py: assemble,
fit_prompt):

    {instructions}                     <- this line and the blank line after it only when there are instructions
    <blank line>
    {example}{instance_separator}      <- one per few-shot example, at most spec.max_train_instances
    {query}

where, by default (a method may show an instance otherwise: instance_block, gold_output),

    {example} = {input_prefix}{input}{input_suffix}{output_prefix}{first correct reference}{output_suffix}
    {query}   = {input_prefix}{input}{input_suffix}{output_prefix.rstrip()}

The instructions are the spec's, or where it has none the scenario's for this instance. The examples are drawn per
group (FewShotPool: e.g. the MMLU subject; from every group where the instance's has none) from spec.fewshot_split,
and dropped from the end until the prompt's token count plus max_tokens fits the context (fewshot_dropped says how
many); the query is never cut, and sent as is where even it does not fit.

The chat form of the same prompt, where the deployment's API is chat (messages):

    system:    {instructions}                                     <- only when there are instructions
    user:      {example without its output_suffix, up to and including the last output_prefix.rstrip()}
    assistant: {the rest of that example, stripped}               <- a user/assistant pair per example
    user:      {query}

An example with no output prefix to cut at is one user turn. The messages are stored for display as
"[role]\\ncontent" blocks separated by blank lines (render_messages). Which examples fit is decided on the
completions text, so both forms drop the same ones.
"""

from __future__ import annotations

import string
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.adapters.prompt import FewShotPool, Prompt, fit_prompt
from harness.adapters.spec import AdapterSpec
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.instance import Instance
from harness.tokens import estimate_tokens

LETTERS = string.ascii_uppercase  # the labels of multiple-choice options, in order


@dataclass(frozen=True)
class AdaptedInstance:
    instance: Instance
    requests: tuple[Request, ...]
    prompt: str  # what was sent, for display: the prompt text, or the chat messages (render_messages)
    fewshot_dropped: int = 0


@dataclass
class Prediction:
    """What the metrics score for one instance."""

    text: str | None  # the chosen choice's text or the completion; None when a request failed
    choice_index: int | None = None
    completions: list[str] = field(default_factory=list)
    choice_logprobs: list[float] | None = None  # multiple_choice_separate: one score per choice
    logprob: float | None = None  # language_modeling: the document's summed token log-probability (nats)
    logprob_tokens: int | None = None  # language_modeling: how many tokens that sum is over
    votes: dict[str, Any] | None = None  # a voting protocol's samples and winner (harness.protocols)
    requests: int = 0  # how many requests the prediction was made from
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def render_messages(messages: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"[{role}]\n{content}" for role, content in messages)


def subject_of(inst: Instance) -> str:
    return inst.extra.get("subject", "")


class Adapter:
    """The base of every adapter method; a method's class says how an instance reads (instance_block, gold_output),
    which requests a prompt makes (requests) and what their answers mean (read_answers)."""

    method: str = ""  # the AdapterSpec method a subclass implements
    chat_refusal: str | None = None  # why the method cannot work over a chat API, where it cannot

    def __init__(
        self,
        spec: AdapterSpec,
        *,
        chat: bool = False,
        context_length: int = 4096,
        count_tokens: Callable[[str], int] = estimate_tokens,
        instructions_for: Callable[[Instance], str] = lambda _: "",
        group_of: Callable[[Instance], str] = subject_of,
    ) -> None:
        self.spec = spec
        self.chat = chat
        self.context_length = context_length
        self.count_tokens = count_tokens
        self.instructions_for = instructions_for
        self.group_of = group_of
        if chat and self.chat_refusal:
            raise HarnessError(self.chat_refusal, field="method")

    # How an instance reads.

    def instance_block(self, inst: Instance) -> str:
        """The instance as shown, both as an example and as the query."""
        return self.spec.input_prefix + inst.input + self.spec.input_suffix

    def gold_output(self, inst: Instance) -> str:
        """The answer shown after a few-shot example: the first correct reference."""
        correct = inst.correct_references
        return correct[0].output if correct else ""

    def example_text(self, inst: Instance) -> str:
        spec = self.spec
        return self.instance_block(inst) + spec.output_prefix + self.gold_output(inst) + spec.output_suffix

    def query_text(self, inst: Instance) -> str:
        # The prompt ends at the output prefix without its trailing whitespace ("Answer:"), so the model's first
        # token carries the space (" A"), as in the few-shot examples; a trailing space would be an unnatural token
        # boundary.
        return self.instance_block(inst) + self.spec.output_prefix.rstrip()

    # From instances to requests.

    def fewshot_pool(self, candidates: Sequence[Instance]) -> FewShotPool:
        """Where each instance's few-shot examples come from: one pool per run, shared by its instances."""
        return FewShotPool(candidates, self.spec, self.group_of, self.example_text)

    def adapt_one(self, inst: Instance, pool: FewShotPool) -> AdaptedInstance:
        spec = self.spec
        instructions = spec.instructions or self.instructions_for(inst)
        query = self.query_text(inst)
        prompt = fit_prompt(instructions, pool.examples_for(inst), query, spec, self.context_length, self.count_tokens)
        if self.chat:
            messages = self.messages(prompt)
            request = self.generate_request(inst, messages=messages)
            return AdaptedInstance(inst, (request,), render_messages(messages), prompt.fewshot_dropped)
        return AdaptedInstance(inst, self.requests(inst, prompt), prompt.text, prompt.fewshot_dropped)

    def request_count(self, instances: Sequence[Instance]) -> int:
        """How many requests adapt_one makes for these instances, counted without building their prompts (the
        suite's progress total)."""
        return len(instances)

    def requests(self, inst: Instance, prompt: Prompt) -> tuple[Request, ...]:
        """The requests for a completions API; by default one completion of the prompt."""
        return (self.generate_request(inst, prompt=prompt.text),)

    def generate_request(self, inst: Instance, *, prompt: str = "", messages: tuple[tuple[str, str], ...] = ()
                         ) -> Request:
        spec = self.spec
        return Request(
            kind="generate", prompt=prompt, messages=messages, max_tokens=spec.max_tokens,
            temperature=spec.temperature, stop=spec.stop_sequences, n=spec.num_outputs, seed=spec.seed,
            num_choices=self.num_choices(inst),
        )

    def num_choices(self, inst: Instance) -> int:
        """How many lettered options the prompt offers (Request.num_choices): none unless the method letters them."""
        return 0

    def messages(self, prompt: Prompt) -> tuple[tuple[str, str], ...]:
        """The chat form drawn in the module docstring."""
        messages: list[tuple[str, str]] = []
        if prompt.instructions:
            messages.append(("system", prompt.instructions))
        prefix, suffix = self.spec.output_prefix.rstrip(), self.spec.output_suffix
        for example in prompt.examples:
            body = example[: len(example) - len(suffix)] if suffix else example
            cut = body.rfind(prefix) if prefix else -1
            if cut >= 0:
                messages += [("user", body[: cut + len(prefix)]), ("assistant", body[cut + len(prefix):].strip())]
            else:
                messages.append(("user", body))
        messages.append(("user", prompt.query))
        return tuple(messages)

    # From answers to a prediction.

    def predict(self, adapted: AdaptedInstance, results: Sequence[Result]) -> Prediction:
        """The instance's prediction; where any of its requests failed, no answer (text None) and the first error."""
        pred = Prediction(
            text=None,
            requests=len(results),
            latency_s=sum(r.latency_s for r in results),
            prompt_tokens=sum(r.prompt_tokens or 0 for r in results),
            completion_tokens=sum(r.completion_tokens or 0 for r in results),
        )
        failed = [r for r in results if not r.ok]
        if failed:
            pred.error = failed[0].error or "request failed"
            return pred
        self.read_answers(pred, adapted.instance, results)
        return pred

    def read_answers(self, pred: Prediction, inst: Instance, results: Sequence[Result]) -> None:
        """Fill in what the (all successful) answers say: text, choice_index, completions, choice_logprobs."""
        raise NotImplementedError
