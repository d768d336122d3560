"""Runner: evaluates a suite's run specs on its models — load instances, adapt, execute, score, store."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import gc
import hashlib
import json
import random
import time
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

import harness
from harness.adapters.base import AdaptedInstance, Adapter
from harness.adapters.registry import make_adapter
from harness.clients.base import Client, LocalEngineClient, make_client
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.executor import ExecutionStats, execute
from harness.instance import TEST, Instance, LazySequence
from harness.metrics.registry import EFFICIENCY, CorpusMetric, Metric, resolve
from harness.progress import RunCounter, SuiteProgress
from harness.provenance import SuiteProvenance
from harness.run_spec import RunSpec, Suite
from harness.scenarios.base import Scenario, make_scenario
from harness.scoring import aggregate, score_instance, shown_stats, worst_cases
from harness.store.store import Store, now


@dataclass
class RunOutcome:
    run_id: str
    model: str
    scenario: str
    instances: int
    stats: ExecutionStats
    failed_instances: int
    main_score: float | None = None
    reused: bool = False  # finished before with the same fingerprint: neither loaded, sent nor scored again


@dataclass
class SuiteOutcome:
    runs: list[RunOutcome] = field(default_factory=list)
    pairwise_sent: int = 0  # judge requests of the pairwise phase (harness.judging.pairwise_phase)
    pairwise_failed: int = 0

    @property
    def sent(self) -> int:
        return sum(r.stats.sent for r in self.runs)

    @property
    def failed(self) -> int:
        return sum(r.stats.failed for r in self.runs)


class _Sample(LazySequence):
    """The instances of `pool` at `indices`, each read from the pool when first asked for: a shipped file's rows
    become Instances as they are prompted, while the first requests are in flight."""

    def __init__(self, pool: Sequence[Instance], indices: list[int]) -> None:
        self.pool, self.indices = pool, indices

    def __len__(self) -> int:
        return len(self.indices)

    def _get(self, index: int) -> Instance:
        return self.pool[self.indices[index]]


def select_instances(scenario: Scenario, max_instances: int | None, seed: int = 0) -> Sequence[Instance]:
    """The test split, or a seeded random sample of it kept in the scenario's order."""
    pool = scenario.split(TEST)
    if not pool:
        raise HarnessError(f"scenario {scenario.full_name} has no test instances", field="scenario")
    if max_instances is not None and max_instances < len(pool):
        return _Sample(pool, sorted(random.Random(seed).sample(range(len(pool)), max_instances)))
    return pool


def run_metrics(spec: RunSpec) -> tuple[list[Metric], list[CorpusMetric]]:
    """The suite's metrics for this run (and what its corpus metrics need), then the efficiency metrics every run
    reports."""
    return resolve([*spec.metrics, *EFFICIENCY])


def perturbed_copies(evaluated: Sequence[Instance], spec: RunSpec) -> tuple[list[Instance], dict[str, str]]:
    """Each evaluated instance once per perturbation (input rewritten, seeded by the instance's id), perturbation
    by perturbation; and each perturbation's category. The originals are always evaluated too."""
    if not spec.perturbations:
        return [], {}
    from harness.perturbations import get_perturbation

    copies, categories = [], {}
    for name in spec.perturbations:
        pert = get_perturbation(name)
        categories[name] = pert.category
        for inst in evaluated:
            text = pert.apply(inst.input, spec.adapter_spec.seed, inst.id)
            copies.append(dataclasses.replace(
                inst, id=f"{inst.id}~{name}", input=text,
                extra={**inst.extra, "perturbation": name, "original_id": inst.id}))
    return copies, categories


@functools.cache
def code_version() -> str:
    """harness's version and its source files' last change: a finished run is reused only by the same code."""
    package = Path(__file__).resolve().parent
    newest = max(p.stat().st_mtime_ns for p in package.rglob("*.py"))
    return f"{harness.__version__}+{newest}"


def run_fingerprint(spec: RunSpec, deployment: ModelDeployment, scenario: Scenario) -> str:
    """Everything a run's results depend on: the code, the run spec (run_id), the deployment's settings and the
    data; "" when the scenario cannot say what its data is."""
    data = scenario.data_fingerprint()
    if data is None:
        return ""
    parts = [code_version(), spec.run_id(deployment.name), spec.group, spec.main_metric,
             sorted(dataclasses.asdict(deployment).items()), data]
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()


def reuse(store: Store, run_id: str, suite: str, fingerprint: str, deployment: ModelDeployment,
          scenario: Scenario, main_metric: str) -> RunOutcome | None:
    """The stored outcome of a run that finished before, whole, with the same fingerprint and suite."""
    row = store.run(run_id) if fingerprint else None
    if row is None or row["fingerprint"] != fingerprint or row["suite"] != suite or row["failed_requests"]:
        return None
    main = next((s["mean"] for s in store.run_stats(run_id) if s["metric"] == main_metric), None)
    stats = ExecutionStats(requested=row["requests"], cached=row["requests"])
    return RunOutcome(run_id, deployment.name, scenario.full_name, row["instances"], stats, 0, main, reused=True)


@dataclass
class PlannedRun:
    """One (deployment, run spec) of a suite, as far as it is known before any request: what it evaluates and how
    many requests that takes, or the outcome of a finished run it reuses. run_one goes on from here."""

    spec: RunSpec
    deployment: ModelDeployment
    scenario: Scenario
    run_id: str
    fingerprint: str
    reused: RunOutcome | None
    evaluated: Sequence[Instance] = ()
    fewshot: Sequence[Instance] = ()  # where its few-shot examples are drawn from (none without shots)
    adapter: Adapter | None = None
    requests: int = 0  # requests planned, one per request of each instance (perturbed copies included)


def plan_suite(suite: Suite, deployments: list[ModelDeployment], store: Store) -> list[PlannedRun]:
    """Every run of the suite, deployment by deployment, counted before the first request: each run spec's scenario
    and instances are made once, for all deployments, and only for runs not reused whole. No prompt is built here."""
    scenarios = [make_scenario(spec.scenario, spec.scenario_args) for spec in suite.run_specs]
    # Each spec's few-shot pool, read once for every deployment; the run id names the shots the prompts hold:
    # `shots` cut to the pool's size.
    pools = [scenario.split(spec.adapter_spec.fewshot_split) if spec.adapter_spec.max_train_instances > 0 else ()
             for spec, scenario in zip(suite.run_specs, scenarios)]
    specs = [spec.with_shots_available(len(pool)) if spec.adapter_spec.max_train_instances > 0 else spec
             for spec, pool in zip(suite.run_specs, pools)]
    evaluated: dict[int, Sequence[Instance]] = {}
    planned = []
    for deployment in deployments:
        for index, (spec, scenario) in enumerate(zip(specs, scenarios)):
            run_id = spec.run_id(deployment.name)
            fingerprint = run_fingerprint(spec, deployment, scenario)
            reused = reuse(store, run_id, suite.name, fingerprint, deployment, scenario, spec.main_metric)
            if reused is not None:
                planned.append(PlannedRun(spec, deployment, scenario, run_id, fingerprint, reused,
                                          requests=reused.stats.requested))
                continue
            if index not in evaluated:
                evaluated[index] = select_instances(scenario, spec.max_instances, spec.adapter_spec.seed)
            adapter = make_adapter(
                spec.adapter_spec,
                chat=deployment.chat,
                context_length=deployment.context_length,
                instructions_for=scenario.instructions_for_instance,
            )
            if not spec.protocol.is_plain:  # its samples voted over or debated before scoring (harness.protocols)
                from harness.protocols.adapter import ProtocolAdapter

                adapter = ProtocolAdapter(adapter, spec.protocol, spec.main_metric)  # type: ignore[assignment]
            count = adapter.request_count(evaluated[index]) * (1 + len(spec.perturbations))  # copies: same choices
            planned.append(PlannedRun(spec, deployment, scenario, run_id, fingerprint, None, evaluated[index],
                                      pools[index], adapter, count))
    return planned


class _InlineScorer:
    """The executor's on_answer: scores an instance once the last of its requests is answered, while other requests
    are in flight, rather than all of them after the last answer. Instances are added as they are adapted, each
    before any of its requests is sent (one answered already, for another instance, counts as answered).

    Answers are scored a millisecond after they arrive, a few at a time: the worker that got one sends its next
    request first. At low concurrency the answers come back together, and scoring each before the next request
    went out kept that request waiting longer."""

    def __init__(self, score: Callable[[int, dict[str, Result]], None]) -> None:
        self.score = score
        self.waiting: list[int] = []  # by position: requests still unanswered
        self.positions: dict[str, list[int]] = {}  # key -> positions of the instances waiting for it
        self.answers: dict[str, Result] = {}
        self.arrived: list[tuple[str, Result]] = []  # not scored yet
        self.timer: asyncio.TimerHandle | None = None
        self.error: Exception | None = None

    def add(self, keys: list[str]) -> None:
        position = len(self.waiting)
        unanswered = [key for key in dict.fromkeys(keys) if key not in self.answers]
        self.waiting.append(len(unanswered))
        for key in unanswered:
            self.positions.setdefault(key, []).append(position)
        if not unanswered:
            self.score(position, self.answers)

    def __call__(self, key: str, result: Result) -> None:
        self.arrived.append((key, result))
        if self.timer is None:
            self.timer = asyncio.get_running_loop().call_later(SCORE_DELAY_S, self._score_arrived)

    def _score_arrived(self) -> None:
        self.timer = None
        arrived, self.arrived = self.arrived, []
        try:
            for key, result in arrived:
                self.answers[key] = result
                for position in self.positions.pop(key, ()):
                    self.waiting[position] -= 1
                    if self.waiting[position] == 0:
                        self.score(position, self.answers)
        except Exception as exc:  # raised by close(), in the run (the event loop would only log it)
            self.error = self.error or exc

    def close(self) -> None:
        """Score what has arrived and is not scored yet; raise what scoring raised."""
        if self.timer is not None:
            self.timer.cancel()
        self._score_arrived()
        if self.error is not None:
            raise self.error


# Instances adapted before the first requests go out (at most); then chunks twice as large each time, up to the last
# size (each chunk's stored answers and claims are one lookup and one write transaction).
FIRST_CHUNK_MAX, CHUNK_MAX = 64, 1024
SCORE_DELAY_S = 0.001  # answers are scored this long after they arrive (see _InlineScorer)


async def run_one(plan: PlannedRun, client: Any, store: Store, suite: str,
                  while_waiting: Callable[[], None] | None = None,
                  progress: RunCounter | None = None,
                  judges: dict[str, ModelDeployment] | None = None,
                  provenance: SuiteProvenance | None = None) -> RunOutcome:
    """One planned run; where its entry has graders, they grade its answers (`judges`: their deployments, by name)."""
    if plan.reused is not None:
        return plan.reused
    started_at = now()
    if provenance is not None:
        provenance.start()  # its `git status` runs beside the requests
    spec, deployment, scenario, run_id = plan.spec, plan.deployment, plan.scenario, plan.run_id
    evaluated, fingerprint, adapter = plan.evaluated, plan.fingerprint, plan.adapter
    assert adapter is not None  # planned for every run not reused
    fewshot = plan.fewshot
    copies, categories = perturbed_copies(evaluated, spec)
    items = [*evaluated, *copies] if copies else evaluated
    metrics, corpus = run_metrics(spec)
    adapted: list[AdaptedInstance] = []
    keyed: list[list[str]] = []
    requests: dict[str, Request] = {}
    scored: list[tuple[dict[str, float], dict[str, Any], bool] | None] = [None] * len(items)

    def score(position: int, answers: dict[str, Result]) -> None:
        """One instance's prediction, metric values and instance row, once every one of its requests is answered."""
        item, keys = adapted[position], keyed[position]
        pred = adapter.predict(item, [answers[k] for k in keys])
        values = score_instance(metrics, item.instance, pred, deployment)
        inst = item.instance
        row = {
            "run_id": run_id, "instance_id": inst.id, "position": position, "input": inst.input,
            # [[output, 1 if correct else 0], ...]: what the site shows; compact, since every instance stores it
            "references": orjson.dumps([[r.output, int(r.is_correct)] for r in inst.references]).decode(),
            "prompt": item.prompt, "request_keys": orjson.dumps(keys).decode(), "prediction": pred.text,
            "outputs": orjson.dumps(pred.completions).decode(),
            "fewshot_dropped": item.fewshot_dropped,
            "error": pred.error, "stats": values,
        }
        scored[position] = (values, row, pred.text is None)

    # A multi-turn instance's later requests are made from its first answers (harness/turns.py): scored at the end.
    multi_turn = adapter.method == "multi_turn_chat"
    debating = getattr(adapter, "debating", False)  # later rounds are asked once the first are answered
    inline = _InlineScorer(score) if all(m.quick for m in metrics) and not (multi_turn or debating) else None

    async def feed() -> AsyncIterator[dict[str, Request]]:
        """The requests a chunk of instances at a time: the first go out while the rest are still being prompted."""
        pool = adapter.fewshot_pool(fewshot)
        start, size = 0, max(1, min(FIRST_CHUNK_MAX, client.concurrency * client.batch_size))
        while start < len(items):
            chunk: dict[str, Request] = {}
            planned = 0
            for inst in items[start : start + size]:
                item = adapter.adapt_one(inst, pool)
                keys = [r.key(deployment.name, deployment.model_id) for r in item.requests]
                adapted.append(item)
                keyed.append(keys)
                planned += len(keys)
                chunk.update(zip(keys, item.requests))
                if inline is not None:
                    inline.add(keys)
            if progress is not None:  # a request that repeats one planned before is answered with it: done now
                progress.repeats(planned - sum(1 for key in chunk if key not in requests))
            requests.update(chunk)
            # What is alive now (the run's instances, prompts, requests, answers and rows so far) mostly lives until
            # the run ends: the cyclic GC need not look at it again at every collection of young objects, a cost that
            # grows with the run. Frozen objects are still freed when no longer referenced;
            # they are given back to the GC after the run. (Not where the process froze objects of its own: unfreezing
            # would give those back too.)
            if freezing:
                gc.freeze()
            yield chunk
            start, size = start + size, min(CHUNK_MAX, 2 * size)

    freezing = gc.get_freeze_count() == 0
    try:
        results, stats = await execute(client, store, feed(), progress=progress, while_waiting=while_waiting,
                                       on_answer=inline)
        if multi_turn:
            from harness.turns import ask_later_turns

            await ask_later_turns(adapter, adapted, keyed, results, requests, client, store, deployment, stats)
        if debating:
            from harness.protocols.debate import ask_rounds

            await ask_rounds(adapter, adapted, keyed, results, requests, client, store, deployment, stats)
    finally:
        if freezing:
            gc.unfreeze()  # see feed()
    if inline is not None:
        inline.close()
    for position, done in enumerate(scored):
        if done is None:  # answered from the store, or its metrics wait for the last answer
            score(position, results)
    per_instance = [values for values, _, _ in scored]  # type: ignore[misc]
    instance_rows = [row for _, row, _ in scored]  # type: ignore[misc]
    failed_instances = sum(failed for _, _, failed in scored[:len(evaluated)])  # type: ignore[misc]
    n = len(evaluated)
    judge_failed = 0
    if any(j.kind != "pairwise" for j in spec.judges):
        from harness.judging.grading import grade_run

        graded = await grade_run(spec, run_id, deployment, client, adapter, adapted[:n], keyed[:n], results,
                                 judges or {}, store)
        for values, extra in zip(per_instance[:n], graded.stats):  # the rows' stats too (the same dicts)
            values.update(extra)
        judge_failed = graded.failed  # the run's figures count its judges' requests too
        stats.requested, stats.cached, stats.sent = (stats.requested + graded.requested, stats.cached + graded.cached,
                                                     stats.sent + graded.sent)
    original = per_instance[:n]
    if copies:
        perturbed = {name: per_instance[n * (i + 1): n * (i + 2)] for i, name in enumerate(spec.perturbations)}
        for stats_of, extra in zip(original, worst_cases(original, perturbed, categories, shown_stats(metrics))):
            stats_of.update(extra)
    with ThreadPoolExecutor(1, thread_name_prefix="harness-aggregate") as pool:
        aggregating = pool.submit(aggregate, run_id, original, corpus, metrics, spec.adapter_spec.seed)
        prepared = store.prepare_instances(instance_rows)  # meanwhile: numpy lets go of the GIL as it resamples
        run_stats = aggregating.result()
    failed_requests = sum(1 for k in requests if not results[k].ok) + judge_failed
    store.save_run(
        {
            "run_id": run_id, "suite": suite, "model": deployment.name, "scenario": scenario.full_name,
            "group_name": spec.group, "method": spec.adapter_spec.method, "main_metric": spec.main_metric,
            "adapter_spec": json.dumps({**spec.adapter_spec.to_json(), **(
                {} if spec.protocol.is_plain else {"protocol": spec.protocol.to_json()})}, ensure_ascii=False),
            "metrics": json.dumps(list(spec.metrics)), "instances": n, "failed_requests": failed_requests,
            "truncated_instances": sum(1 for a in adapted[:n] if a.fewshot_dropped),
            "requests": len(requests), "fingerprint": fingerprint,
            "server": json.dumps(getattr(client, "server_info", {}) or {}, ensure_ascii=False),
        },
        prepared, run_stats,
        None if provenance is None else provenance.record(spec, deployment, scenario, started_at, now()),
    )
    main = next((r["mean"] for r in run_stats if r["metric"] == spec.main_metric), None)
    return RunOutcome(run_id, deployment.name, scenario.full_name, n, stats, failed_instances, main)


async def run_suite(suite: Suite, deployments: list[ModelDeployment], store: Store,
                    warm_up: Callable[[], None] | None = None, progress: SuiteProgress | None = None,
                    judge_deployments: dict[str, ModelDeployment] | None = None,
                    clients: Callable[[ModelDeployment], Client] = make_client) -> SuiteOutcome:
    """Every run spec on every deployment, planned (and counted, for `progress`) before the first request.
    Every deployment is in flight at once, each with its own client (its concurrency, its budgets) running its runs
    in order; models run in this process (LocalEngineClient: they share its CPU or GPU) take turns with each other,
    a deployment's runs at a time, but not with API deployments. A deployment that fails lets the others finish; then
    the first failure, in deployment order, is raised. `warm_up` (what later steps will need: imports, templates)
    runs once, in the background, while the first requests are in flight. `judge_deployments`: the deployments judges
    entries name, by name; pairwise comparison is a phase of its own, after every run
    (harness.judging.pairwise_phase). `clients` makes each deployment's client (harness.ray_engine: one that answers
    on a Ray cluster)."""
    planned = plan_suite(suite, deployments, store)  # nothing else is running yet
    outcome = SuiteOutcome()

    def show() -> None:
        """The display, from when the first client has started (one that cannot start says only why) or, when
        there is nothing to send, at once."""
        if progress is not None and not progress.started:
            reused = [p.reused for p in planned if p.reused is not None]
            progress.start(len(planned), sum(p.requests for p in planned), len(reused),
                           sum(r.stats.cached for r in reused))

    provenance = SuiteProvenance(suite)  # how each run was made, stored with it
    local_turn = asyncio.Lock()  # one model loaded in this process at a time

    async def deployment_runs(deployment: ModelDeployment, runs: list[PlannedRun],
                              warm_up: Callable[[], None] | None) -> list[RunOutcome]:
        shown = None if progress is None else progress.deployment(
            deployment.name, sum(p.requests for p in runs), sum(p.reused.stats.cached for p in runs if p.reused))
        client = clients(deployment)
        async with (local_turn if isinstance(client, LocalEngineClient) else contextlib.nullcontext()):
            try:
                await _start(client, deployment, progress)
                show()
                outcomes = []
                for plan in runs:
                    if plan.reused is not None:
                        outcomes.append(plan.reused)
                        continue
                    if shown is not None:
                        shown.begin_run(plan.scenario.full_name)
                    outcomes.append(await run_one(plan, client, store, suite.name, warm_up, shown, judge_deployments,
                                                  provenance))
                    # its instances can go once no later run holds them
                    plan.evaluated, plan.fewshot, plan.adapter = (), (), None
                    if shown is not None:
                        shown.end_run()
                    warm_up = None
                return outcomes
            finally:
                await client.close()

    work = []
    for deployment in deployments:
        runs = [p for p in planned if p.deployment is deployment]
        if all(p.reused is not None for p in runs):  # nothing to send: the client is not even started
            work.append(_done([p.reused for p in runs if p.reused is not None]))
            continue
        work.append(deployment_runs(deployment, runs, warm_up))
        warm_up = None  # once: in the first deployment that sends
    try:
        done = await asyncio.gather(*work, return_exceptions=True)
    finally:
        provenance.close()
    for result in done:
        if isinstance(result, BaseException):
            raise result
    outcome.runs = [run for runs in done for run in runs]  # type: ignore[union-attr]  (failures raised above)
    show()
    return outcome


async def _done(outcomes: list[RunOutcome]) -> list[RunOutcome]:
    return outcomes


async def _start(client: Any, deployment: ModelDeployment, progress: SuiteProgress | None) -> None:
    """Start the client; a model loaded in this process (seconds to minutes) says so, on a terminal or not."""
    if progress is None or not isinstance(client, LocalEngineClient):
        await client.start()
        return
    progress.note(f"harness: loading {deployment.name} ({deployment.model_id})")
    started = time.perf_counter()
    await client.start()
    progress.note(f"harness: {deployment.name} loaded in {time.perf_counter() - started:.0f} s")


def run_suite_sync(suite: Suite, deployments: list[ModelDeployment], store: Store,
                   warm_up: Callable[[], None] | None = None, progress: SuiteProgress | None = None,
                   judge_deployments: dict[str, ModelDeployment] | None = None,
                   clients: Callable[[ModelDeployment], Client] = make_client) -> SuiteOutcome:
    return asyncio.run(run_suite(suite, deployments, store, warm_up, progress, judge_deployments, clients))
