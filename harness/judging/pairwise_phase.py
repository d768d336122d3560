"""Pairwise comparison, a phase of its own after every run of a suite (it needs two models' answers): for each
entry with `pairwise:`, each of its pairwise judges compares, instance by instance and turn by turn, the answers of
every pair of models (`all`) or of each model and the baseline. Every comparison is asked twice, once with each
answer first (`ordering` ab and ba), so position bias shows and cancels (harness/judging/battles.py combines the
two). The judge requests go through the executor (stored, reused, retried); the judgments are stored with the
answer A's run as `run_id` and answer B's as `other_run_id`."""

from __future__ import annotations

import asyncio
import itertools
import sys
from dataclasses import dataclass
from typing import Any

import orjson

from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request
from harness.instance import TEST
from harness.judging.judges import JudgePool, ask, history_text, judge_request, read_reply, self_judged
from harness.judging.rubric import load_rubric
from harness.names import visible
from harness.run_spec import RunSpec, Suite
from harness.scenarios.base import make_scenario
from harness.store.store import Store


@dataclass
class PairwiseOutcome:
    judgments: int = 0
    sent: int = 0
    failed: int = 0


def run_id_of(spec: RunSpec, model: str) -> str:
    """The id run_one gives the run of `spec` on `model` (its shots cut to the few-shot pool, as there)."""
    shots = 0
    if spec.adapter_spec.max_train_instances > 0:
        shots = len(make_scenario(spec.scenario, spec.scenario_args).split(spec.adapter_spec.fewshot_split))
    return spec.with_shots_available(shots).run_id(model)


def pairs_of(spec: RunSpec, models: list[str]) -> list[tuple[str, str]]:
    """(model A, model B) for each comparison: A is the model, B the baseline; or every pair, in suite order."""
    assert spec.pairwise is not None
    baseline = spec.pairwise.baseline
    if baseline is not None:
        return [(m, baseline) for m in models if m != baseline]
    return list(itertools.combinations(models, 2))


def _answers(store: Store, run_id: str, multi_turn: bool) -> dict[str, list[str]]:
    """instance id -> the answer to each turn, for the run's answered instances."""
    out = {}
    for row in store.iter_instances(run_id):
        if row["error"] or row["prediction"] is None:
            continue
        out[row["instance_id"]] = orjson.loads(row["outputs"]) if multi_turn else [row["prediction"]]
    return out


def _questions(spec: RunSpec, ids: set[str]) -> dict[str, list[str]]:
    """instance id -> its user turns, for the given instances of the entry's scenario."""
    from harness.adapters.multi_turn_chat import turns_of

    return {inst.id: turns_of(inst) for inst in make_scenario(spec.scenario, spec.scenario_args).split(TEST)
            if inst.id in ids}


async def compare(suite: Suite, models: list[ModelDeployment], pool: JudgePool, store: Store) -> PairwiseOutcome:
    outcome = PairwiseOutcome()
    by_name = {m.name: m for m in models}
    for spec in suite.run_specs:
        if spec.pairwise is None:
            continue
        pairs = [(a, b) for a, b in pairs_of(spec, list(by_name)) if a in by_name and b in by_name]
        runs = {m: run_id_of(spec, m) for pair in pairs for m in pair}
        stored = {m: store.run(run_id) for m, run_id in runs.items()}
        missing = sorted(m for m, row in stored.items() if row is None)
        if missing:
            print(visible(f"harness: pairwise {spec.scenario}: no stored run for {', '.join(missing)}; "
                          "their comparisons are left out"), file=sys.stderr)
        answers = {m: _answers(store, runs[m], row["method"] == "multi_turn_chat")
                   for m, row in stored.items() if row is not None}
        questions = _questions(spec, {i for found in answers.values() for i in found})
        for judge_spec in (j for j in spec.judges if j.kind == "pairwise"):
            rubric = load_rubric(judge_spec.path)
            judge = pool.deployment(judge_spec.deployment)
            requests: dict[str, Request] = {}
            asked: list[dict[str, Any]] = []
            for a, b in pairs:
                if a not in answers or b not in answers:
                    continue
                # which answers' model the judge is, or shares a family with: 1 A's, 2 B's, 3 both
                marked = int(self_judged(judge, by_name[a])) | 2 * int(self_judged(judge, by_name[b]))
                for instance_id in sorted(answers[a].keys() & answers[b].keys() & questions.keys()):
                    turns, first, second = questions[instance_id], answers[a][instance_id], answers[b][instance_id]
                    for t in range(min(len(turns), len(first), len(second))):
                        earlier = turns[:t]
                        sides = {"ab": (first, second), "ba": (second, first)}
                        for ordering, (x, y) in sides.items():
                            request, shown = judge_request(
                                rubric, judge, question=turns[t], turn=str(t + 1), answer_a=x[t], answer_b=y[t],
                                history_a=history_text(earlier, x[:t]), history_b=history_text(earlier, y[:t]))
                            key = request.key(judge.name, judge.model_id)
                            requests[key] = request
                            asked.append({
                                "run_id": runs[a], "other_run_id": runs[b], "instance_id": instance_id,
                                "judge": judge.name, "rubric": rubric.name, "turn": t + 1, "ordering": ordering,
                                "rubric_hash": rubric.version, "kind": rubric.kind, "request_key": key,
                                "prompt": shown, "self_judged": marked,
                                "length_diff": len(first[t]) - len(second[t])})
            results, executed = await ask(pool, judge, requests, store)
            outcome.sent += executed.sent
            for row in asked:
                result = results[row["request_key"]]
                row["reply"], row["verdict"], row["parse_error"] = read_reply(rubric, result)
                outcome.failed += not result.ok
            pairs_done = [(runs[a], runs[b]) for a, b in pairs if a in answers and b in answers]
            await asyncio.to_thread(_save, store, pairs_done, judge.name, rubric.name, asked)
            outcome.judgments += len(asked)
    return outcome


def _save(store: Store, pairs: list[tuple[str, str]], judge: str, rubric: str, rows: list[dict[str, Any]]) -> None:
    """This judge's judgments of these pairs, replacing what it judged of them before (other judges' rows stay)."""
    store.save_judgments(pairs, rows, judge=judge, rubric=rubric)


async def run_pairwise(suite: Suite, models: list[ModelDeployment], judges: dict[str, ModelDeployment],
                       store: Store) -> PairwiseOutcome:
    pool = JudgePool(judges)
    try:
        return await compare(suite, models, pool, store)
    finally:
        await pool.close()


def run_pairwise_sync(suite: Suite, models: list[ModelDeployment], judges: dict[str, ModelDeployment],
                      store: Store) -> PairwiseOutcome:
    return asyncio.run(run_pairwise(suite, models, judges, store))
