"""Multi-agent debate (Du et al. 2023): `agents` copies of the model answer independently (round 1: the entry's
own prompt, sampled at the protocol's temperature, each agent under its own seed); in every later round each agent
is asked again with the other agents' answers of the round before, and the final answer is the majority of the last
round (self_consistency's extraction, majority and tie rule). The prompt of agent k in round r > 1:

    {the entry's prompt, up to its output prefix}
    <blank line>
    Other agents answered this question:
    Agent {j}: {agent j's answer in round r - 1}      <- one line per other agent, in agent order
    <blank line>
    Using their answers as additional information, give your own answer.
    {output_prefix.rstrip()}

(a chat deployment gets the same block at the end of the last user message). Every round's requests go through the
executor, so each message is a stored request; the instance's outputs are the whole transcript, one entry per
message ("round r · agent k (shown agent j: ...; ...):" and its answer), shown in order on the run page.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from harness.adapters.spec import AdapterSpec
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Request, Result
from harness.executor import ExecutionStats, execute_round
from harness.store.store import Store

ANSWER_CHARS = 2000  # of another agent's answer quoted in a prompt: a runaway answer must not flood the next round
HEADER = "Other agents answered this question:"
CLOSING = "Using their answers as additional information, give your own answer."


def configure(spec: AdapterSpec, params: dict[str, Any]) -> AdapterSpec:
    """One sample per agent request, at the protocol's temperature."""
    return replace(spec, num_outputs=1, temperature=float(params["temperature"]))


def agent_requests(first: Request, agents: int) -> tuple[Request, ...]:
    """Round 1: the entry's request once per agent, each under its own seed (so sampled answers differ)."""
    return tuple(replace(first, n=1, seed=first.seed + k) for k in range(agents))


def debate_block(others: list[tuple[int, str]]) -> str:
    lines = "\n".join(f"Agent {k + 1}: {' '.join(text.split())[:ANSWER_CHARS]}" for k, text in others)
    return f"\n\n{HEADER}\n{lines}\n\n{CLOSING}\n"


def round_request(base: Request, agent: int, previous: list[str], output_prefix: str) -> Request:
    """Agent `agent`'s request in the next round: its round-1 request with the others' previous answers added."""
    block = debate_block([(j, text) for j, text in enumerate(previous) if j != agent])
    prefix = output_prefix.rstrip()
    if base.messages:
        role, content = base.messages[-1]
        return replace(base, messages=(*base.messages[:-1], (role, content + block.rstrip("\n"))))
    body = base.prompt[: len(base.prompt) - len(prefix)] if prefix and base.prompt.endswith(prefix) else base.prompt
    return replace(base, prompt=body.rstrip("\n") + block + prefix)


def answer_of(result: Result) -> str:
    return result.texts[0] if result.ok and result.texts else ""


def transcript(results: list[Result], agents: int) -> list[str]:
    """One entry per message, in order: "round r · agent k:" (from round 2: what it was shown), then its answer."""
    answers = [answer_of(r) for r in results]
    out = []
    for i, text in enumerate(answers):
        round_, agent = divmod(i, agents)
        shown = "; ".join(f"agent {j + 1}: {' '.join(answers[(round_ - 1) * agents + j].split())[:200]}"
                          for j in range(agents) if j != agent) if round_ else ""
        out.append(f"round {round_ + 1} · agent {agent + 1}" + (f" (shown {shown})" if shown else "") + f":\n{text}")
    return out


async def ask_rounds(adapter: Any, adapted: list[Any], keyed: list[list[str]], results: dict[str, Result],
                     requests: dict[str, Request], client: Any, store: Store, deployment: ModelDeployment,
                     stats: ExecutionStats) -> None:
    """Every instance's rounds 2..R, one executor pass per round; `keyed` gains each round's keys in agent order
    (round r, agent k: keyed[i][(r - 1) * agents + k]); the rest is the run's, brought up to date in place. An
    instance with a failed request stops debating (its prediction reports the failure)."""
    agents, rounds, prefix = adapter.agents, adapter.rounds, adapter.inner.spec.output_prefix
    for _ in range(1, rounds):
        round_: dict[str, Request] = {}
        for position, item in enumerate(adapted):
            keys = keyed[position]
            previous = [results[k] for k in keys[-agents:]]
            if len(keys) % agents or not all(r.ok for r in previous):
                continue
            answers = [answer_of(r) for r in previous]
            for agent in range(agents):
                request = round_request(item.requests[agent], agent, answers, prefix)
                key = request.key(deployment.name, deployment.model_id)
                keys.append(key)
                round_[key] = request
        if not round_:
            return
        requests.update(round_)
        await execute_round(client, store, round_, results, stats)
