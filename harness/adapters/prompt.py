"""Prompt construction: instructions, few-shot examples and the evaluated instance, joined by the AdapterSpec's
prefixes and separators. The text built here is exactly the text sent; nothing downstream rewrites it."""

from __future__ import annotations

import math
import random
import string
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.adapters.spec import MULTIPLE_CHOICE_JOINT, AdapterSpec
from harness.instance import Instance

LETTERS = string.ascii_uppercase


def estimate_tokens(text: str) -> int:
    """A conservative token count for fitting prompts without the model's tokenizer: UTF-8 bytes / 3. Real
    tokenizers average about 4 bytes per token on English, so this errs towards dropping a few-shot example early
    rather than sending a prompt that does not fit."""
    return math.ceil(len(text.encode("utf-8")) / 3)


def choice_block(instance: Instance) -> str:
    return "".join(f"{LETTERS[i]}. {ref.output}\n" for i, ref in enumerate(instance.references))


def gold_output(instance: Instance, spec: AdapterSpec) -> str:
    """The answer shown after a few-shot example: the letter for joint multiple choice, else the first correct
    reference."""
    if spec.method == MULTIPLE_CHOICE_JOINT:
        index = instance.correct_index
        return LETTERS[index] if index is not None else ""
    correct = instance.correct_references
    return correct[0].output if correct else ""


def instance_block(instance: Instance, spec: AdapterSpec) -> str:
    text = spec.input_prefix + instance.input + spec.input_suffix
    if spec.method == MULTIPLE_CHOICE_JOINT:
        text += choice_block(instance)
    return text


def example_text(instance: Instance, spec: AdapterSpec) -> str:
    return instance_block(instance, spec) + spec.output_prefix + gold_output(instance, spec) + spec.output_suffix


def query_text(instance: Instance, spec: AdapterSpec) -> str:
    # The prompt ends at the output prefix without its trailing whitespace ("Answer:"), so the model's first token
    # carries the space (" A"), as in the few-shot examples; a trailing space would be an unnatural token boundary.
    return instance_block(instance, spec) + spec.output_prefix.rstrip()


@dataclass(frozen=True)
class Prompt:
    text: str
    instructions: str
    examples: tuple[str, ...]  # the few-shot example texts actually included
    query: str
    fewshot_dropped: int  # examples removed to fit the context window


def assemble(instructions: str, examples: Sequence[str], query: str, spec: AdapterSpec) -> str:
    head = instructions + "\n\n" if instructions else ""
    return head + "".join(e + spec.instance_separator for e in examples) + query


def fit_prompt(
    instructions: str,
    examples: Sequence[str],
    query: str,
    spec: AdapterSpec,
    context_length: int,
    count_tokens: Callable[[str], int] = estimate_tokens,
) -> Prompt:
    """Drop few-shot examples from the end until prompt + max_tokens fits the context. If even the zero-shot prompt
    does not fit it is sent as is and the server's refusal is recorded: the instance is never cut silently."""
    kept = list(examples)
    while True:
        text = assemble(instructions, kept, query, spec)
        if not kept or count_tokens(text) + spec.max_tokens <= context_length:
            return Prompt(text, instructions, tuple(kept), query, len(examples) - len(kept))
        kept.pop()


class FewShotPool:
    """Draws few-shot examples deterministically: one seeded sample per group (e.g. MMLU subject), shared by every
    evaluated instance of that group, like HELM. Instances of the evaluated split are never used."""

    def __init__(self, candidates: Sequence[Instance], spec: AdapterSpec, group_of: Callable[[Instance], str]) -> None:
        self.spec = spec
        self.group_of = group_of
        self.by_group: dict[str, list[Instance]] = defaultdict(list)
        for inst in candidates:
            if inst.split == spec.fewshot_split:
                self.by_group[group_of(inst)].append(inst)
        self._cache: dict[str, tuple[str, ...]] = {}

    def examples_for(self, instance: Instance) -> tuple[str, ...]:
        if self.spec.max_train_instances <= 0:
            return ()
        group = self.group_of(instance)
        if group not in self._cache:
            pool = self.by_group.get(group) or [i for g in sorted(self.by_group) for i in self.by_group[g]]
            rng = random.Random(f"{self.spec.seed}:{group}")
            chosen = rng.sample(pool, min(self.spec.max_train_instances, len(pool)))
            self._cache[group] = tuple(example_text(inst, self.spec) for inst in chosen)
        return self._cache[group]
