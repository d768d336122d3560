"""An adapter with a protocol: the entry's own adapter, wrapped so that its samples are voted over
(self_consistency) or debated (debate) before they are scored. The runner uses it wherever it uses an adapter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from harness.adapters.base import AdaptedInstance, Adapter, Prediction
from harness.adapters.prompt import FewShotPool
from harness.clients.request import Result
from harness.instance import Instance
from harness.protocols import ProtocolSpec
from harness.protocols import debate, self_consistency


class ProtocolAdapter:
    def __init__(self, inner: Adapter, protocol: ProtocolSpec, main_metric: str) -> None:
        self.inner, self.protocol, self.main_metric = inner, protocol, main_metric
        self.agents = int(protocol.param("agents", 1))
        self.rounds = int(protocol.param("rounds", 1))
        self.debating = protocol.name == "debate"
        from harness.metrics.registry import resolve

        metrics, _ = resolve([main_metric])
        self._main = metrics[0]

    def __getattr__(self, name: str) -> Any:  # method, spec, fewshot_pool, ...: the entry's adapter's
        return getattr(self.inner, name)

    def fewshot_pool(self, candidates: Sequence[Instance]) -> FewShotPool:
        return self.inner.fewshot_pool(candidates)

    def request_count(self, instances: Sequence[Instance]) -> int:
        return self.inner.request_count(instances) * (self.agents * self.rounds if self.debating else 1)

    def adapt_one(self, inst: Instance, pool: FewShotPool) -> AdaptedInstance:
        item = self.inner.adapt_one(inst, pool)
        if not self.debating:
            return item
        return AdaptedInstance(inst, debate.agent_requests(item.requests[0], self.agents), item.prompt,
                               item.fewshot_dropped)

    def score(self, inst: Instance, pred: Prediction) -> float:
        return self._main(inst, pred, None).get(self.main_metric, 0.0)  # type: ignore[arg-type]

    def predict(self, adapted: AdaptedInstance, results: Sequence[Result]) -> Prediction:
        inst, seed = adapted.instance, self.inner.spec.seed
        if not self.debating:
            pred = self.inner.predict(adapted, results)
            return self_consistency.decide(pred, inst, self.inner, self.main_metric,
                                           lambda p: self.score(inst, p), seed)
        pred = Prediction(text=None, requests=len(results), latency_s=sum(r.latency_s for r in results),
                          prompt_tokens=sum(r.prompt_tokens or 0 for r in results),
                          completion_tokens=sum(r.completion_tokens or 0 for r in results))
        failed = [r for r in results if not r.ok]
        if failed or len(results) != self.agents * self.rounds:
            pred.error = (failed[0].error if failed else None) or "a debate round was not asked"
            pred.completions = debate.transcript(list(results), self.agents)
            return pred
        last = [debate.answer_of(r) for r in results[-self.agents:]]
        pred.text, pred.completions = last[0], last
        out = self_consistency.decide(pred, inst, self.inner, self.main_metric, lambda p: self.score(inst, p), seed)
        out.completions = debate.transcript(list(results), self.agents)
        return out
