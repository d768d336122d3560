"""The store on SQLite and on a real PostgreSQL: each test that takes `store` or `db_url` runs on both."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.records import Request, Result
from harness.errors import HarnessError
from harness.store.store import Store, open_store, sqlite_url, text_hash


@pytest.fixture()
def store(db_url: str) -> Iterator[Store]:
    store = open_store(db_url)
    yield store
    store.close()


def row(key: str, result: Result) -> tuple:
    return (key, "dep", "model", Request(kind="generate", prompt=key).to_json(), result)


def test_sqlite_is_wal(tmp_path: Path) -> None:
    # SQLite only: WAL is its journal mode (readers and the writer never block each other); PostgreSQL has MVCC.
    open_store(sqlite_url(tmp_path)).close()
    with sqlite3.connect(tmp_path / "harness.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_success_replaces_failure_but_nothing_replaces_success(store: Store) -> None:
    store.save_results([row("a", Result.failure("HTTP 500")), row("b", Result(ok=True, texts=["first"]))])
    assert set(store.completed(["a", "b", "c"])) == {"b"}
    assert store.results(["a"])["a"].error == "HTTP 500"
    store.save_results([row("a", Result(ok=True, texts=["fixed"])), row("b", Result(ok=True, texts=["second"]))])
    store.save_results([row("b", Result.failure("late failure"))])
    done = store.completed(["a", "b"])
    assert done["a"].texts == ["fixed"] and done["b"].texts == ["first"]


def test_completed_and_results_handle_many_keys(store: Store) -> None:
    # More keys than one IN (...) holds (_CHUNK), and than one multi-row INSERT batch.
    store.save_results([row(f"k{i}", Result(ok=True, texts=[str(i)]) if i % 10 else Result.failure(f"e{i}"))
                        for i in range(1234)])
    keys = [f"k{i}" for i in range(1300)]
    found = store.completed(keys)
    assert len(found) == 1234 - 124 and found["k77"].texts == ["77"] and "k70" not in found
    everything = store.results(keys + keys[:600])  # duplicates asked once
    assert len(everything) == 1234 and everything["k1230"].error == "e1230" and everything["k1233"].ok


def _run(run_id: str, n: int, suite: str = "s") -> tuple[dict, list[dict], list[dict]]:
    run = {"run_id": run_id, "suite": suite, "model": "m", "scenario": "sc", "group_name": "g", "method": "generation",
           "main_metric": "exact_match", "adapter_spec": "{}", "metrics": "[]", "instances": n, "failed_requests": 0,
           "truncated_instances": 0}
    instances = [{"run_id": run_id, "instance_id": f"i{i}", "position": i, "input": f"in{i}", "references": "[]",
                  "prompt": "p", "request_keys": json.dumps([f"k{i}"]), "prediction": "x", "outputs": "[]",
                  "fewshot_dropped": 0, "error": None, "stats": {"exact_match": float(i % 2)}} for i in range(n)]
    run_stats = [{"run_id": run_id, "metric": "exact_match", "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6, "count": n, "lower_is_better": 0}]
    return run, instances, run_stats


def test_save_run_replaces_and_streams_in_order(store: Store) -> None:
    store.save_run(*_run("r1", 10))
    store.save_run(*_run("r1", 2500))  # a rerun replaces the run's rows
    rows = list(store.iter_instances("r1", batch=1000))
    assert [r["position"] for r in rows] == list(range(2500))
    assert rows[3]["stats"] == {"exact_match": 1.0}
    assert len(store.runs("s")) == 1 and store.suites() == ["s"]
    assert store.run_stats("r1")[0]["count"] == 2500


@pytest.mark.parametrize("url,match", [
    ("notaurl", "bad database URL"),
    ("nosuchdialect://x/y", "bad database URL"),
    ("sqlite:////etc/passwd/x.db", "database"),
    ("postgresql+psycopg://u:p@127.0.0.1:1/db", "database"),
])
def test_bad_db_url_is_a_one_line_error(url: str, match: str) -> None:
    with pytest.raises(HarnessError, match=match) as info:
        open_store(url)
    assert "\n" not in info.value.one_line()


def test_prompts_stored_once_and_restored_exactly(store: Store) -> None:
    prompt = "Question: 2+2?\nAnswer:" * 50
    rows = [(f"k{i}", "dep", "model", Request(kind="logprob", prompt=prompt, continuation=f" {i}").to_json(),
             Result(ok=True, logprob=-1.0)) for i in range(4)]
    store.save_results(rows)
    store.save_results(rows[:1])  # idempotent
    with store.db.connect() as conn:
        assert conn.rows("SELECT count(*) FROM texts") == [(1,)]
        assert conn.rows("SELECT text FROM prompts") == [(prompt,)]  # as text, for any SQL tool
    restored = store.request_rows(["k2"])["k2"]
    assert restored["request"] == rows[2][3]
    assert Request.from_json(restored["request"]).key("dep", "model") == Request(kind="logprob", prompt=prompt, continuation=" 2").key("dep", "model")


def _prompt_rows(prompts: dict[str, str]) -> list[tuple]:
    return [(key, "dep", "model", Request(kind="generate", prompt=p).to_json(), Result(ok=True, texts=["x"]))
            for key, p in prompts.items()]


def _stored_head(store: Store, prompt: str) -> str | None:
    with store.db.connect() as conn:
        ((head,),) = conn.rows("SELECT head FROM texts WHERE hash = ?", (text_hash(prompt),))
    return head


def test_a_head_found_in_one_batch_serves_the_next(store: Store) -> None:
    head = "The following are questions about algebra.\n" + "Q: 1+1?\nA: 2\n" * 20
    store.save_results(_prompt_rows({"a": head + "Q: 2+2?\nA:", "b": head + "Q: 3+3?\nA:"}))
    # alone in its batch, this prompt has no neighbour to share a head with: the head is the one found before
    store.save_results(_prompt_rows({"c": head + "Q: 4+4?\nA:"}))
    assert _stored_head(store, head + "Q: 4+4?\nA:") == text_hash(head)
    assert store.request_rows(["c"])["c"]["request"]["prompt"] == head + "Q: 4+4?\nA:"


def test_a_head_that_was_stored_as_a_prompt_is_read_back_whole(db_url: str) -> None:
    outer = "g" * 250 + "\n"
    inner = outer + "line one\n"  # first a prompt stored with `outer` as its head ...
    first = open_store(db_url)
    first.save_results(_prompt_rows({"p": inner, "q": outer + "other line\n"}))
    first.close()
    second = open_store(db_url)  # ... then, in another process, the head of two new prompts
    try:
        second.save_results(_prompt_rows({"r": inner + "Q: r", "s": inner + "Q: s"}))
        # one level of heads (the `prompts` view joins once): r and s are cut at inner's own head, not at inner
        assert _stored_head(second, inner) == text_hash(outer) and _stored_head(second, inner + "Q: r") == text_hash(outer)
        rows = second.request_rows(["p", "r", "s"])
        assert [rows[k]["request"]["prompt"] for k in "prs"] == [inner, inner + "Q: r", inner + "Q: s"]
        with second.db.connect() as conn:
            assert conn.rows("SELECT count(*) FROM texts t JOIN texts h ON h.hash = t.head WHERE h.head IS NOT NULL") == [(0,)]
            viewed = dict(conn.rows("SELECT hash, text FROM prompts"))
        assert all(viewed[text_hash(p)] == p for p in (inner, inner + "Q: r", inner + "Q: s", outer))
    finally:
        second.close()


def test_failed_save_run_keeps_the_old_run(store: Store) -> None:
    store.save_run(*_run("r1", 10))
    run, instances, run_stats = _run("r1", 20)
    run_stats[-1]["mean"] = None  # NOT NULL: the last insert of the transaction fails
    with pytest.raises(Exception):
        store.save_run(run, instances, run_stats)
    assert [r["position"] for r in store.iter_instances("r1")] == list(range(10))  # rolled back whole
    assert store.run_stats("r1")[0]["count"] == 10 and store.runs()[0]["instances"] == 10


def test_readers_see_the_old_run_or_the_new_one(db_url: str) -> None:
    store = open_store(db_url)
    store.save_run(*_run("r1", 300))
    versions = [_run("r1", n) for n in (1200, 300)]
    done = threading.Event()

    def rewrite() -> None:
        try:
            for i in range(12):
                store.save_run(*versions[i % 2])
        finally:
            done.set()

    writer = threading.Thread(target=rewrite)
    writer.start()
    seen = set()
    while not done.is_set():
        with store.db.connect() as conn:  # a fresh read transaction each time, so it sees later commits
            # One statement, one snapshot: a run half deleted or half written would show as another count.
            seen.add(conn.rows(
                "SELECT (SELECT count(*) FROM instances WHERE run_id = 'r1'), (SELECT max(count) FROM run_stats "
                "WHERE run_id = 'r1'), (SELECT max(instances) FROM runs WHERE run_id = 'r1')")[0])
    writer.join()
    store.close()
    assert seen <= {(300, 300, 300), (1200, 1200, 1200)} and seen, seen


def test_iter_instances_in_position_order_across_batches(store: Store) -> None:
    run, instances, run_stats = _run("r1", 50)
    for i, inst in enumerate(instances):
        inst["position"] = i * 3  # gaps, as when instances are dropped
        inst["prompt"] = f"prompt {i % 4}"
    random.Random(0).shuffle(instances)  # stored in no particular order: only ORDER BY gives position order
    store.save_run(run, instances, run_stats)
    store.save_run(*_run("r2", 5))  # another run's rows are not mixed in
    rows = list(store.iter_instances("r1", batch=7))
    assert [r["position"] for r in rows] == [i * 3 for i in range(50)]
    assert [r["instance_id"] for r in rows] == [f"i{i}" for i in range(50)]
    assert all(r["stats"] == {"exact_match": float(i % 2)} and r["prompt"] == f"prompt {i % 4}" for i, r in enumerate(rows))
    with store.db.connect() as conn:
        assert conn.rows("SELECT count(*) FROM texts") == [(5,)]  # 4 prompts + r2's "p"


def test_long_names_and_nul_characters(store: Store) -> None:
    # SQLite keeps any length; PostgreSQL must take the same run. NUL becomes U+FFFD in free-text columns on both
    # (harness.text.clean; PostgreSQL rejects it), and stays exact in JSON and compressed prompts.
    long_id = "x" * 1000
    run, instances, run_stats = _run(long_id, 1)
    run["model"] = run["suite"] = "m" * 500
    instances[0].update(instance_id=long_id, prediction="a\x00b", input="in\x00", error="e\x00")
    store.save_run(run, instances, run_stats)
    store.save_results([("k1", "d" * 500, "m" * 500, Request(kind="generate", prompt="p\x00").to_json(),
                         Result.failure("HTTP 500: \x00"))])
    nul = "\ufffd"
    (got,) = store.iter_instances(long_id)
    assert (got["instance_id"], got["prediction"], got["input"], got["error"]) == (long_id, f"a{nul}b", f"in{nul}", f"e{nul}")
    assert store.runs()[0]["model"] == "m" * 500
    assert store.results(["k1"])["k1"].error == "HTTP 500: \x00"  # from the result's JSON, exact everywhere
    stored = store.request_rows(["k1"])["k1"]
    assert stored["request"]["prompt"] == f"p{nul}" and stored["deployment"] == "d" * 500


def test_concurrent_writers(db_url: str) -> None:
    """Writers in threads, each with its own Store (as separate processes would be) on a database without tables
    yet: they create the schema at once, upsert overlapping keys in different orders, and rewrite one run."""
    threads, batches = 6, 15
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def work(t: int) -> None:
        try:
            start.wait()
            store = open_store(db_url)
            rng = random.Random(t)
            for b in range(batches):
                own = [row(f"t{t}-{b}-{i}", Result(ok=True, texts=[f"{t}"])) for i in range(20)]
                shared = [row(f"shared{i}", Result(ok=True, texts=[f"{t}"]) if (t + i) % 2 else Result.failure(f"{t}"))
                          for i in range(30)]
                batch = own + shared
                rng.shuffle(batch)  # each writer locks the shared keys in its own order
                store.save_results(batch)
                if b % 5 == 0:
                    store.save_run(*_run("same-run", 40 + t))
            store.close()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert not errors, errors
    store = open_store(db_url)
    own = [f"t{t}-{b}-{i}" for t in range(threads) for b in range(batches) for i in range(20)]
    assert len(store.completed(own)) == len(own)  # no lost rows
    shared = store.results([f"shared{i}" for i in range(30)])
    assert len(shared) == 30 and all(r.ok for r in shared.values())  # some thread succeeded on each; it stays
    (run,) = store.runs()
    assert len(list(store.iter_instances("same-run"))) == run["instances"]  # one writer's run, whole
    store.close()


def test_writers_of_one_process_take_turns_without_sqlite_polling(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A claim queued behind a long result batch in the same process waits on the store's own lock, not on SQLite's
    busy handler: with a busy timeout far shorter than the batch, the claim would fail "database is locked"."""
    import harness.store.database as database

    monkeypatch.setattr(database, "BUSY_TIMEOUT_S", 0.05)
    store = open_store(sqlite_url(tmp_path))
    held, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def long_batch() -> None:
        try:
            with store._write() as conn:
                conn.execute("INSERT INTO claims (key, owner, claimed_at) VALUES ('busy', 'x', 0) ON CONFLICT (key) DO NOTHING")
                held.set()
                release.wait(5)  # 0.3 s below: six times the busy timeout
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    writer = threading.Thread(target=long_batch)
    writer.start()
    assert held.wait(5)
    threading.Timer(0.3, release.set).start()
    assert store.claim(["k1", "k2"], "me") == {"k1", "k2"}  # waited its turn
    writer.join()
    assert not errors, errors

    # A turn that never comes ends as SQLite's wait would: "database is locked", after the timeout.
    monkeypatch.setattr(database, "WRITE_TURN_TIMEOUT_S", 0.05)
    held.clear()
    release.clear()
    writer = threading.Thread(target=long_batch)
    writer.start()
    assert held.wait(5)
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        store.claim(["k3"], "me")
    release.set()
    writer.join()
    assert store.claim(["k3"], "me") == {"k3"}  # nothing was left half done
    store.close()


def test_an_instance_input_is_stored_as_its_own_text(store: Store) -> None:
    """Version 3 kept an input the prompt held as its place there (a plain SELECT showed ""): now it is its text."""
    run, instances, run_stats = _run("dedup", 3)
    instances[0].update(input="What is 2+2?", prompt="Q: What is 1+1?\nA: 2\n\nQ: What is 2+2?\nA:")
    instances[1].update(input="not in it", prompt="another prompt")
    instances[2].update(input="", prompt="p")
    store.save_run(run, instances, run_stats)
    with store.db.connect() as conn:
        stored = conn.rows("SELECT input FROM instances WHERE run_id = 'dedup' ORDER BY position")
    assert [r[0] for r in stored] == ["What is 2+2?", "not in it", ""]
    assert [r["input"] for r in store.iter_instances("dedup")] == ["What is 2+2?", "not in it", ""]


def _stored_prompts(store: Store) -> dict[str, str]:
    with store.db.connect() as conn:
        hashes = [h for (h,) in conn.rows("SELECT hash FROM texts")]
    return store.texts(hashes)


def _as_older_version(store: Store, version: int, extra_texts: dict[str, tuple[str | None, str]] | None = None) -> None:
    """Rewrite a store as `version` wrote it: no views, each text's body zlib-compressed in a BLOB column; for
    version 3, an instance's input that its prompt holds stored as its place there (input_start/input_end, input "").
    `extra_texts`: hash -> (head, body) rows to add as they are (a chain of heads, which version 3 could write)."""
    import zlib

    from harness.store import schema

    prompts = _stored_prompts(store)
    with store.db.connect() as conn:
        texts = conn.rows("SELECT hash, head, body FROM texts")
        instances = conn.rows("SELECT run_id, instance_id, input, prompt_hash FROM instances")
    texts += [(h, head, body) for h, (head, body) in (extra_texts or {}).items()]
    blob = "BYTEA" if store.dialect == "postgresql" else "BLOB"
    with store.db.connect(write=True) as conn:
        for view in reversed(schema.VIEWS):
            conn.execute(f"DROP VIEW {view}")
        conn.execute("DROP TABLE texts")
        conn.execute(f"CREATE TABLE texts (hash VARCHAR(64) NOT NULL, head VARCHAR(64), body {blob} NOT NULL, "
                     "PRIMARY KEY (hash))")
        conn.executemany("INSERT INTO texts (hash, head, body) VALUES (?, ?, ?)",
                         [(h, head, zlib.compress(body.encode("utf-8"))) for h, head, body in texts])
        if version == 3:
            for column in ("input_start", "input_end"):
                conn.execute(f"ALTER TABLE instances ADD COLUMN {column} INTEGER")
            for run_id, instance_id, given, prompt_hash in instances:
                start = prompts[prompt_hash].find(given) if given else -1
                if start >= 0:
                    conn.execute("UPDATE instances SET input = '', input_start = ?, input_end = ? "
                                 "WHERE run_id = ? AND instance_id = ?", (start, start + len(given), run_id, instance_id))
        conn.execute("UPDATE harness_meta SET value = ? WHERE key = 'schema_version'", (str(version),))


def test_a_version_3_store_is_migrated_in_place(db_url: str) -> None:
    """Version 3 compressed every text and kept an input the prompt held as offsets into it: opening such a store
    makes both plain text, and everything reads back as it did (a chain of heads, which version 3 could write,
    flattened to one level)."""
    import zlib

    from harness.store import schema

    head = "The following are questions about algebra.\n" + "Q: 1+1?\nA: 2\n" * 20
    prompts = {k: head + f"Q: {k}?\nA:" for k in "abc"}
    store = open_store(db_url)
    store.save_results(_prompt_rows(prompts))
    run, instances, run_stats = _run("old", 4)
    instances[0].update(input="Q: a?", prompt=prompts["a"])  # held by its prompt: stored as offsets
    instances[1].update(input="elsewhere", prompt=prompts["b"])
    instances[2].update(input="é中\U0001F600", prompt="é中\U0001F600 and more")  # offsets count characters
    store.save_run(run, instances, run_stats)
    expected_prompts = _stored_prompts(store)
    expected_requests = store.request_rows()
    store.close()
    reader = open_store(db_url)
    expected_instances = list(reader.iter_instances("old"))
    reader.close()
    assert len(set(expected_prompts.values()) & {head, *prompts.values()}) == 4  # the head is a text of its own

    chained = prompts["a"] + "\nfollow-up line\n"  # cut at prompts["a"], itself cut at `head`: two levels
    store = open_store(db_url)
    _as_older_version(store, 3, {text_hash(chained): (text_hash(prompts["a"]), chained[len(prompts["a"]):])})
    with store.db.connect() as conn:
        assert conn.rows("SELECT input, input_start FROM instances WHERE instance_id = 'i0'") == [("", len(head))]
        ((body,),) = conn.rows("SELECT body FROM texts WHERE hash = ?", (text_hash(prompts["b"]),))
        assert zlib.decompress(bytes(body)).decode() == "Q: b?\nA:"
    store.close()

    migrated = open_store(db_url)
    try:
        assert _stored_prompts(migrated) == {**expected_prompts, text_hash(chained): chained}
        assert migrated.request_rows() == expected_requests
        assert list(migrated.iter_instances("old")) == expected_instances
        with migrated.db.connect() as conn:
            assert conn.rows("SELECT value FROM harness_meta WHERE key = 'schema_version'") == [(str(schema.SCHEMA_VERSION),)]
            assert conn.rows("SELECT input FROM instances WHERE run_id = 'old' ORDER BY position") == [
                ("Q: a?",), ("elsewhere",), ("é中\U0001F600",), ("in3",)]
            assert conn.rows("SELECT head FROM texts WHERE hash = ?", (text_hash(chained),)) == [(text_hash(head),)]
            assert dict(conn.rows("SELECT hash, text FROM prompts")) == {**expected_prompts, text_hash(chained): chained}
            assert _columns(migrated, conn, "texts") == schema.COLUMNS["texts"]
            assert _columns(migrated, conn, "instances") == schema.COLUMNS["instances"]
        migrated.save_run(*_run("new", 2))  # and it takes this version's rows
        migrated.save_results(_prompt_rows({"d": head + "Q: d?\nA:"}))
        assert migrated.request_rows(["d"])["d"]["request"]["prompt"] == head + "Q: d?\nA:"
    finally:
        migrated.close()


def _columns(store: Store, conn, table: str) -> tuple[str, ...]:
    if store.dialect == "sqlite":
        return tuple(r[1] for r in conn.rows(f"PRAGMA table_info({table})"))
    return tuple(r[0] for r in conn.rows("SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                                         "AND table_schema = current_schema() ORDER BY ordinal_position", (table,)))


def test_a_version_2_store_is_migrated_in_place(store: Store) -> None:
    """Version 2 keyed everything by the whole SHA-256 (64 hex digits), compressed its texts and had no
    input_start/input_end: opening such a store keeps every result, found again under the keys this version
    computes, and every instance."""
    import hashlib

    from harness.store import schema

    request = Request(kind="generate", prompt="shared head " * 30 + "\nQuestion?")
    key = request.key("dep", "model")
    store.save_results([(key, "dep", "model", request.to_json(), Result(ok=True, texts=[" B"], latency_s=0.5))])
    run, instances, run_stats = _run("old", 2)
    instances[0].update(request_keys=json.dumps([key]), input="Question?", prompt=request.prompt)
    store.save_run(run, instances, run_stats)
    payload = json.dumps(["dep", "model", request.to_json()], sort_keys=True, ensure_ascii=False).encode()
    long_key = hashlib.sha256(payload).hexdigest()
    assert long_key.startswith(key) and len(key) == 32
    _as_older_version(store, 2)
    with store.db.connect(write=True) as conn:  # make it what version 2 wrote
        for table, columns in (("texts", ("hash", "head")), ("requests", ("key", "prompt_hash")),
                               ("instances", ("prompt_hash",))):
            for column in columns:  # any 32 digits make a v2-shaped value: what matters is they are cut back off
                conn.execute(f"UPDATE {table} SET {column} = {column} || '{'0' * 32}' WHERE {column} IS NOT NULL")
        conn.execute(f"UPDATE requests SET key = '{long_key}'")
        conn.execute(f"""UPDATE instances SET request_keys = '["{long_key}"]'""")
    store.close()

    migrated = open_store(store.url)
    try:
        assert migrated.completed([key])[key].texts == [" B"] and migrated.completed([key])[key].latency_s == 0.5
        assert migrated.request_rows([key])[key]["request"]["prompt"] == request.prompt  # its text found again
        rows = list(migrated.iter_instances("old"))
        assert [json.loads(r["request_keys"]) for r in rows][0] == [key] and rows[0]["input"] == "Question?"
        assert rows[0]["prompt"] == request.prompt and len(rows) == 2
        with migrated.db.connect() as conn:
            assert conn.rows("SELECT value FROM harness_meta WHERE key = 'schema_version'") == [(str(schema.SCHEMA_VERSION),)]
        migrated.save_run(*_run("new", 2))  # and it takes this version's rows
    finally:
        migrated.close()


def test_the_tables_and_views_are_the_schema_on_both_databases(store: Store) -> None:
    """One definition (harness.store.schema) makes SQLite's tables and, through SQLAlchemy, PostgreSQL's: each
    database holds exactly its columns, with its NULLs and keys, and its views."""
    from harness.store import schema

    with store.db.connect() as conn:
        for table, cols in schema.TABLES.items():
            assert _columns(store, conn, table) == tuple(c.name for c in cols), table
            if store.dialect == "sqlite":
                info = {r[1]: r for r in conn.rows(f"PRAGMA table_info({table})")}
                assert {c.name: (not info[c.name][3], info[c.name][5] > 0) for c in cols} == \
                    {c.name: (c.null, c.key) for c in cols}, table
            else:
                nullable = dict(conn.rows("SELECT column_name, is_nullable FROM information_schema.columns WHERE "
                                          "table_name = ? AND table_schema = current_schema()", (table,)))
                assert {c.name: nullable[c.name] == "YES" for c in cols} == {c.name: c.null for c in cols}, table
        for view in schema.VIEWS:
            conn.rows(f"SELECT * FROM {view} LIMIT 1")


def test_views_show_whole_prompts_inputs_outputs_and_scores_as_text(store: Store) -> None:
    """A plain SELECT on the views gives what the store reads back: whole prompts (a shared head put back), inputs,
    outputs and scores, on SQLite and PostgreSQL alike."""
    head = "Instructions.\n" + "Q: an example?\nA: yes\n\n" * 12
    prompts = {"a": head + "Q: What is 2+2?\nA:", "b": head + "Q: other?\nA:"}
    store.save_results(_prompt_rows(prompts))
    run, instances, run_stats = _run("viewed", 2)
    instances[0].update(input="What is 2+2?", prompt=prompts["a"], request_keys='["a"]', prediction="4")
    instances[1].update(input="other?", prompt=prompts["b"], request_keys='["b"]', error="e")
    store.save_run(run, instances, run_stats)
    with store.db.connect() as conn:
        assert conn.rows("SELECT count(*) FROM texts WHERE head IS NOT NULL") == [(2,)]  # the head is shared
        details = conn.dicts("SELECT * FROM instance_details WHERE run_id = 'viewed' ORDER BY position")
        requests = conn.dicts('SELECT "key", prompt, result, ok FROM request_details ORDER BY "key"')
        scores = conn.dicts("SELECT suite, model, scenario, metric, mean, count FROM run_scores")
    assert [(d["instance_id"], d["input"], d["prompt"], d["prediction"], d["error"], json.loads(d["stats"]))
            for d in details] == [("i0", "What is 2+2?", prompts["a"], "4", None, {"exact_match": 0.0}),
                                  ("i1", "other?", prompts["b"], "x", "e", {"exact_match": 1.0})]
    assert details[0]["suite"] == "s" and details[0]["model"] == "m" and details[0]["references"] == "[]"
    assert [(r["key"], r["prompt"], json.loads(r["result"])["texts"], r["ok"]) for r in requests] == [
        ("a", prompts["a"], ["x"], 1), ("b", prompts["b"], ["x"], 1)]
    assert scores == [{"suite": "s", "model": "m", "scenario": "sc", "metric": "exact_match", "mean": 0.5, "count": 2}]


def test_the_store_imports_nothing_above_it() -> None:
    """Layering: the store (and the records it keeps) build on nothing of the clients, executor or runner: only the
    lowest shared modules (errors, records, text cleaning)."""
    code = (
        "import sys\n"
        "import harness.store.store, harness.store.migrate, harness.records\n"
        "print(sorted(m for m in sys.modules if m.startswith('harness.') and not m.startswith('harness.store')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['harness.errors', 'harness.records', 'harness.text']"


def test_a_sqlite_store_never_imports_sqlalchemy(tmp_path: Path) -> None:
    """SQLite is every command's default: opening, writing and reading it must not pay SQLAlchemy's ~0.3 s import."""
    code = (
        "import sys\n"
        "from harness.records import Request, Result\n"
        "from harness.store.store import open_store\n"
        f"store = open_store({sqlite_url(tmp_path)!r})\n"
        "store.save_results([('k', 'dep', 'm', Request(kind='generate', prompt='p').to_json(), Result(ok=True))])\n"
        "assert store.completed(['k']) and store.claim(['x'], 'me') == {'x'}\n"
        "store.runs(); store.suites(); store.close()\n"
        "print('sqlalchemy' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_request_keys_are_the_hash_of_what_json_dumps_writes() -> None:
    """Stores hold results under Request.key: its fast writer must give json.dumps's text byte for byte, whatever the
    strings hold (quotes, control characters, U+2028, astral characters) and whatever the numbers are."""
    import hashlib

    from harness.records import DIGEST_HEX

    rng = random.Random(7)
    alphabet = [chr(i) for i in range(0x80)] + ["é", "\u2028", "\U0001F600", "中", '"', "\\"]

    def text() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))

    requests = [Request(kind=rng.choice(["generate", "logprob"]), prompt=text(), continuation=text(),
                        messages=tuple((text(), text()) for _ in range(rng.randint(0, 2))),
                        max_tokens=rng.randint(0, 500), temperature=rng.choice([0.0, 0.7, 1e-05, 2.5e-7, 1]),
                        stop=tuple(text() for _ in range(rng.randint(0, 3))), n=rng.randint(1, 4),
                        seed=rng.randint(-5, 10**12), num_choices=rng.randint(0, 10)) for _ in range(500)]
    requests += [Request(kind="generate", temperature=float("nan")), Request(kind="generate", max_tokens=True)]
    for request in requests:
        deployment, model = text(), text()
        expected = json.dumps([deployment, model, request.to_json()], sort_keys=True, ensure_ascii=False)
        assert request.key(deployment, model) == hashlib.sha256(expected.encode()).hexdigest()[:DIGEST_HEX]


def test_a_new_sqlite_store_opened_by_many_at_once_never_reports_locked(tmp_path: Path) -> None:
    """Switching a new database to WAL needs it whole, and SQLite answered "database is locked" at once, without
    waiting, to ~1 in 70 of six stores opened together (their processes then failed with exit 2). 50 new stores,
    each opened by six threads at once."""
    errors: list[BaseException] = []
    for trial in range(50):
        url = sqlite_url(tmp_path / f"s{trial}")
        barrier = threading.Barrier(6)

        def open_close() -> None:
            try:
                barrier.wait()
                open_store(url).close()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        workers = [threading.Thread(target=open_close) for _ in range(6)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
    assert not errors, errors[:3]


def test_common_prefix_length_matches_the_plain_definition() -> None:
    from os.path import commonprefix

    from harness.store.texts import _common_prefix_len

    rng = random.Random(3)
    for _ in range(3000):
        a = "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 40)))
        b = a[:rng.randint(0, len(a))] + "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 8)))
        assert _common_prefix_len(a, b) == _common_prefix_len(b, a) == len(commonprefix([a, b]))
        at_least = rng.randint(1, 20)
        n = _common_prefix_len(a, b, at_least)
        assert n == len(commonprefix([a, b])) or (n == 0 and len(commonprefix([a, b])) < at_least)


def test_shared_heads_are_those_of_the_plain_definition() -> None:
    """Each text's head: the longest prefix, ending at a line break and at least HEAD_MIN_CHARS long, that it shares
    with another text of the batch (and goes on after). Checked against that definition, written out plainly, on
    batches whose texts share heads just under, at and over the minimum, and none."""
    from os.path import commonprefix

    from harness.store.texts import HEAD_MIN_CHARS, shared_heads

    def plain(texts: dict[str, str]) -> dict[str, str]:
        heads = {}
        for key, text in texts.items():
            longest = max((len(commonprefix([text, other])) for k, other in texts.items() if k != key), default=0)
            cut = text.rfind("\n", 0, longest) + 1
            if HEAD_MIN_CHARS <= cut < len(text):
                heads[key] = text[:cut]
        return heads

    rng = random.Random(5)
    for _ in range(300):
        texts = {}
        for i in range(rng.randint(1, 30)):
            base = rng.choice(["", "x" * rng.randint(HEAD_MIN_CHARS - 50, HEAD_MIN_CHARS + 60) + "\n", "line\n" * rng.randint(30, 60)])
            texts[str(i)] = base + "".join(rng.choice("ab\n") for _ in range(rng.randint(0, 300)))
        assert shared_heads(texts) == plain(texts)


def _typed(rows: list[dict]) -> list[list[tuple]]:
    return [sorted((k, type(v).__name__, repr(v)) for k, v in row.items()) for row in rows]


@pytest.mark.parametrize("prepared", [False, True], ids=["rows", "prepared"])
def test_a_run_just_saved_is_served_exactly_as_the_store_reads_it_back(db_url: str, prepared: bool) -> None:
    """Saved from its rows, or from what prepare_instances made of them beforehand (as the runner does, while the
    run's intervals are computed): the same run either way."""
    head = "Instructions.\n" + "Q: an example?\nA: yes\n\n" * 12
    run, instances, run_stats = _run("fresh", 6)
    instances[0].update(input="What is 2+2?", prompt=head + "Q: What is 2+2?\nA:", stats={"exact_match": 1 / 3})
    instances[1].update(input="elsewhere", prompt=head + "Q: other?\nA:", fewshot_dropped=2)
    instances[2].update(input="in\x00", prediction="a\x00b", error="e\x00", prompt="short")
    instances[3].update(prompt=head + "Q: third?\nA:", references='[["4",1],["5",0]]', outputs='["4"]')
    instances.reverse()  # stored and served in position order, whatever order they come in
    writer = open_store(db_url)
    try:
        writer.save_results(_prompt_rows({"a": head + "Q: What is 2+2?\nA:", "b": head + "Q: other?\nA:"}))
        given = json.dumps(instances)
        writer.save_run(run, writer.prepare_instances(instances) if prepared else instances, run_stats)
        assert json.dumps(instances) == given  # the caller's rows are left as they were
        served = list(writer.iter_instances("fresh"))
        assert "fresh" in writer.saved_runs  # served from what it wrote ...
        reader = open_store(db_url)
        try:
            read_back = list(reader.iter_instances("fresh"))  # ... which is what another process reads back
        finally:
            reader.close()
        assert [r["position"] for r in served] == list(range(6))
        assert served[0]["prompt_head"] and served[0]["prompt_head_chars"] == len(head)
        assert _typed(served) == _typed(read_back)
        served[0]["stats"]["exact_match"] = 9.0  # a caller's change to a row stays its own
        assert next(writer.iter_instances("fresh"))["stats"] == read_back[0]["stats"]
    finally:
        writer.close()


def test_a_run_saved_since_by_another_process_is_read_back(db_url: str) -> None:
    first, second = open_store(db_url), open_store(db_url)
    try:
        first.save_run(*_run("shared", 3))
        run, instances, run_stats = _run("shared", 3)
        instances[1]["prediction"] = "changed"
        second.save_run(run, instances, run_stats)
        assert [r["prediction"] for r in first.iter_instances("shared")] == ["x", "changed", "x"]
        assert "shared" not in first.saved_runs
    finally:
        first.close()
        second.close()


def test_saved_runs_keep_at_most_their_row_limit_oldest_out_first() -> None:
    from harness.store.saved_runs import SavedRuns

    saved = SavedRuns(max_rows=10)
    saved.put("a", ("a",), [{}] * 4)
    saved.put("b", ("b",), [{}] * 4)
    saved.put("c", ("c",), [{}] * 4)  # a goes
    saved.put("huge", ("h",), [{}] * 11)  # past the limit: not kept, nothing else dropped for it
    assert ["a" in saved, "b" in saved, "c" in saved, "huge" in saved] == [False, True, True, False]
    assert saved.get("b", ("b",)) and saved.get("c", ("other",)) is None and "c" not in saved


def test_docs_describe_every_table_view_and_column() -> None:
    """docs/store.md is how people learn to query a store: it names everything the schema has."""
    from harness.store import schema

    text = (Path(__file__).resolve().parents[1] / "docs" / "store.md").read_text(encoding="utf-8")
    names = {*schema.TABLES, *schema.VIEWS, *(c.name for cols in schema.TABLES.values() for c in cols)}
    assert not {name for name in names if f"`{name}`" not in text}
