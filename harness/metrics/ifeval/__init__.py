"""IFEval (Zhou et al. 2023, arXiv:2311.07911): verifiable instructions, judged by rule-based checkers.

Per instance, metric `ifeval` reports:
- `ifeval_strict_accuracy`, HELM's headline: the fraction of the prompt's instructions followed (strict), averaged
  over prompts; the response is stripped of surrounding whitespace first, as HELM does;
- the paper's prompt-level accuracy (1 when every instruction is followed), strict and loose;
- as auxiliary stats, the counts of instructions followed and given, from which the corpus metrics
  `ifeval_instruction_strict` and `ifeval_instruction_loose` give the paper's instruction-level accuracy,
  micro-averaged over all instructions (HELM's headline is the macro average over prompts instead).

Loose, as in the reference: an instruction is followed if any of 8 variants of the response follows it, namely the
response with its first line, last line, both or neither removed, each with and without its asterisks.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from harness.errors import HarnessError
from harness.metrics.registry import register_corpus_metric, register_metric

if TYPE_CHECKING:
    import numpy as np

    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

STATS = ("ifeval_strict_accuracy", "ifeval_prompt_strict", "ifeval_prompt_loose", "_ifeval_followed_strict",
         "_ifeval_followed_loose", "_ifeval_instructions")


def loose_variants(response: str) -> list[str]:
    """The 8 responses the loose check tries: first/last/both lines removed or not, asterisks removed or not."""
    lines = response.split("\n")
    trimmed = [response, "\n".join(lines[1:]).strip(), "\n".join(lines[:-1]).strip(), "\n".join(lines[1:-1]).strip()]
    return trimmed + [variant.replace("*", "") for variant in trimmed]


def follows(instruction_id: str, kwargs: dict[str, Any], response: str) -> bool:
    """Whether `response` follows one instruction. A blank response follows nothing."""
    # Imported here: every run registers this metric, and the checkers compile ~40 regexes (~10 ms).
    from harness.metrics.ifeval import checkers_format  # noqa: F401  (registers the format checkers)
    from harness.metrics.ifeval.checkers import CHECKERS

    if instruction_id not in CHECKERS:
        raise HarnessError(f"unknown IFEval instruction {instruction_id!r}", field="instruction_id_list")
    if not response.strip():
        return False
    try:
        return CHECKERS[instruction_id](response, kwargs)
    except KeyError as e:
        raise HarnessError(f"IFEval instruction {instruction_id!r} needs kwarg {e.args[0]!r}", field="kwargs") from None


def evaluate(instruction_ids: list[str], kwargs_list: list[dict[str, Any]],
             response: str) -> tuple[list[bool], list[bool]]:
    """(strict, loose): whether each instruction is followed."""
    if len(instruction_ids) != len(kwargs_list):
        raise HarnessError(f"{len(instruction_ids)} IFEval instructions but {len(kwargs_list)} kwargs", field="kwargs")
    variants = loose_variants(response)
    strict, loose = [], []
    for instruction_id, kwargs in zip(instruction_ids, kwargs_list):
        # The released data fills absent kwargs with null; a null means the kwarg is not given.
        given = {k: v for k, v in (kwargs or {}).items() if v is not None}
        strict.append(follows(instruction_id, given, response))
        loose.append(strict[-1] or any(follows(instruction_id, given, v) for v in variants[1:]))
    return strict, loose


def _instructions_of(instance: Instance) -> tuple[list[str], list[dict[str, Any]]] | None:
    if "instruction_id_list" not in instance.extra:
        return None
    try:
        ids = json.loads(instance.extra["instruction_id_list"])
        kwargs = json.loads(instance.extra.get("kwargs", "[]"))
    except ValueError as e:
        raise HarnessError(f"instance {instance.id}: IFEval fields are not JSON: {e}", field="kwargs") from None
    return ids, kwargs


@register_metric("ifeval", stats={"ifeval_strict_accuracy": False,
                                  "ifeval_prompt_strict": False, "ifeval_prompt_loose": False,
                                  "_ifeval_followed_strict": False, "_ifeval_followed_loose": False,
                                  "_ifeval_instructions": False})
def ifeval(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
    """IFEval: HELM's per-prompt fraction of instructions followed, the paper's prompt-level accuracy (all
    followed), strict and loose, and instruction counts."""
    instructions = _instructions_of(instance)
    if instructions is None:
        return dict.fromkeys(STATS, math.nan)
    text = pred.text or ""
    strict, loose = evaluate(*instructions, text)
    helm_strict = strict if text == text.strip() else evaluate(*instructions, text.strip())[0]
    return {"ifeval_strict_accuracy": sum(helm_strict) / len(helm_strict) if helm_strict else math.nan,
            "ifeval_prompt_strict": float(all(strict)), "ifeval_prompt_loose": float(all(loose)),
            "_ifeval_followed_strict": float(sum(strict)), "_ifeval_followed_loose": float(sum(loose)),
            "_ifeval_instructions": float(len(strict))}


def _micro_average(followed: np.ndarray, total: np.ndarray) -> float:
    import numpy as np

    given = float(np.nansum(total))
    return float(np.nansum(followed)) / given if given else math.nan


@register_corpus_metric("ifeval_instruction_strict", needs=("ifeval",))
def ifeval_instruction_strict(columns: dict[str, np.ndarray]) -> float:
    """IFEval instruction-level accuracy, strict: instructions followed / instructions, over all prompts."""
    return _micro_average(columns["_ifeval_followed_strict"], columns["_ifeval_instructions"])


@register_corpus_metric("ifeval_instruction_loose", needs=("ifeval",))
def ifeval_instruction_loose(columns: dict[str, np.ndarray]) -> float:
    """IFEval instruction-level accuracy, loose: instructions followed by some variant / instructions."""
    return _micro_average(columns["_ifeval_followed_loose"], columns["_ifeval_instructions"])
