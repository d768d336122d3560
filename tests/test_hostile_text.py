"""Hostile text: answers, errors and scenario rows holding lone surrogates, NUL, bytes that are not UTF-8 or terminal
escapes are stored and shown with U+FFFD (harness.text), on both store paths and both databases; and API keys that a
server quotes back are redacted everywhere harness writes or prints (harness.clients.secrets)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import run_cli

from harness.clients.request import Request, Result
from harness.store.store import open_store
from harness.text import clean, clean_bytes, clean_value

# What must never be stored or shown: lone surrogates, C0 controls but tab/newline/CR, DEL, C1 controls.
UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def test_clean_replaces_only_what_cannot_be_stored_or_shown() -> None:
    assert clean("x \ud800 y\x00z\x1b[31m\x9b\x7f") == "x \ufffd y\ufffdz\ufffd[31m\ufffd\ufffd"
    ordinary = "Tab\tnew\nline\r\n, é, 漢字, \U0001f600"
    assert clean(ordinary) is ordinary  # nothing to do: the same object, no copy
    assert clean_bytes(b"ok \xff\xfe \x00") == "ok \ufffd\ufffd \ufffd"
    row = {"a": ["x", {"b\x00": "\udfff"}], "n": 1}
    assert clean_value(row) == {"a": ["x", {"b\ufffd": "\ufffd"}], "n": 1}
    same = {"a": ["x", {"b": "c"}], "n": None}
    assert clean_value(same) is same


def _row(i: int, result: Result) -> tuple[str, str, str, dict[str, Any], Result]:
    return (f"k{i}", "dep", "model", Request(kind="generate", prompt=f"Question {i}?").to_json(), result)


def test_a_result_that_cannot_be_encoded_costs_that_result_not_its_batch(db_url: str) -> None:
    """A result given to the store as it is (not through a client, which cleans it) with a lone surrogate: the rest
    of the batch is stored, and it is stored failed with the reason; a request whose prompt holds one is stored."""
    store = open_store(db_url)
    try:
        rows = [_row(i, Result(ok=True, texts=[f"answer {i}"])) for i in range(5)]
        rows[2] = _row(2, Result(ok=True, texts=["x \ud800"], latency_s=0.25))
        rows.append(("k9", "dep", "model", Request(kind="generate", prompt="bad \udfff prompt").to_json(),
                     Result(ok=True, texts=["fine"])))
        store.save_results(rows)
        got = store.results([f"k{i}" for i in (0, 1, 2, 3, 4, 9)])
        assert len(got) == 6 and all(got[f"k{i}"].ok for i in (0, 1, 3, 4))
        assert not got["k2"].ok and got["k2"].error.startswith("the answer could not be stored: ")
        assert got["k2"].latency_s == 0.25
        assert not got["k9"].ok and store.request_rows(["k9"])["k9"]["request"]["prompt"] == "bad \ufffd prompt"
        assert not UNSAFE.search(got["k2"].error)
    finally:
        store.close()


def _models(tmp_path: Path, base_url: str, concurrency: int, name: str = "local/stub", **extra: object) -> Path:
    path = tmp_path / "models.yaml"
    fields = {"client": "openai-compatible", "base_url": base_url, "model": "stub-model",
              "max_concurrency": concurrency, **extra}
    with path.open("a") as out:
        out.write(f"- name: {name}\n" + "".join(f"  {k}: {v}\n" for k, v in fields.items()))
    return path


def _stored(db_url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every request row (request and result whole) and every instance, through the Store API."""
    store = open_store(db_url)
    try:
        requests = list(store.request_rows().values())
        instances = [row for run in store.runs() for row in store.iter_instances(run["run_id"])]
        return requests, instances
    finally:
        store.close()


@pytest.mark.parametrize("concurrency", [8, 64])
def test_hostile_answers_are_stored_once_with_replacement_characters(
        db_url: str, concurrency: int, tmp_path: Path, stub_factory: Any) -> None:
    """Half the answers hold a lone surrogate, NUL, bytes that are not UTF-8 or terminal escapes: the run stores every
    answer once, as a success, with U+FFFD for each of those, and shows them so on the site; a rerun sends nothing."""
    items = 120
    stub = stub_factory("--latency", "0", "--max-concurrency", "0", "--hostile-rate", "0.5")
    (tmp_path / "suite.yaml").write_text(f"name: hostile\nentries:\n  - scenario: boolq\n    max_instances: {items}\n")
    models = _models(tmp_path, stub.base_url, concurrency)
    args = ["run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
            "--db", db_url]
    first = run_cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "Traceback" not in first.stderr and "the store failed" not in first.stderr
    assert f"{items} sent, 0 from the store, 0 failed" in first.stdout
    requests, instances = _stored(db_url)
    assert len(requests) == items and all(row["result"]["ok"] for row in requests)
    texts = [t for row in requests for t in row["result"]["texts"]]
    hostile = [t for t in texts if t.startswith("x ")]
    assert 0.3 * items < len(hostile) < 0.7 * items and all("\ufffd" in t for t in hostile)
    assert any("\ufffd[31mred" in t for t in hostile)  # a terminal escape: its ESC replaced, the rest kept
    assert not any(UNSAFE.search(t) for t in texts)
    predictions = [row["prediction"] for row in instances]
    assert len(instances) == items and sum("\ufffd" in p for p in predictions) == len(hostile)
    pages = [p.read_text(encoding="utf-8") for p in (tmp_path / "out" / "site").rglob("*.html")]
    assert any("\ufffd" in page for page in pages) and not any(UNSAFE.search(page) for page in pages)

    sent = stub.stats()["total_requests"]
    assert sent == items  # each answered once: none retried as malformed
    second = run_cli(*args, "--no-site", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert f"0 sent, {items} from the store, 0 failed" in second.stdout
    assert stub.stats()["total_requests"] == sent


def test_a_custom_scenario_with_hostile_text_runs_and_stores_it_cleaned(db_url: str, tmp_path: Path,
                                                                        stub_factory: Any) -> None:
    """A custom scenario's JSONL with an escaped lone surrogate, an escaped NUL, a terminal escape and bytes that are
    not UTF-8: the rows are read with U+FFFD in their place, sent, stored and shown."""
    rows = [b'{"id": "s", "question": "lone \\ud800 surrogate?", "answer": "yes"}',
            b'{"id": "n", "question": "nul \\u0000 here?", "answer": "no"}',
            b'{"id": "e", "question": "escape \\u001b[2J here?", "answer": "yes"}',
            b'{"id": "b", "question": "bytes \xff\xfe here?", "answer": "no"}',
            b'{"id": "ok", "question": "plain?", "answer": "yes"}']
    (tmp_path / "data.jsonl").write_bytes(b"\n".join(rows) + b"\n")
    (tmp_path / "mine.yaml").write_text("name: hostile_rows\ndata: data.jsonl\n"
                                        "fields: {id: id, input: question, references: answer}\n"
                                        "method: generation\nmetrics: [exact_match]\n")
    (tmp_path / "suite.yaml").write_text("name: custom\nentries:\n  - scenario: mine.yaml\n")
    stub = stub_factory("--latency", "0")
    models = _models(tmp_path, stub.base_url, 4)
    proc = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                   "--db", db_url, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "5 sent, 0 from the store, 0 failed" in proc.stdout
    requests, instances = _stored(db_url)
    inputs = {row["instance_id"]: row["input"] for row in instances}
    assert inputs == {"s": "lone \ufffd surrogate?", "n": "nul \ufffd here?", "e": "escape \ufffd[2J here?",
                      "b": "bytes \ufffd\ufffd here?", "ok": "plain?"}
    prompts = [row["request"]["prompt"] for row in requests]
    assert len(prompts) == 5 and not any(UNSAFE.search(p) for p in prompts)
    assert any("lone \ufffd surrogate?" in p for p in prompts)
    again = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                    "--db", db_url, "--no-site", cwd=tmp_path)
    assert again.returncode == 0 and "0 sent, 5 from the store" in again.stdout, again.stderr


# --- secrets ------------------------------------------------------------------------------------------------------

KEY = "sk-hx-" + "7f3a9c1e5b2d8046" * 2


def test_a_key_quoted_back_by_the_server_is_never_stored_shown_or_printed(tmp_path: Path, stub_factory: Any) -> None:
    """Four servers quote the Authorization header and the bare key back: in a 401, a 400 and a 500 error body, and in
    a 200 answer's text. Afterwards no file under the output folder (the database read as bytes, the site), nothing
    the Store API reads back (prompts are stored compressed) and nothing the CLI printed holds the key, nor even its
    first 10 characters (what a reason cut short could leave of it)."""
    names = []
    for status in (401, 400, 500, 200):
        stub = stub_factory("--latency", "0", "--api-key", KEY, "--echo-key-status", str(status))
        names.append(f"echo-{status}")
        models = _models(tmp_path, stub.base_url, 4, name=names[-1], api_key_env="HARNESS_TEST_KEY", max_attempts=2)
    (tmp_path / "suite.yaml").write_text("name: secrets\nentries:\n  - scenario: boolq\n    max_instances: 6\n")
    args = ["run", "suite.yaml", "--models", ",".join(names), "--models-file", str(models), "--output", "out"]
    env = {"HARNESS_TEST_KEY": KEY}
    proc = run_cli(*args, cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    again = run_cli(*args, cwd=tmp_path, env=env)  # the failed requests once more, and the site again
    summary = run_cli("summarize", "--output", "out", cwd=tmp_path, env=env)
    half = KEY[:10]
    for output in (proc.stdout, proc.stderr, again.stdout, again.stderr, summary.stdout, summary.stderr):
        assert half not in output
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.name == "harness.db" for p in files) and any(p.suffix == ".html" for p in files)
    for path in files:
        assert half.encode() not in path.read_bytes(), path
    requests, instances = _stored(f"sqlite:///{tmp_path}/out/harness.db")
    stored = repr(requests) + repr(instances)
    assert half not in stored
    # The servers did quote it: what they said is kept, with the key masked.
    errors = {row["deployment"]: row["result"]["error"] for row in requests if not row["result"]["ok"]}
    assert set(errors) == {"echo-401", "echo-400", "echo-500"}
    assert all("Authorization: Bearer ***" in e for e in errors.values()), errors
    answers = [t for row in requests if row["deployment"] == "echo-200" for t in row["result"]["texts"]]
    assert len(answers) == 6 and all("Authorization: Bearer *** (so the key is ***)" in a for a in answers)


def test_shipped_jsonl_rows_with_hostile_text_are_read_cleaned(tmp_path: Path) -> None:
    """harness.scenarios.jsonl (shipped and downloaded data): a row orjson rejects (an escaped lone surrogate, bytes
    that are not UTF-8) is read by json with U+FFFD in their place, and escapes it accepts (NUL, ESC) are cleaned."""
    import gzip

    from harness.scenarios.jsonl import read_instances

    rows = [b'{"id": "s", "split": "test", "input": "lone \\ud800?", "references": ["a"]}',
            b'{"id": "b", "split": "test", "input": "bytes \xff?", "references": ["b\\u0000"]}',
            b'{"id": "e", "split": "test", "input": "esc \\u001b[2J and del \x7f?", "references": ["c"]}',
            b'{"id": "ok", "split": "test", "input": "plain?", "references": ["d"]}']
    path = tmp_path / "test.jsonl.gz"
    path.write_bytes(gzip.compress(b"\n".join(rows) + b"\n"))
    got = {inst.id: (inst.input, inst.references[0].output) for inst in read_instances(path)}
    assert got == {"s": ("lone \ufffd?", "a"), "b": ("bytes \ufffd?", "b\ufffd"),
                   "e": ("esc \ufffd[2J and del \ufffd?", "c"), "ok": ("plain?", "d")}
