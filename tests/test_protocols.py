"""Protocols (harness/protocols): self-consistency's majority and tie rule, debate's message flow, and the
agreement metrics against hand-computed values; suites with plain, self_consistency and debate runs side by side."""

from __future__ import annotations

import json
import math
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness.adapters.base import Prediction
from harness.adapters.registry import make_adapter
from harness.adapters.spec import AdapterSpec
from harness.clients.request import Request, Result
from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.metrics.agreement import (accuracy_agreement_mid, accuracy_agreement_unanimous, agreement_auroc,
                                       agreement_ece_10_bin, pass_at_k, self_consistency)
from harness.protocols import ProtocolSpec, parse_protocol
from harness.protocols.adapter import ProtocolAdapter
from harness.protocols.debate import HEADER, round_request
from harness.protocols.self_consistency import majority
from tests.conftest import run_cli
from tests.test_e2e_http import models_file

GSM = Instance("q1", "What is 2 + 2?", (Reference("4", (CORRECT,)),))
MC = Instance("m1", "Pick one.", tuple(Reference(c, (CORRECT,) if c == "red" else ()) for c in ("red", "blue", "green")))


def test_majority_ignores_missing_answers_and_breaks_ties_by_a_seeded_rule() -> None:
    assert majority(["4", "5", "4", None, None], 0, "q") == "4"
    assert majority([None, None], 0, "q") is None
    # A tie: the same winner whatever the order of the samples, and across seeds each of the tied keys can win.
    winners = {majority(["4", "5"], seed, "q") for seed in range(20)}
    assert winners == {"4", "5"}
    for seed in range(20):
        assert majority(["4", "5", "5", "4"], seed, "q") == majority(["5", "4", "4", "5"], seed, "q")


def sc_adapter(method: str, n: int = 5, main: str = "answer_number_match") -> ProtocolAdapter:
    spec = AdapterSpec(method=method, num_outputs=n, temperature=0.7)
    return ProtocolAdapter(make_adapter(spec), ProtocolSpec("self_consistency", (("n", n), ("temperature", 0.7))),
                           main)


def predict(adapter: ProtocolAdapter, inst: Instance, texts: list[str]) -> Prediction:
    item = adapter.adapt_one(inst, adapter.fewshot_pool([]))
    return adapter.predict(item, [Result(ok=True, texts=texts)])


def test_self_consistency_votes_over_the_scenarios_own_answer_extraction() -> None:
    adapter = sc_adapter("generation")
    # GSM8K's final number: "4.0" and "The answer is 4" are the same answer; "no idea" does not vote.
    pred = predict(adapter, GSM, ["So 5.", "The answer is 4.", "no idea", "4.0", "5 apples, so 4"])
    assert pred.votes is not None and pred.votes["keys"] == ["5", "4", None, "4", "4"]
    assert pred.votes["winner"] == "4" and pred.text == "The answer is 4."  # the first sample with the winner
    assert pred.votes["agreement"] == pytest.approx(3 / 5)  # of all n samples, the silent one included
    assert len(pred.completions) == 5
    # HELM's final_number_exact_match reads "4.0" as "4.0" (and scores it wrong): it votes apart from "4".
    pred = predict(sc_adapter("generation", main="final_number_exact_match"), GSM, ["4", "4.0", "4.0", "5"])
    assert pred.votes is not None and pred.votes["winner"] == "4.0"
    # Multiple choice: each sample read as the adapter reads a reply (its letter), the prediction a choice.
    adapter = sc_adapter("multiple_choice_joint", main="exact_match")
    pred = predict(adapter, MC, [" B", " A", " A.", "(A)", " C"])
    assert pred.text == "red" and pred.votes["agreement"] == pytest.approx(3 / 5)


def test_agreement_stats_maj_at_k_and_pass_at_k_by_hand() -> None:
    adapter = sc_adapter("multiple_choice_joint", main="exact_match")
    pred = predict(adapter, MC, [" A", " B", " B", " A", " A"])  # correct: A; scores 1 0 0 1 1
    stats = self_consistency(MC, pred, None)  # type: ignore[arg-type]
    assert stats["agreement"] == pytest.approx(0.6) and stats["_sc_correct"] == 1.0
    assert stats["maj@1"] == 1.0 and stats["maj@3"] == 0.0 and stats["maj@5"] == 1.0  # first 3: B, B beat A
    tie = majority(["red", "blue"], 0, MC.id)  # maj@2 is a tie, broken by the seeded rule
    assert stats["maj@2"] == float(tie == "red")
    assert stats["sample_pass@1"] == pytest.approx(3 / 5)
    assert stats["sample_pass@2"] == pytest.approx(1 - math.comb(2, 2) / math.comb(5, 2))  # 0.9
    assert stats["sample_pass@3"] == 1.0 and pass_at_k(5, 0, 3) == 0.0


def test_agreement_auroc_ece_and_accuracy_by_agreement_by_hand() -> None:
    columns = {"agreement": np.array([1.0, 0.8, 0.6, 0.4, 0.6]), "_sc_correct": np.array([1.0, 1.0, 0.0, 0.0, 1.0])}
    # positives 1.0, 0.8, 0.6 vs negatives 0.6, 0.4: 5 of 6 pairs higher, one tie (0.6 = 0.6) counts half
    assert agreement_auroc(columns) == pytest.approx(5.5 / 6)
    assert accuracy_agreement_unanimous(columns) == 1.0
    assert accuracy_agreement_mid(columns) == pytest.approx(2 / 3)  # 0.8, 0.6, 0.6: right, wrong, right
    # ECE with 10 equal-mass bins over 5 instances, equal confidences sharing one (HELM's rule): 1.0 -> 0,
    # 0.8 -> |0.8 - 1|, the two 0.6 -> 2 x |0.6 - 0.5|, 0.4 -> |0.4 - 0|; weighted by size over 5
    assert agreement_ece_10_bin(columns) == pytest.approx((0 + 0.2 + 2 * 0.1 + 0.4) / 5)
    assert math.isnan(agreement_auroc({"agreement": np.array([0.6]), "_sc_correct": np.array([1.0])}))


def test_debate_round_prompt_holds_exactly_the_others_previous_answers() -> None:
    base = Request(kind="generate", prompt="Q: 2+2?\nA:", seed=3)
    request = round_request(base, 1, [" 4", " 5\nwith a second line", " 6"], "A: ")
    assert request.prompt == (f"Q: 2+2?\n\n{HEADER}\nAgent 1: 4\nAgent 3: 6\n\nUsing their answers as additional "
                              "information, give your own answer.\nA:")
    assert request.seed == 3
    chat = Request(kind="generate", messages=(("user", "Q: 2+2?"),))
    assert "Agent 2: 5" in round_request(chat, 0, ["4", "5"], "").messages[-1][1]


def test_protocol_field_is_checked(tmp_path: Path) -> None:
    assert parse_protocol("self_consistency", "generation").params == (("n", 5), ("temperature", 0.7))
    for bad, message in [({"name": "vote"}, "unknown protocol"), ({"name": "debate", "agents": 0}, "between 1"),
                         ({"name": "self_consistency", "k": 3}, "no parameter 'k'"),
                         ({"name": "self_consistency", "n": 2.5}, "expected an integer"),
                         ({"name": "debate", "temperature": math.inf}, "finite number")]:
        with pytest.raises(HarnessError, match=message):
            parse_protocol(bad, "generation")
    with pytest.raises(HarnessError, match="needs method generation"):
        parse_protocol("debate", "multiple_choice_separate")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: gsm8k\n    protocol: {name: debate, rounds: 99}\n")
    out = run_cli("run", "suite.yaml", "--models", "chance", "--output", "out", cwd=tmp_path)
    assert out.returncode == 2 and "suite.yaml:3" in out.stderr and "rounds" in out.stderr


SUITE = """\
entries:
  - scenario: mmlu
    max_instances: 4
  - scenario: mmlu
    max_instances: 4
    protocol: {name: self_consistency, n: 5}
  - scenario: mmlu
    max_instances: 4
    protocol: {name: debate, agents: 3, rounds: 3}
"""


def run_suite(tmp_path: Path, stub: Any, suite: str = SUITE) -> dict[str, dict[str, float]]:
    (tmp_path / "suite.yaml").write_text(suite)
    models = models_file(tmp_path, stub.base_url)
    out = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert "mmlu (self_consistency n=5)" in out.stdout
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        rows = conn.execute("SELECT r.group_name, s.metric, s.mean FROM run_stats s JOIN runs r USING (run_id)")
        stats: dict[str, dict[str, float]] = {}
        for group, metric, mean in rows:
            stats.setdefault(group, {})[metric] = mean
    return stats


def test_debate_agents_see_exactly_the_others_previous_round(tmp_path: Path, stub_factory: Any) -> None:
    from harness.store.store import open_store

    stub = stub_factory("--latency", "0")
    stats = run_suite(tmp_path, stub)
    assert stub.stats()["total_requests"] == 4 + 4 + 4 * 3 * 3  # plain, one n=5 request each, agents x rounds
    store = open_store(f"sqlite:///{tmp_path / 'out' / 'harness.db'}")
    try:
        run = next(r["run_id"] for r in store.runs() if ",debate@" in r["run_id"])
        instances = list(store.iter_instances(run))
        rows = store.request_rows()
        for inst in instances:
            keys = json.loads(inst["request_keys"])
            assert len(keys) == 9
            requests = [json.loads(rows[k]["request"]) if isinstance(rows[k]["request"], str) else rows[k]["request"]
                        for k in keys]
            answers = [store.results([k])[k].texts[0] for k in keys]
            for r in range(1, 3):
                for k in range(3):
                    prompt = requests[r * 3 + k]["prompt"]
                    seen = [line for line in prompt.split("\n") if line.startswith("Agent ")]
                    assert seen == [f"Agent {j + 1}: {answers[(r - 1) * 3 + j].strip()}" for j in range(3) if j != k]
            transcript = json.loads(inst["outputs"])
            shown = f"agent 1: {answers[0].strip()}; agent 3: {answers[2].strip()}"
            assert transcript[4] == f"round 2 · agent 2 (shown {shown}):\n{answers[4]}"
            assert transcript[0] == f"round 1 · agent 1:\n{answers[0]}"
    finally:
        store.close()
    assert 0 < stats["mmlu (self_consistency n=5)"]["agreement"] < 1  # the stub's samples vary with their index
    for group in ("mmlu (self_consistency n=5)", "mmlu (debate agents=3 rounds=3)"):
        assert "agreement_ece_10_bin" in stats[group] and "completion_tokens" in stats[group]
    assert stats["mmlu (debate agents=3 rounds=3)"]["completion_tokens"] == 9  # one token per message, nine each


def test_samples_that_always_agree(tmp_path: Path, stub_factory: Any) -> None:
    suite = "\n".join(SUITE.split("\n")[:6]).replace("max_instances: 4", "max_instances: 24") + "\n"
    stats = run_suite(tmp_path, stub_factory("--latency", "0", "--samples-agree"), suite)
    sc = stats["mmlu (self_consistency n=5)"]
    assert sc["agreement"] == 1.0 and sc["exact_match"] > 0
    # Every sample the plain answer: the vote changes nothing, and accuracy where unanimous is the accuracy.
    assert sc["exact_match"] == stats["mmlu"]["exact_match"] == sc.get("accuracy_agreement_unanimous", 0.0)
    assert sc["sample_pass@5"] == sc["maj@5"] == sc["exact_match"]
