"""What graders and pairwise comparison share: the judges' clients, a judge's request for a rubric, sending
judge requests through the executor, and reading a reply into a judgment row.

A judge's prompt over a chat API is the rubric's system message (when it has one) and its user message; over a
completions API (a base model, the embedded one) it is the system text, a blank line and the user text. Judges
answer at temperature 0, at most the rubric's max_tokens, without stop sequences."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

from harness.adapters.base import render_messages
from harness.clients.base import make_client, uses_chat
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.executor import ExecutionStats, execute
from harness.judging.rubric import Rubric
from harness.store.store import Store


def self_judged(judge: ModelDeployment, *candidates: ModelDeployment) -> bool:
    """The judge is one of the candidates, or declares the same `family:` as one."""
    return any(judge.name == c.name or (judge.family and judge.family == c.family) for c in candidates)


def judge_request(rubric: Rubric, judge: ModelDeployment, **fields: str) -> tuple[Request, str]:
    """The judge's request and its prompt as shown (chat messages rendered as in harness.adapters.base)."""
    system, user = rubric.render(**fields)
    if uses_chat(judge):
        messages = ((("system", system),) if system else ()) + (("user", user),)
        request = Request(kind="generate", messages=messages, max_tokens=rubric.max_tokens, temperature=0.0)
        return request, render_messages(messages)
    prompt = (system + "\n\n" if system else "") + user
    return Request(kind="generate", prompt=prompt, max_tokens=rubric.max_tokens, temperature=0.0), prompt


def history_text(questions: list[str], answers: list[str]) -> str:
    """The turns before the judged one, for a rubric's {history}: "" on the first turn."""
    if not questions:
        return ""
    lines = [f"[User]\n{q}\n\n[Assistant]\n{a.strip()}\n" for q, a in zip(questions, answers)]
    return "[The conversation before this turn]\n" + "\n".join(lines) + "[End of the earlier conversation]\n\n"


def read_reply(rubric: Rubric, result: Result) -> tuple[str | None, str | None, str | None]:
    """(raw reply, verdict, parse error) of a judge's answer; a failed request has no reply."""
    if not result.ok:
        return None, None, f"judge request failed: {result.error or 'no answer'}"
    reply = result.texts[0] if result.texts else ""
    verdict, error = rubric.parse(reply)
    return reply, verdict, error


class JudgePool:
    """The judges' clients, started when first needed and closed together; a judge that is the deployment being
    evaluated uses that run's own client (`current`)."""

    def __init__(self, deployments: Mapping[str, ModelDeployment]) -> None:
        self.deployments = dict(deployments)
        self.clients: dict[str, Any] = {}

    def deployment(self, name: str) -> ModelDeployment:
        if name not in self.deployments:
            raise HarnessError(f"unknown judge deployment {name!r} (known: {', '.join(sorted(self.deployments))})",
                               field="judges")
        return self.deployments[name]

    async def client(self, name: str, current: tuple[ModelDeployment, Any] | None = None) -> Any:
        if current is not None and current[0].name == name:
            return current[1]
        if name not in self.clients:
            client = make_client(self.deployment(name))
            await client.start()
            self.clients[name] = client
        return self.clients[name]

    async def close(self) -> None:
        clients, self.clients = list(self.clients.values()), {}
        for client in clients:
            await client.close()


async def _once(requests: dict[str, Request]) -> AsyncIterator[dict[str, Request]]:
    yield requests


async def ask(pool: JudgePool, judge: ModelDeployment, requests: dict[str, Request], store: Store,
              current: tuple[ModelDeployment, Any] | None = None) -> tuple[dict[str, Result], ExecutionStats]:
    """Send a judge's requests (key -> Request) through the executor: stored answers are reused, failures retried
    by the client and, on a later run, sent again."""
    if not requests:
        return {}, ExecutionStats()
    client = await pool.client(judge.name, current)
    return await execute(client, store, _once(requests))
