"""Perturbed copies beside their originals on a run page.

A run with perturbations stores its originals first, then every copy of the first perturbation, then the next
(harness.runner.perturbed_copies: a copy's id is "<original id>~<perturbation>"). The page shows each original
followed by its own copies, so the two can be read together.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from harness.report import InstanceView, RunInfo


def has_perturbations(run: RunInfo) -> bool:
    """A run with perturbations reports worst-case columns (`exact_match@robustness`, ...)."""
    return any("@" in metric for metric in run.scores)


def interleave(instances: Iterable[InstanceView]) -> Iterator[InstanceView]:
    """Each original, then its copies in the order stored; copies whose original is missing go last.

    The copies of an original are spread over the whole run, so the run is held in memory here: only for runs with
    perturbations (see has_perturbations), whose size the perturbations multiply anyway."""
    originals: list[InstanceView] = []
    copies: dict[str, list[InstanceView]] = {}
    for inst in instances:
        base, sep, _ = inst.instance_id.partition("~")
        if sep:
            copies.setdefault(base, []).append(inst)
        else:
            originals.append(inst)
    for inst in originals:
        yield inst
        yield from copies.pop(inst.instance_id, ())
    for rest in copies.values():
        yield from rest
