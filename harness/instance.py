"""Instance and Reference: the unit of evaluation (HELM's vocabulary)."""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from dataclasses import dataclass, field
from typing import overload

CORRECT = "correct"

TRAIN = "train"
VALID = "valid"
TEST = "test"
SPLITS = (TRAIN, VALID, TEST)


@dataclass(frozen=True)
class Reference:
    """A possible output. For multiple choice the references are the choices; the gold ones are tagged correct.
    For generation they are the acceptable answers, all tagged correct."""

    output: str
    tags: tuple[str, ...] = ()

    @property
    def is_correct(self) -> bool:
        return CORRECT in self.tags


@dataclass(frozen=True)
class Instance:
    """One evaluation item: an input, its references, the split it belongs to and a stable id."""

    id: str
    input: str
    references: tuple[Reference, ...]
    split: str = TEST
    # Free-form, scenario-specific fields kept for display and for metrics that need them (e.g. a GSM8K rationale).
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def correct_references(self) -> tuple[Reference, ...]:
        return tuple(r for r in self.references if r.is_correct)

    @property
    def correct_index(self) -> int | None:
        """Index of the first correct reference (the gold choice for multiple choice)."""
        for i, ref in enumerate(self.references):
            if ref.is_correct:
                return i
        return None


_GOLD = (CORRECT,)  # one shared tags tuple: loading 14k MMLU rows builds ~70k References


def choice_references(choices: Sequence[str], gold: int) -> tuple[Reference, ...]:
    """A multiple-choice item's references: every choice, the gold one tagged correct."""
    return tuple([Reference(c, _GOLD if i == gold else ()) for i, c in enumerate(choices)])


def answer_references(answers: Sequence[str]) -> tuple[Reference, ...]:
    """A generation item's references: every acceptable answer, all tagged correct."""
    return tuple([Reference(a, _GOLD) for a in answers])


def extra_fields(row: dict[str, object], mapped: Container[str]) -> dict[str, str]:
    """A data row's fields that are not mapped onto the Instance, kept with it as text (JSON for the rest)."""
    return {k: v if isinstance(v, str) else json.dumps(v, ensure_ascii=False) for k, v in row.items()
            if k not in mapped}


class LazySequence(Sequence[Instance]):
    """Instances made when first asked for (by `_get`), so a run that uses 1,000 of a file's 14k rows builds 1,000;
    a slice is a list."""

    def __len__(self) -> int:
        raise NotImplementedError

    def _get(self, index: int) -> Instance:
        raise NotImplementedError

    @overload
    def __getitem__(self, index: int) -> Instance: ...
    @overload
    def __getitem__(self, index: slice) -> list[Instance]: ...
    def __getitem__(self, index: int | slice) -> Instance | list[Instance]:
        if isinstance(index, slice):
            return [self._get(i) for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return self._get(index)
