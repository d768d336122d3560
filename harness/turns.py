"""The later turns of multi-turn instances (harness/adapters/multi_turn_chat.py): once a run's first requests are
answered, each instance's next turn is asked with the model's own answers in it, round after round until every
turn is asked. Each round goes through the executor like the first (store, cache, resume, retries, concurrency)."""

from __future__ import annotations

from typing import Any

from harness.adapters.base import AdaptedInstance
from harness.adapters.multi_turn_chat import MultiTurnChatAdapter
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.executor import ExecutionStats, execute_round
from harness.store.store import Store


async def ask_later_turns(adapter: MultiTurnChatAdapter, adapted: list[AdaptedInstance], keyed: list[list[str]],
                          results: dict[str, Result], requests: dict[str, Request], client: Any, store: Store,
                          deployment: ModelDeployment, stats: ExecutionStats) -> None:
    """Ask every instance's remaining turns, one round per turn; `adapted`, `keyed`, `results`, `requests` and
    `stats` are the run's, brought up to date in place."""
    while True:
        round_: dict[str, Request] = {}
        for position, item in enumerate(adapted):
            following = adapter.next_turn(item, [results[k] for k in keyed[position]])
            if following is None:
                continue
            request = following.requests[-1]
            key = request.key(deployment.name, deployment.model_id)
            adapted[position] = following
            keyed[position].append(key)
            round_[key] = request
        if not round_:
            return
        requests.update(round_)
        await execute_round(client, store, round_, results, stats)
