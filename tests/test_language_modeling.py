"""Language modelling: rolling windows, the language_modeling adapter, and bits per byte against a direct
transformers computation on the embedded Gemma 3 270M."""

from __future__ import annotations

import asyncio
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import started_embedded_client

from harness.adapters.registry import make_adapter
from harness.adapters.spec import AdapterSpec
from harness.clients.deployment import ModelDeployment
from harness.clients.request import Result
from harness.clients.rolling import rolling_windows
from harness.errors import HarnessError
from harness.instance import Instance
from harness.metrics.language_modeling import bits_per_byte, bits_per_token, language_modeling, perplexity

DEPLOYMENT = ModelDeployment(name="google/gemma-3-270m", client="embedded", model="gemma-3-270m-q4_k_m",
                             max_concurrency=1, batch_size=16, context_length=16)
DOCS = [
    "The quick brown fox jumps over the lazy dog.",
    "Jinja is a fast, expressive, extensible templating engine. Special placeholders in the template allow writing "
    "code similar to Python syntax. Then the template is passed data to render the final document.",  # > 24 tokens
    "Größe: 3 µm — naïve café.",  # multi-byte UTF-8: bytes != characters
]


def lm_eval_windows(tokens: list[int], prefix: int, max_seq_len: int) -> list[tuple[list[int], list[int]]]:
    """lm-evaluation-harness's get_rolling_token_windows(context_len=1) + make_disjoint_window, transcribed."""
    out = []
    pred_len = max_seq_len
    predicted = 0
    first = min(max_seq_len, len(tokens))
    windows = [([prefix] + tokens[: first - 1], tokens[:first])]
    predicted += first
    while predicted < len(tokens):
        window_pred_len = min(len(tokens) - predicted, pred_len)
        end = predicted + window_pred_len
        windows.append((tokens[end - max_seq_len - 1 : end - 1], tokens[end - window_pred_len : end]))
        predicted += window_pred_len
    for a, b in windows:
        out.append((a[: len(a) - (len(b) - 1)], b))
    return out


@pytest.mark.parametrize("n,max_len", [(1, 1), (5, 3), (10, 4), (7, 7), (8, 7), (30, 5)])
def test_rolling_windows_score_every_token_once_as_lm_eval_does(n: int, max_len: int) -> None:
    tokens = list(range(100, 100 + n))
    windows = rolling_windows(tokens, 1, max_len)
    scored = [t for ids, k in windows for t in ids[len(ids) - k :]]
    assert scored == tokens  # each token once, in order
    assert all(len(ids) <= max_len + 1 for ids, _ in windows)  # the model reads at most max_len of them
    assert windows[0][0][0] == 1  # the prefix token conditions the first window only
    expected = [(context + cont, len(cont)) for context, cont in lm_eval_windows(tokens, 1, max_len)]
    assert windows == expected


def test_adapter_makes_one_rolling_request_and_refuses_chat() -> None:
    adapter = make_adapter(AdapterSpec(method="language_modeling", max_train_instances=5))
    inst = Instance("d", DOCS[0], ())
    adapted = adapter.adapt_one(inst, adapter.fewshot_pool([]))
    (request,) = adapted.requests
    assert (request.kind, request.prompt, request.continuation) == ("logprob_rolling", "", DOCS[0])
    pred = adapter.predict(adapted, [Result(ok=True, logprob=-12.5, continuation_tokens=10)])
    assert (pred.text, pred.logprob, pred.logprob_tokens) == ("", -12.5, 10)
    # A client that cannot score documents (no logprob) fails the instance rather than scoring it as zero.
    assert adapter.predict(adapted, [Result(ok=True, texts=[""])]).text is None
    with pytest.raises(HarnessError):
        make_adapter(AdapterSpec(method="language_modeling"), chat=True)


def test_corpus_metrics_divide_sums_not_mean_ratios() -> None:
    adapter = make_adapter(AdapterSpec(method="language_modeling"))
    rows = []
    for text, logprob, tokens in [("ab", -2.0, 1), ("x" * 98, -10.0, 20)]:
        inst = Instance(text[:3], text, ())
        pred = adapter.predict(adapter.adapt_one(inst, adapter.fewshot_pool([])),
                               [Result(ok=True, logprob=logprob, continuation_tokens=tokens)])
        rows.append(language_modeling(inst, pred, None))  # type: ignore[arg-type]
    columns = {k: np.array([r[k] for r in rows]) for k in rows[0]}
    assert bits_per_byte(columns) == pytest.approx(12.0 / 100 / math.log(2))  # not mean(2/2, 10/98) / ln 2
    assert bits_per_token(columns) == pytest.approx(12.0 / 21 / math.log(2))
    assert perplexity(columns) == pytest.approx(math.exp(12.0 / 21))


@pytest.fixture(scope="module")
def client() -> Any:
    return started_embedded_client(DEPLOYMENT)


def direct_logprob(client: Any, text: str, max_len: int) -> tuple[float, int]:
    """Sum of log p(token | context) over the document's tokens by plain forward passes, one per lm-eval window."""
    import torch

    tok, model = client._tokenizer, client._model
    tokens = tok(text, add_special_tokens=False)["input_ids"]
    total = 0.0
    for context, continuation in lm_eval_windows(tokens, tok.bos_token_id, max_len):
        ids = context + continuation
        with torch.inference_mode():
            logits = model(input_ids=torch.tensor([ids[:-1]])).logits[0].double()
        logprobs = torch.log_softmax(logits, dim=-1)
        start = len(context) - 1
        total += float(sum(logprobs[start + k, token] for k, token in enumerate(continuation)))
    return total, len(tokens)


def test_bits_per_byte_equals_a_direct_computation(client: Any) -> None:
    assert client._context_length == 16
    long_tokens = len(client._tokenizer(DOCS[1], add_special_tokens=False)["input_ids"])
    assert long_tokens > 2 * 16  # three or more windows
    adapter = make_adapter(AdapterSpec(method="language_modeling"))
    instances = [Instance(f"d{i}", text, ()) for i, text in enumerate(DOCS)]
    adapted = [adapter.adapt_one(inst, adapter.fewshot_pool([])) for inst in instances]
    results = asyncio.run(client.process([a.requests[0] for a in adapted]))
    assert all(r.ok for r in results), [r.error for r in results]
    rows = [language_modeling(inst, adapter.predict(a, [r]), DEPLOYMENT)
            for inst, a, r in zip(instances, adapted, results)]
    columns = {k: np.array([row[k] for row in rows]) for k in rows[0]}
    direct = [direct_logprob(client, text, 15) for text in DOCS]
    assert [int(row["_lm_tokens"]) for row in rows] == [n for _, n in direct]
    for row, (logprob, _) in zip(rows, direct):
        assert row["_lm_logprob"] == pytest.approx(logprob, abs=1e-3)
    expected = -sum(lp for lp, _ in direct) / sum(len(t.encode()) for t in DOCS) / math.log(2)
    assert abs(bits_per_byte(columns) - expected) < 1e-4
    # The rolling windows matter: the whole long document in one pass conditions its late tokens on more.
    whole = direct_logprob(client, DOCS[1], 10_000)[0]
    assert abs(whole - rows[1]["_lm_logprob"]) > 1e-3



def stub_logprob(text: str) -> tuple[float, int]:
    """What the stub server's echo gives a whole document: every token's log-prob but the first (None)."""
    from tests.stub_server import token_logprob, tokenize

    pieces = tokenize(text)
    return sum(token_logprob(token, k) for k, token in enumerate(pieces) if k > 0), len(pieces) - 1


def test_custom_text_scenario_runs_against_a_server(tmp_path: Path, stub_factory: Any) -> None:
    import sqlite3

    from tests.conftest import run_cli
    from tests.test_e2e_http import models_file

    stub = stub_factory()
    texts = {"a.txt": "One short document.\n", "b.txt": "A second, longer document with more words in it.\n"}
    (tmp_path / "texts").mkdir()
    for name, text in texts.items():
        (tmp_path / "texts" / name).write_text(text)
    (tmp_path / "corpus.yaml").write_text("name: corpus\nmethod: language_modeling\ndata: texts/*.txt\n")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: corpus.yaml\n")
    models = models_file(tmp_path, stub.base_url)
    out = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                  cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with sqlite3.connect(tmp_path / "out" / "harness.db") as conn:
        stats = dict(conn.execute("SELECT metric, mean FROM run_stats").fetchall())
    scored = [stub_logprob(text) for text in texts.values()]
    nll = -sum(lp for lp, _ in scored)
    assert stats["bits_per_byte"] == pytest.approx(nll / sum(len(t.encode()) for t in texts.values()) / math.log(2))
    assert stats["perplexity"] == pytest.approx(math.exp(nll / sum(n for _, n in scored)))

    (tmp_path / "corpus.yaml").write_text("name: corpus\nmethod: language_modeling\ndata: none/*.txt\n")
    bad = run_cli("run", "suite.yaml", "--models", "local/stub", "--models-file", str(models), "--output", "out",
                  cwd=tmp_path)
    assert bad.returncode == 2 and "corpus.yaml:3" in bad.stderr and "no file matches" in bad.stderr
