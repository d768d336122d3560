"""Prompt construction shared by every adapter method: instructions, few-shot examples and the evaluated instance,
joined by the AdapterSpec's separators, with few-shot examples dropped to fit the context. How one instance reads (as
an example or as the query) is the adapter's own (harness/adapters/base.py and one module per method). The text
built here is exactly the text sent; nothing downstream rewrites it."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.adapters.spec import AdapterSpec
from harness.instance import Instance
from harness.tokens import estimate_tokens


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

    def __init__(self, candidates: Sequence[Instance], spec: AdapterSpec, group_of: Callable[[Instance], str],
                 example_text: Callable[[Instance], str]) -> None:
        self.spec = spec
        self.group_of = group_of
        self.example_text = example_text  # how a drawn instance reads as a solved example
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
            self._cache[group] = tuple(self.example_text(inst) for inst in chosen)
        return self._cache[group]
