"""Graders inside a run: once a run's answers are in, each judge of its entry with a single, reference or refusal
rubric grades every answered turn of every evaluated instance (perturbed copies are not judged). Each judgment is
stored (the `judgments` table: prompt, raw reply, verdict or why there is none); what the graders say becomes the
instance's judge stats (harness/judging/stats.py), averaged by the run like any metric. A reply without a verdict
is counted in judge_unparsed and is in no score."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.adapters.base import Adapter, AdaptedInstance
from harness.adapters.multi_turn_chat import turns_of
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.instance import Instance
from harness.judging.judges import JudgePool, ask, history_text, judge_request, read_reply, self_judged
from harness.judging.rubric import load_rubric
from harness.run_spec import RunSpec
from harness.store.store import Store


@dataclass
class Graded:
    stats: list[dict[str, float]] = field(default_factory=list)  # per evaluated instance, in order
    failed: int = 0  # judge requests that failed (a rerun sends them again)
    requested: int = 0
    cached: int = 0
    sent: int = 0


def reference_for(inst: Instance, turn: int) -> str | None:
    """The reference answer to a turn (1-based): `extra["reference_answer"]` (a JSON list, one per turn, as MT-Bench
    ships GPT-4's), else for turn 1 the instance's first correct reference; None where there is none."""
    raw = inst.extra.get("reference_answer")
    if raw is not None:
        try:
            refs = json.loads(raw)
        except ValueError:
            refs = None
        if isinstance(refs, list) and turn <= len(refs) and isinstance(refs[turn - 1], str) and refs[turn - 1]:
            return refs[turn - 1]
        return None
    correct = inst.correct_references
    return correct[0].output if turn == 1 and correct else None


def conversation(adapter: Adapter, item: AdaptedInstance, results: Sequence[Result]) -> list[tuple[str, str]] | None:
    """(question, answer) of each answered turn of an instance, or None when it has no answer."""
    pred = adapter.predict(item, results)
    if pred.text is None:
        return None
    questions = turns_of(item.instance) if adapter.method == "multi_turn_chat" else [item.instance.input]
    answers = pred.completions if adapter.method == "multi_turn_chat" else [pred.text]
    return list(zip(questions, answers))


async def grade_run(spec: RunSpec, run_id: str, candidate: ModelDeployment, candidate_client: Any, adapter: Adapter,
                    adapted: Sequence[AdaptedInstance], keyed: Sequence[Sequence[str]], results: dict[str, Result],
                    judges: Mapping[str, ModelDeployment], store: Store) -> Graded:
    """Grade the run's evaluated instances (`adapted`) with each grader of `spec` (`judges`: their deployments, by
    name; a judge that is the candidate uses the run's own client); store the judgments."""
    graders = [j for j in spec.judges if j.kind != "pairwise"]
    if not graders:
        return Graded([{} for _ in adapted])
    pool = JudgePool(judges)
    try:
        return await _grade(spec, run_id, candidate, candidate_client, adapter, adapted, keyed, results, pool, store)
    finally:
        await pool.close()


async def _grade(spec: RunSpec, run_id: str, candidate: ModelDeployment, candidate_client: Any, adapter: Adapter,
                 adapted: Sequence[AdaptedInstance], keyed: Sequence[Sequence[str]], results: dict[str, Result],
                 pool: JudgePool, store: Store) -> Graded:
    graders = [j for j in spec.judges if j.kind != "pairwise"]
    out = Graded([{} for _ in adapted])
    talks = [conversation(adapter, item, [results[k] for k in keys]) for item, keys in zip(adapted, keyed)]
    multi = any(talk is not None and len(talk) > 1 for talk in talks)
    rows: list[dict[str, Any]] = []
    for index, grader in enumerate(graders, 1):
        rubric = load_rubric(grader.path)
        judge = pool.deployment(grader.deployment)
        marked = int(self_judged(judge, candidate))
        asked: list[tuple[int, int, str, str]] = []  # (position, turn, key, prompt)
        requests: dict[str, Request] = {}
        for position, talk in enumerate(talks):
            for turn, (question, answer) in enumerate(talk or (), 1):
                fields = {"question": question, "answer": answer, "turn": str(turn),
                          "history": history_text([q for q, _ in talk[:turn - 1]], [a for _, a in talk[:turn - 1]])}
                if rubric.kind == "reference":
                    reference = reference_for(adapted[position].instance, turn)
                    if reference is None:
                        continue  # nothing to grade against: not judged by this rubric
                    fields["reference"] = reference
                request, shown = judge_request(rubric, judge, **fields)
                key = request.key(judge.name, judge.model_id)
                requests[key] = request
                asked.append((position, turn, key, shown))
        answers, executed = await ask(pool, judge, requests, store, (candidate, candidate_client))
        out.requested, out.cached = out.requested + executed.requested, out.cached + executed.cached
        out.sent += executed.sent
        scores: dict[int, list[tuple[int, float]]] = {}
        for position, turn, key, shown in asked:
            reply, verdict, error = read_reply(rubric, answers[key])
            out.failed += not answers[key].ok
            stats = out.stats[position]
            if verdict is None:
                stats["judge_unparsed"] = stats.get("judge_unparsed", 0.0) + 1
            else:
                value = float(verdict) if rubric.kind != "refusal" else float(verdict in rubric.refusal)
                scores.setdefault(position, []).append((turn, value))
            rows.append({"run_id": run_id, "other_run_id": "", "instance_id": adapted[position].instance.id,
                         "judge": judge.name, "rubric": rubric.name, "turn": turn, "ordering": "single",
                         "rubric_hash": rubric.version, "kind": rubric.kind, "request_key": key, "prompt": shown,
                         "reply": reply, "verdict": verdict, "parse_error": error, "self_judged": marked})
        for position, values in scores.items():
            stats = out.stats[position]
            mean = sum(v for _, v in values) / len(values)
            if index > 1:
                stats[f"judge{index}_score"] = mean
            elif rubric.kind == "refusal":
                stats["judge_refusal"] = mean
            else:
                stats["judge_score"] = mean
                if multi:
                    for turn, value in values:
                        stats[f"judge_score_turn{turn}"] = value
                category = adapted[position].instance.extra.get("category")
                if category:
                    stats[f"judge_score_{_stat_part(category)}"] = mean
    for stats, talk in zip(out.stats, talks):
        if talk is not None:
            stats.setdefault("judge_unparsed", 0.0)
    await asyncio.to_thread(store.save_judgments, [(run_id, "")], rows)
    return out


def _stat_part(text: str) -> str:
    """A category as part of a stat's name: letters, digits, '_', '.', '-' (others become '_'), at most 40."""
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_" for c in text)[:40]
