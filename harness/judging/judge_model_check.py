"""`harness judge-check --judge DEPLOYMENT [--rubric refusal]`: a judge model as the refusal classifier that
harness.judging.judge_check measures against XSTest's 2,250 human-labelled completions. The judge's requests go
through the executor into a store (--output / --db), so a second check reuses the stored replies and an interrupted
one resumes. A reply with no verdict in the rubric's format is left out of the comparison and counted on its own
line; it is never taken as any label."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path
from typing import Any

from harness.clients.request import Request
from harness.errors import HarnessError


def cmd_judge_model_check(args: argparse.Namespace) -> int:
    from harness import bounds
    from harness.clients.deployment import load_deployments
    from harness.judging.judge_check import format_report, judge_check, load_completions
    from harness.judging.judges import JudgePool, ask, judge_request, read_reply
    from harness.judging.rubric import load_rubric
    from harness.store.store import open_store, sqlite_url

    deployments = load_deployments(args.models_file)
    if args.judge not in deployments:
        raise HarnessError(f"unknown deployment {args.judge!r} (known: {', '.join(sorted(deployments))})",
                           field="--judge")
    rubric = load_rubric(args.rubric, Path.cwd())
    if rubric.kind != "refusal":
        raise HarnessError(f"rubric {rubric.name!r} is a {rubric.kind} rubric; judge-check needs a refusal one",
                           field="--rubric")
    from harness.judging.refusal import LABELS

    if set(rubric.labels) != set(LABELS):
        raise HarnessError(f"the rubric's labels must be XSTest's: {', '.join(LABELS)}", path=rubric.path,
                           field="labels")
    rows = load_completions()
    if args.limit is not None:
        rows = rows[: int(bounds.at_least(args.limit, 1, field="--limit"))]
    judge = deployments[args.judge]
    requests: dict[str, Request] = {}
    keys = []
    for row in rows:
        request, _ = judge_request(rubric, judge, question=row.prompt, answer=row.completion, history="", turn="1")
        key = request.key(judge.name, judge.model_id)
        requests[key] = request
        keys.append(key)
    store = open_store(args.db or sqlite_url(Path(args.output)))
    pool = JudgePool({judge.name: judge})

    async def run() -> Any:
        try:
            return await ask(pool, judge, requests, store)
        finally:
            await pool.close()

    try:
        results, stats = asyncio.run(run())
    finally:
        store.close()
    verdicts = {}
    unparsed = failed = 0
    for row, key in zip(rows, keys):
        _, verdict, _ = read_reply(rubric, results[key])
        failed += not results[key].ok
        if verdict is None:
            unparsed += 1
        else:
            verdicts[row.id] = verdict
    kept = [row for row in rows if row.id in verdicts]
    name = f"{judge.name} ({rubric.name} rubric)"
    if not kept:
        raise HarnessError(f"no reply of {judge.name} had a verdict in the {rubric.name} rubric's format "
                           f"({unparsed} replies, {failed} failed requests)")
    # The same prompt and completion make the same judge request, hence the same verdict: a lookup by text is exact.
    by_text = {(row.prompt, row.completion): verdicts[row.id] for row in kept}
    report = judge_check(lambda prompt, completion: by_text[(prompt, completion)], kept)
    if args.json:
        print(json.dumps({**report.as_dict(), "judge": judge.name, "rubric": rubric.name,
                          "rubric_version": rubric.version, "unparsed": unparsed, "failed": failed}, indent=2))
    else:
        print(format_report(report, name))
        print(f"\n{unparsed} of {len(rows)} replies had no verdict ({failed} requests failed): those completions are "
              f"left out of every figure above, the annotators' too. {stats.sent} judge requests sent, "
              f"{stats.cached} from the store.")
    return 0
