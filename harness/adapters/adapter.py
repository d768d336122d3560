"""Adapter: turns a run's instances into Requests and the Results back into Predictions, per adapter method."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from harness.adapters.prompt import LETTERS, FewShotPool, estimate_tokens, fit_prompt, query_text
from harness.adapters.spec import GENERATION, MULTIPLE_CHOICE_JOINT, MULTIPLE_CHOICE_SEPARATE, AdapterSpec
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.instance import Instance


@dataclass(frozen=True)
class AdaptedInstance:
    instance: Instance
    requests: tuple[Request, ...]
    prompt: str  # what was sent, for display: the prompt text, or chat messages as "role: content" blocks
    fewshot_dropped: int = 0


@dataclass
class Prediction:
    """What the metrics score for one instance."""

    text: str | None  # the chosen choice's text or the completion; None when a request failed
    choice_index: int | None = None
    completions: list[str] = field(default_factory=list)
    choice_logprobs: list[float] | None = None  # multiple_choice_separate: one score per choice
    error: str | None = None
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def render_messages(messages: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(f"[{role}]\n{content}" for role, content in messages)


class Adapter:
    def __init__(
        self,
        spec: AdapterSpec,
        *,
        chat: bool = False,
        context_length: int = 4096,
        count_tokens: Callable[[str], int] = estimate_tokens,
        instructions_for: Callable[[Instance], str] = lambda _: "",
        group_of: Callable[[Instance], str] = lambda inst: inst.extra.get("subject", ""),
    ) -> None:
        self.spec = spec
        self.chat = chat
        self.context_length = context_length
        self.count_tokens = count_tokens
        self.instructions_for = instructions_for
        self.group_of = group_of
        if chat and spec.method == MULTIPLE_CHOICE_SEPARATE:
            raise HarnessError(
                "multiple_choice_separate needs prompt log-probabilities, which a chat API does not give; "
                "use multiple_choice_joint or a completions deployment",
                field="method",
            )

    def adapt(self, evaluated: Sequence[Instance], candidates: Sequence[Instance]) -> list[AdaptedInstance]:
        pool = self.fewshot_pool(candidates)
        return [self.adapt_one(inst, pool) for inst in evaluated]

    def fewshot_pool(self, candidates: Sequence[Instance]) -> FewShotPool:
        """Where each instance's few-shot examples come from. Instances adapted one by one with the same pool get
        what adapt() gives them all at once."""
        return FewShotPool(candidates, self.spec, self.group_of)

    def adapt_one(self, inst: Instance, pool: FewShotPool) -> AdaptedInstance:
        spec = self.spec
        instructions = spec.instructions or self.instructions_for(inst)
        examples = pool.examples_for(inst)
        query = query_text(inst, spec)
        prompt = fit_prompt(instructions, examples, query, spec, self.context_length, self.count_tokens)
        if self.chat:
            messages = self._messages(prompt.instructions, prompt.examples, query)
            request = Request(
                kind="generate", messages=messages, max_tokens=spec.max_tokens, temperature=spec.temperature,
                stop=spec.stop_sequences, n=spec.num_outputs, seed=spec.seed, num_choices=self._num_choices(inst),
            )
            return AdaptedInstance(inst, (request,), render_messages(messages), prompt.fewshot_dropped)
        if spec.method == MULTIPLE_CHOICE_SEPARATE:
            # The continuation carries the separator the output prefix ends with ("Answer: " -> " Paris"); with
            # no output prefix the choice continues the input after one space (HellaSwag's endings).
            sep = spec.output_prefix[len(spec.output_prefix.rstrip()):] or " "
            requests = tuple(
                Request(kind="logprob", prompt=prompt.text, continuation=sep + ref.output, max_tokens=0)
                for ref in inst.references
            )
            return AdaptedInstance(inst, requests, prompt.text, prompt.fewshot_dropped)
        request = Request(
            kind="generate", prompt=prompt.text, max_tokens=spec.max_tokens, temperature=spec.temperature,
            stop=spec.stop_sequences, n=spec.num_outputs, seed=spec.seed, num_choices=self._num_choices(inst),
        )
        return AdaptedInstance(inst, (request,), prompt.text, prompt.fewshot_dropped)

    def request_count(self, instances: Sequence[Instance]) -> int:
        """How many requests adapt_one makes for these instances, counted without building their prompts."""
        if self.spec.method == MULTIPLE_CHOICE_SEPARATE and not self.chat:
            return sum(len(inst.references) for inst in instances)
        return len(instances)

    def _num_choices(self, inst: Instance) -> int:
        return len(inst.references) if self.spec.method == MULTIPLE_CHOICE_JOINT else 0

    def _messages(self, instructions: str, examples: Sequence[str], query: str) -> tuple[tuple[str, str], ...]:
        """The documented chat format: instructions as the system message, each few-shot example as a user turn
        (its input) and an assistant turn (its answer), then the instance as the last user turn."""
        messages: list[tuple[str, str]] = []
        if instructions:
            messages.append(("system", instructions))
        prefix = self.spec.output_prefix.rstrip()
        for example in examples:
            body = example[: len(example) - len(self.spec.output_suffix)] if self.spec.output_suffix else example
            cut = body.rfind(prefix) if prefix else -1
            if cut >= 0:
                messages += [("user", body[: cut + len(prefix)]), ("assistant", body[cut + len(prefix):].strip())]
            else:
                messages.append(("user", body))
        messages.append(("user", query))
        return tuple(messages)

    def predict(self, adapted: AdaptedInstance, results: Sequence[Result]) -> Prediction:
        failed = [r for r in results if not r.ok]
        pred = Prediction(
            text=None,
            latency_s=sum(r.latency_s for r in results),
            prompt_tokens=sum(r.prompt_tokens or 0 for r in results),
            completion_tokens=sum(r.completion_tokens or 0 for r in results),
        )
        if failed:
            pred.error = failed[0].error or "request failed"
            return pred
        refs = adapted.instance.references
        if self.spec.method == MULTIPLE_CHOICE_SEPARATE:
            scores = [
                (r.logprob or 0.0) / max(r.continuation_tokens or 1, 1) if self.spec.choice_score == "mean"
                else (r.logprob or 0.0)
                for r in results
            ]
            best = max(range(len(scores)), key=scores.__getitem__)
            pred.choice_logprobs = scores
            pred.choice_index, pred.text = best, refs[best].output
            pred.completions = [f"{LETTERS[i]}. {refs[i].output}  (score {s:.3f})" for i, s in enumerate(scores)]
            return pred
        pred.completions = list(results[0].texts)
        first = pred.completions[0] if pred.completions else ""
        if self.spec.method == MULTIPLE_CHOICE_JOINT:
            index = parse_letter(first, len(refs))
            pred.choice_index = index
            pred.text = refs[index].output if index is not None else first.strip()
        else:
            pred.text = first
        return pred


_LETTER = re.compile(r"^\s*\(?([A-Z])(?:[).:,\s]|$)")


def parse_letter(text: str, n_choices: int) -> int | None:
    """Map a reply to a choice: its first non-space character must be one of the offered letters (optionally in
    parentheses or followed by punctuation). Anything else counts as no valid choice."""
    match = _LETTER.match(text)
    if not match:
        return None
    index = LETTERS.index(match.group(1))
    return index if index < n_choices else None


__all__ = ["Adapter", "AdaptedInstance", "Prediction", "parse_letter", "GENERATION"]
