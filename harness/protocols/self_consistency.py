"""Self-consistency (Wang et al. 2023): n samples at a temperature; the answer is the one most samples give.

Each sample is read as the adapter reads a single answer (a lettered choice for multiple_choice_joint, the
completion for generation), then reduced to its answer key by the entry's main metric's own extraction (ANSWER_KEYS):
the final number for answer_number_match (GSM8K) and final_number_exact_match (HELM's pattern), the stripped text
for exact_match, the normalised text (case, punctuation, articles) otherwise. Samples
with no answer (no number) do not vote. The majority key wins; a tie is broken by a seeded rule (the tied key with
the smallest sha256 of seed, instance id and key), so reruns agree and no answer is favoured by its position. The
prediction is the first sample that gives the winning key, scored as the plain answer would be.

What it stores per instance (pred.votes; harness.metrics.agreement turns it into stats): every sample's key and
score under the main metric, the winner, and the agreement (the fraction of all n samples giving the winner).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from harness.adapters.base import Adapter, Prediction
from harness.adapters.spec import AdapterSpec
from harness.clients.request import Result
from harness.instance import Instance
from harness.metrics.basic import final_number, helm_final_number, normalize_text


def configure(spec: AdapterSpec, params: dict[str, Any]) -> AdapterSpec:
    """The adapter spec that asks for the samples: n outputs in one request, at the temperature."""
    return replace(spec, num_outputs=params["n"], temperature=float(params["temperature"]))


# The main metric's own reading of an answer, where it reads one (harness.metrics.basic); any other metric votes
# over the normalised text.
ANSWER_KEYS: dict[str, Callable[[str], str | None]] = {
    "answer_number_match": final_number,
    "final_number_exact_match": helm_final_number,
    "exact_match": str.strip,
    "prefix_exact_match": str.strip,
    "exact_match_indicator": lambda text: text.split(" ")[-1].strip(),
}


def answer_key(text: str, main_metric: str) -> str | None:
    """The answer a sample gives as the main metric reads it; None where it gives none."""
    return ANSWER_KEYS.get(main_metric, normalize_text)(text) or None


def majority(keys: Sequence[str | None], seed: int, instance_id: str) -> str | None:
    """The most frequent key (None ignored); among equals, the smallest sha256(seed, instance id, key)."""
    counts = Counter(k for k in keys if k is not None)
    if not counts:
        return None
    top = max(counts.values())
    tied = [k for k, c in counts.items() if c == top]
    return min(tied, key=lambda k: hashlib.sha256(f"{seed}\0{instance_id}\0{k}".encode()).hexdigest())


def decide(pred: Prediction, inst: Instance, adapter: Adapter, main_metric: str,
           score: Callable[[Prediction], float], seed: int) -> Prediction:
    """The majority prediction of pred's samples, with pred.votes filled in."""
    if pred.text is None or not pred.completions:
        return pred
    samples = []
    for text in pred.completions:
        one = Prediction(text=None)
        adapter.read_answers(one, inst, [Result(ok=True, texts=[text])])
        samples.append(one)
    keys = [answer_key(s.text or "", main_metric) for s in samples]
    scores = [score(s) for s in samples]
    winner = majority(keys, seed, inst.id)
    chosen = keys.index(winner) if winner is not None else 0
    out = replace(samples[chosen], completions=list(pred.completions), latency_s=pred.latency_s,
                  prompt_tokens=pred.prompt_tokens, completion_tokens=pred.completion_tokens, requests=pred.requests)
    out.votes = {"keys": keys, "scores": scores, "winner": winner, "chosen": chosen, "seed": seed,
                 "agreement": (keys.count(winner) / len(keys)) if winner is not None else 0.0}
    return out
