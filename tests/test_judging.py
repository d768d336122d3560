"""Judges as a metric kind (harness.judging) against the stub server's judge modes (tests/stub_server.py): graders
inside a run, pairwise comparison in both orders, Bradley–Terry with intervals, position bias, self-judging marks,
parse failures, multi-turn MT-Bench, and the suite keys' errors."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from conftest import run_cli

from harness.adapters.base import AdaptedInstance
from harness.adapters.multi_turn_chat import MultiTurnChatAdapter
from harness.adapters.spec import AdapterSpec
from harness.clients.request import Result
from harness.instance import Instance
from harness.judging.rubric import load_rubric


def _models(path: Path, candidates: str, judges: dict[str, str]) -> Path:
    lines = [f"- {{name: m1, client: openai-compatible, model: m1, base_url: '{candidates}', api: chat, family: alpha}}",
             f"- {{name: m2, client: openai-compatible, model: m2, base_url: '{candidates}', api: chat}}",
             f"- {{name: m3, client: openai-compatible, model: m3, base_url: '{candidates}', api: completions}}"]
    lines += [f"- {{name: {name}, client: openai-compatible, model: judge, base_url: '{url}', api: chat"
              + (", family: alpha}" if name == "judge-good" else "}") for name, url in judges.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def _suite(path: Path, judges: str, pairwise: str = "", instances: int = 3) -> Path:
    path.write_text(f"""name: judged-test
models: [m1, m2, m3]
entries:
  - scenario: mt_bench
    max_instances: {instances}
    judges:
{judges}
{pairwise}""")
    return path


def _open(tmp_path: Path):  # noqa: ANN202
    from harness.store.store import open_store

    return open_store(f"sqlite:///{tmp_path / 'out' / 'harness.db'}")


def test_pairwise_over_three_models(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    good = stub_factory("--latency", "0", "--judge-mode", "rubric", "--answers-by-model")
    first = stub_factory("--latency", "0", "--judge-mode", "first")
    models = _models(tmp_path / "models.yaml", good.base_url, {"judge-good": good.base_url,
                                                                "judge-first": first.base_url})
    suite = _suite(tmp_path / "suite.yaml", """      - {deployment: judge-good, rubric: single}
      - {deployment: judge-good, rubric: pairwise}
      - {deployment: judge-first, rubric: pairwise}""", "    pairwise: all\n")
    done = run_cli("run", str(suite), "--models-file", str(models), "--output", str(tmp_path / "out"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "[self-judged]" in done.stdout  # m1 is of judge-good's family

    from harness.summary import StoredInstances, build_report

    store = _open(tmp_path)
    try:
        report = build_report(store, "judged-test")
        judging = report.judging
        arena = judging.arenas[0]
        assert sorted(arena.scores) == ["m1", "m2", "m3"]
        for score, low, high in arena.scores.values():
            assert low <= score <= high and low < high
        assert abs(sum(s for s, _, _ in arena.scores.values()) / 3 - 1000) < 1e-6
        # 3 pairs x 3 instances x 2 turns, from each of the two judges
        assert arena.battles == 2 * 3 * 3 * 2
        by_judge = {(j.judge, j.rubric): j for j in judging.judges}
        biased, fair = by_judge[("judge-first", "pairwise")], by_judge[("judge-good", "pairwise")]
        assert biased.consistency == 0.0 and biased.comparisons == 18
        assert all(raw == 0.5 for raw, _ in biased.win_rates.values())  # its verdicts all became ties
        assert fair.consistency == 1.0
        assert [(a.kind, a.statistic, a.items) for a in judging.agreement] == [("pairwise", "Cohen's kappa", 18)]
        assert any(raw != 0.5 for raw, _ in fair.win_rates.values())
        column = next(c for c in report.leaderboard.columns if c.metric == "bradley_terry")
        assert {m for (m, g) in report.leaderboard.cells if g == column.group} == {"m1", "m2", "m3"}
        assert ("m1", "mt_bench") in report.leaderboard.marks and ("m2", "mt_bench") not in report.leaderboard.marks
        assert by_judge[("judge-good", "single")].self_judged == ["m1"]
        # Two turns, the model's own first answer in the second prompt.
        m1 = next(r for r in report.runs if r.model == "m1")
        for inst in StoredInstances(store).instances(m1.run_id):
            first_answer = inst.outputs[0].strip()
            assert len(inst.outputs) == 2 and first_answer and first_answer in inst.prompt
        rows = store.judgments([m1.run_id], prompts=True)
        single = [r for r in rows if r["ordering"] == "single"]
        assert sorted({r["turn"] for r in single}) == [1, 2] and len(single) == 6
        assert all(r["reply"] and "[[" in r["reply"] and r["prompt"] and r["rubric_hash"] == load_rubric("single").version
                   for r in single)
        stats = {s.metric for s in m1.scores.values()}
        assert {"judge_score", "judge_score_turn1", "judge_score_turn2", "judge_unparsed"} <= stats
    finally:
        store.close()
    # The run page carries the judgments beside the answer; the judging page exists.
    site = tmp_path / "out" / "site" / "judged-test"
    page = next((site / "runs").glob("*m1*/index.html")).read_text()
    assert '"judgments":' in page and "judge-first" in page
    assert "Position consistency" in (site / "judging.html").read_text()


def test_unparsable_replies_are_counted_never_scored(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    candidates = stub_factory("--latency", "0")
    bad = stub_factory("--latency", "0", "--judge-mode", "bad")
    models = _models(tmp_path / "models.yaml", candidates.base_url, {"judge-bad": bad.base_url})
    suite = _suite(tmp_path / "suite.yaml", "      - {deployment: judge-bad, rubric: single}", instances=2)
    done = run_cli("run", str(suite), "--models", "m2", "--models-file", str(models), "--output",
                   str(tmp_path / "out"), "--no-site", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    store = _open(tmp_path)
    try:
        run = store.runs()[0]
        stats = {s["metric"]: s["mean"] for s in store.run_stats(run["run_id"])}
        assert stats["judge_unparsed"] == 2.0  # both turns of each instance
        assert "judge_score" not in stats
        rows = store.judgments([run["run_id"]])
        assert len(rows) == 4 and all(r["verdict"] is None and "no verdict" in r["parse_error"] for r in rows)
    finally:
        store.close()
    assert "unparsed" in done.stdout and " 4 " in done.stdout.split("judges:")[1]


def test_rubric_verdicts() -> None:
    single = load_rubric("single")
    assert single.parse("fine.\n[[7]]") == ("7", None)
    assert single.parse("[[7]] or maybe [[8]]")[0] is None  # several different verdicts: none
    assert single.parse("[[7]] ... so [[7]]") == ("7", None)
    assert "outside the scale" in single.parse("[[11]]")[1]
    assert single.parse("")[0] is None
    pairwise = load_rubric("pairwise")
    assert [pairwise.parse(f"[[{x}]]")[0] for x in "ABC"] == ["first", "second", "tie"]
    refusal = load_rubric("refusal")
    assert refusal.parse("[[2_full_refusal]]") == ("2_full_refusal", None)
    # braces in an answer are text, not template fields
    assert "{x}" in single.render(question="q", answer="{x}", history="", turn="1")[1]


def test_multi_turn_completions_rendering() -> None:
    spec = AdapterSpec(method="multi_turn_chat", input_prefix="User: ", output_prefix="Assistant: ")
    adapter = MultiTurnChatAdapter(spec)
    inst = Instance("1", "first?", (), extra={"turns": json.dumps(["first?", "second?"])})
    item = adapter.adapt_one(inst, adapter.fewshot_pool([]))
    assert item.prompt == "User: first?\nAssistant:"
    following = adapter.next_turn(item, [Result(ok=True, texts=[" one "])])
    assert isinstance(following, AdaptedInstance) and len(following.requests) == 2
    assert following.requests[-1].prompt == "User: first?\nAssistant: one\n\nUser: second?\nAssistant:"
    assert adapter.next_turn(following, [Result(ok=True, texts=["one"]), Result(ok=True, texts=["two"])]) is None
    assert adapter.next_turn(item, [Result.failure("boom")]) is None  # a failed turn ends the conversation
    chat = MultiTurnChatAdapter(spec, chat=True)
    messages = chat.next_turn(chat.adapt_one(inst, chat.fewshot_pool([])), [Result(ok=True, texts=["one"])])
    assert messages is not None
    assert messages.requests[-1].messages == (("user", "first?"), ("assistant", "one"), ("user", "second?"))


@pytest.mark.parametrize("judges, pairwise, expected", [
    ("      - {deployment: j, rubric: nosuch}", "", ":7: rubric: no rubric 'nosuch'"),
    ("      - {deployment: j, rubric: pairwise}", "", "judges: a pairwise rubric needs"),
    ("      - {deployment: j, rubric: single}", "    pairwise: all\n", "pairwise: pairwise needs a judge"),
    ("      - {deployment: nobody, rubric: single}", "", ":7: deployment: unknown judge deployment 'nobody'"),
    ("      - {deployment: j, rubric: single}\n      - {deployment: j, rubric: pairwise}", "    pairwise: {baseline: zz}\n",
     ":9: baseline: pairwise baseline 'zz' is not one of the models run"),
    ("      - {deployment: j, rubric: pairwise}", "    pairwise: all\n",
     "main_metric: judge_score comes from a judge"),
    ("      - {deployment: j, rubric: single}", "    main_metric: judge_score_nosuch_thing\n", None),
])
def test_suite_errors(tmp_path: Path, judges: str, pairwise: str, expected: str) -> None:
    models = tmp_path / "models.yaml"
    models.write_text("- {name: m1, client: chance}\n- {name: m2, client: chance}\n- {name: m3, client: chance}\n"
                      "- {name: j, client: chance}\n")
    suite = _suite(tmp_path / "suite.yaml", judges, pairwise)
    done = run_cli("run", str(suite), "--models-file", str(models), "--output", str(tmp_path / "out"), cwd=tmp_path)
    if expected is None:  # a judge stat (a category this scenario lacks is only empty): accepted
        assert done.returncode == 0, done.stderr
        return
    assert done.returncode == 2 and expected in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_pairs_against_a_baseline_or_all() -> None:
    from harness.judging.pairwise_phase import pairs_of
    from harness.run_spec import PairwiseSpec, RunSpec

    spec = RunSpec("mt_bench", {}, AdapterSpec(), (), "mt_bench", pairwise=PairwiseSpec("b"))
    assert pairs_of(spec, ["a", "b", "c"]) == [("a", "b"), ("c", "b")]
    spec = RunSpec("mt_bench", {}, AdapterSpec(), (), "mt_bench", pairwise=PairwiseSpec(None))
    assert pairs_of(spec, ["a", "b", "c"]) == [("a", "b"), ("a", "c"), ("b", "c")]


def test_judge_check_with_a_judge_model(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    good = stub_factory("--latency", "0", "--judge-mode", "rubric")
    bad = stub_factory("--latency", "0", "--judge-mode", "bad")
    models = _models(tmp_path / "models.yaml", good.base_url, {"judge-good": good.base_url, "judge-bad": bad.base_url})
    args = ["judge-check", "--rubric", "refusal", "--models-file", str(models), "--limit", "40",
            "--output", str(tmp_path / "out")]
    done = run_cli(*args, "--judge", "judge-good", "--json", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["judge"] == "judge-good" and report["unparsed"] == 0 and report["n"] == 40
    again = run_cli(*args, "--judge", "judge-good", cwd=tmp_path)  # the replies come from the store
    assert again.returncode == 0 and "0 judge requests sent, 40 from the store" in again.stdout
    assert good.stats()["chat_completions"] == 40
    unreadable = run_cli(*args, "--judge", "judge-bad", cwd=tmp_path)
    assert unreadable.returncode == 2 and "no reply of judge-bad had a verdict" in unreadable.stderr


def test_judge_flag_replaces_every_judge(tmp_path: Path, stub_factory) -> None:  # noqa: ANN001
    candidates = stub_factory("--latency", "0")
    judge = stub_factory("--latency", "0", "--judge-mode", "rubric")
    models = _models(tmp_path / "models.yaml", candidates.base_url, {"judge-good": judge.base_url})
    suite = _suite(tmp_path / "suite.yaml", "      - {deployment: not-a-deployment, rubric: single}", instances=1)
    out = ["--models", "m2", "--models-file", str(models), "--output", str(tmp_path / "out"), "--no-site"]
    done = run_cli("run", str(suite), *out, "--judge", "judge-good", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert judge.stats()["chat_completions"] == 2  # both turns graded by the judge named on the command line
    wrong = run_cli("run", str(suite), *out, "--judge", "nobody", cwd=tmp_path)
    assert wrong.returncode == 2 and "--judge: unknown deployment 'nobody'" in wrong.stderr


def test_arena_ranks_imported_votes(tmp_path: Path) -> None:
    votes = tmp_path / "votes.csv"
    votes.write_text("model_a,model_b,winner\n" + "strong,weak,model_a\n" * 8 + "weak,strong,model_b\n" * 4
                     + "strong,weak,model_b\n" + "mid,weak,model_a\n" * 3 + "mid,strong,model_b\n" * 3
                     + "weak,mid,tie\n")
    done = run_cli("arena", "--votes", str(votes), "--json", "--resamples", "200", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert list(report["scores"]) == ["strong", "mid", "weak"] and report["battles"] == 20
    for score, low, high in report["scores"].values():
        assert low <= score <= high
    votes.write_text("model_a,model_b,winner\nstrong,weak,model_a\nstrong,weak,maybe\n")
    bad = run_cli("arena", "--votes", str(votes), cwd=tmp_path)
    assert bad.returncode == 2 and f"{votes}:3: winner:" in bad.stderr


def test_judgments_are_stored_and_replaced(db_url: str) -> None:
    from harness.store.store import open_store

    def row(run_id: str, other: str, judge: str, ordering: str, verdict: str | None) -> dict:
        return {"run_id": run_id, "other_run_id": other, "instance_id": "i1", "judge": judge, "rubric": "pairwise",
                "turn": 1, "ordering": ordering, "rubric_hash": "h" * 64, "kind": "pairwise", "request_key": "k" * 32,
                "prompt": f"judge {judge}: which is better?", "reply": "A\x00B [[A]]", "verdict": verdict,
                "parse_error": None if verdict else "no verdict", "self_judged": 2, "length_diff": -3}

    store = open_store(db_url)
    try:
        store.save_judgments([("a", "b")], [row("a", "b", "j1", "ab", "first"), row("a", "b", "j1", "ba", None),
                                            row("a", "b", "j2", "ab", "tie")])
        found = sorted(store.judgments(["b"], prompts=True), key=lambda r: (r["judge"], r["ordering"]))
        assert [(r["judge"], r["ordering"], r["verdict"]) for r in found] == [
            ("j1", "ab", "first"), ("j1", "ba", None), ("j2", "ab", "tie")]
        assert found[0]["prompt"] == "judge j1: which is better?" and found[0]["length_diff"] == -3
        assert found[0]["reply"] in ("A\x00B [[A]]", "A\ufffdB [[A]]")  # PostgreSQL stores NUL as U+FFFD
        # One judge's judgments of a pair are replaced; the other judge's stay.
        store.save_judgments([("a", "b")], [row("a", "b", "j1", "ab", "second")], judge="j1", rubric="pairwise")
        again = {(r["judge"], r["ordering"]): r["verdict"] for r in store.judgments(["a"])}
        assert again == {("j1", "ab"): "second", ("j2", "ab"): "tie"}
    finally:
        store.close()
