"""Download-only scenarios: each loader parses a tiny file in its upstream format from a temporary cache; missing
data names the prefetch command; `harness prefetch` fetches over 127.0.0.1 (HARNESS_DOWNLOAD_BASE) and rejects a
file whose sha256 differs from the pin, leaving nothing behind."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import random
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import replace
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

import pytest

from harness.cli import main
from harness.errors import HarnessError
from harness.scenarios import download, legalbench, math_dataset, narrativeqa, summarization, wmt14
from harness.scenarios.download import RemoteFile


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("HARNESS_CACHE", str(root))
    return root


def put(cache: Path, remote: RemoteFile, data: bytes) -> None:
    """Place `data` in the cache as a completed download: a pinned file must match its pin; an unpinned one gets
    the trust-on-first-use record fetch() would have written."""
    cache.mkdir(parents=True, exist_ok=True)
    (cache / remote.filename).write_bytes(data)
    if remote.sha256 is None:
        (cache / (remote.filename + ".sha256")).write_text(f"{hashlib.sha256(data).hexdigest()}  {remote.url}\n")


def _math_rows() -> tuple[bytes, bytes]:
    rows = [
        {"problem": "What is $1+1$?", "solution": r"$1+1=\boxed{2}$.", "answer": "2", "subject": "Algebra",
         "level": 1, "unique_id": "train/algebra/10.json"},
        {"problem": "Solve $2x=4$.", "solution": r"So $x=\boxed{2}$.", "answer": "2", "subject": "Algebra",
         "level": 2, "unique_id": "test/algebra/7.json"},
        {"problem": "Area of a unit square?", "solution": r"$\boxed{1}$", "answer": "1", "subject": "Geometry",
         "level": 1, "unique_id": "test/geometry/3.json"},
    ]
    test = {"problem": "What is $3 \\cdot 3$?", "solution": r"$\boxed{9}$", "answer": "9", "subject": "Algebra",
            "level": 1, "unique_id": "test/algebra/99.json"}
    return ("\n".join(json.dumps(r) for r in rows) + "\n").encode(), (json.dumps(test) + "\n").encode()


def _pin_math(monkeypatch: pytest.MonkeyPatch, train: bytes, test: bytes) -> None:
    for key, data in (("train", train), ("test", test)):
        remote = math_dataset.REMOTE_FILES[key]
        pinned = replace(remote, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        monkeypatch.setitem(math_dataset.REMOTE_FILES, key, pinned)


def test_math_rebuilds_the_original_split_and_filters(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _math_rows()
    _pin_math(monkeypatch, train, test)
    put(cache, math_dataset.REMOTE_FILES["train"], train)
    put(cache, math_dataset.REMOTE_FILES["test"], test)
    everything = list(math_dataset.MATHScenario().instances())
    assert [(i.id, i.split) for i in everything] == [
        ("train/algebra/10", "train"), ("test/algebra/7", "test"), ("test/geometry/3", "test"),
        ("test/algebra/99", "test")]
    algebra_1 = math_dataset.MATHScenario(subject="algebra", level="1")
    assert [i.id for i in algebra_1.split("test")] == ["test/algebra/99"]
    assert [i.id for i in algebra_1.split("train")] == ["train/algebra/10"]
    inst = algebra_1.split("test")[0]
    assert inst.references[0].output == r"$\boxed{9}$" and inst.extra == {
        "answer": "9", "subject": "Algebra", "level": "Level 1"}
    with pytest.raises(HarnessError, match="unknown MATH subject"):
        math_dataset.MATHScenario(subject="calculus")


def test_missing_data_names_the_prefetch_command(cache: Path) -> None:
    with pytest.raises(HarnessError) as err:
        wmt14.WMT14Scenario(pair="fr-en").split("test")
    assert "harness prefetch SUITE.yaml" in err.value.message
    assert "harness prefetch --scenario wmt14:pair=fr-en" in err.value.message


def test_tampered_cache_file_is_rejected(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    train, test = _math_rows()
    _pin_math(monkeypatch, train, test)
    put(cache, math_dataset.REMOTE_FILES["train"], train + b"\n")  # one byte more than what was pinned
    put(cache, math_dataset.REMOTE_FILES["test"], test)
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        list(math_dataset.MATHScenario().instances())


LEGAL_TRAIN = b'index\tanswer\ttext\n0\tgeneric\t"The mark ""Ivory"" for a product made of elephant tusks."\n'
LEGAL_TEST = (b'index\tanswer\ttext\n0\tfanciful\t"The mark ""Zyx"" for\ta taxi service."\n'
              b'1\tdescriptive\t"The mark ""Tasty""\nfor bread."\n')


def test_legalbench_tsv(cache: Path) -> None:
    put(cache, legalbench.remote_file("abercrombie", "train"), LEGAL_TRAIN)
    put(cache, legalbench.remote_file("abercrombie", "test"), LEGAL_TEST)
    scenario = legalbench.LegalBenchScenario(task="abercrombie")
    test = scenario.split("test")
    assert [i.id for i in test] == ["abercrombie/test/0", "abercrombie/test/1"]
    assert test[0].input == 'Description: The mark "Zyx" for\ta taxi service.'  # quoted tab kept inside the field
    assert test[1].input == 'Description: The mark "Tasty"\nfor bread.'  # quoted newline: one row, not two
    assert [r.output for r in test[1].correct_references] == ["descriptive"]
    assert [i.id for i in scenario.split("train")] == ["abercrombie/train/0"]
    assert scenario.output_prefix == "Type: " and scenario.instructions_for().startswith("A mark is generic")


def _sgm(lang: str, docs: list[tuple[str, list[str]]]) -> bytes:
    out = [f'<srcset setid="newstest2014" srclang="{lang}">']
    for doc, segs in docs:
        out.append(f'<doc docid="{doc}" genre="news" origlang="de">')
        out += [f'<seg id="{n}">{text}</seg>' for n, text in enumerate(segs, 1)]
        out.append("</doc>")
    return ("\n".join(out + ["</srcset>"]) + "\n").encode()


def test_wmt14_sgm_pairs_and_document_holdout(cache: Path) -> None:
    src = _sgm("any", [("d0", ["Hallo Welt.", "Guten Tag."]), ("d1", ["Danke & tschüss."])])
    ref = _sgm("en", [("d0", ["Hello world.", "Good day."]), ("d1", ["Thanks & bye."])])
    scenario = wmt14.WMT14Scenario(pair="de-en")
    put(cache, scenario.remote_files()[0], src)
    put(cache, scenario.remote_files()[1], ref)
    assert scenario.remote_files()[0].url.endswith("/test-full/newstest2014-deen-src.de.sgm")
    assert [(i.id, i.split) for i in scenario.instances()] == [("d0#1", "train"), ("d0#2", "train"), ("d1#1", "test")]
    (inst,) = scenario.split("test")
    assert inst.input == "Danke & tschüss." and inst.references[0].output == "Thanks & bye."
    assert scenario.input_prefix == "German: " and scenario.output_prefix == "English: "
    assert wmt14.WMT14Scenario(pair="en-fr").remote_files()[1].url.endswith("newstest2014-fren-ref.fr.sgm")
    with pytest.raises(HarnessError, match="X-en or en-X"):
        wmt14.WMT14Scenario(pair="de-fr")


def test_wmt14_misaligned_files_are_an_error(cache: Path) -> None:
    scenario = wmt14.WMT14Scenario(pair="de-en")
    put(cache, scenario.remote_files()[0], _sgm("any", [("d0", ["a", "b"])]))
    put(cache, scenario.remote_files()[1], _sgm("en", [("d0", ["a"])]))
    with pytest.raises(HarnessError, match="2 source segments but 1"):
        list(scenario.instances())


def test_narrativeqa_samples_one_question_per_document_as_helm(cache: Path) -> None:
    header = "document_id,set,question,answer1,answer2,question_tokenized,answer1_tokenized,answer2_tokenized\n"
    qaps = header + "".join(f"{d},{s},{q},{a},{b},x,x,x\n" for d, s, q, a, b in [
        ("t1", "train", "Who is Ann", "A girl", "Bob's sister"),
        ("e1", "test", "Q1?", "a1", "b1"), ("e1", "test", "Q2?", "a2", "b2"), ("e1", "test", "Q3?", "a3", "b3"),
        ("e2", "test", "Where", "Paris", "in Paris"),
    ])
    summaries = ('document_id,set,summary,summary_tokenized\nt1,train," Ann, a girl. ",x\n'
                 'e1,test,"Story one, with a comma.",x\ne2,test,Story two.,x\n')
    put(cache, narrativeqa.REMOTE_FILES["qaps"], qaps.encode())
    put(cache, narrativeqa.REMOTE_FILES["summaries"], summaries.encode())
    scenario = narrativeqa.NarrativeQAScenario()
    # HELM's draw: one seeded generator, one choice per document, train documents first.
    rng = random.Random(0)
    rng.choice([0])
    picked = rng.choice(["Q1?", "Q2?", "Q3?"])
    test = scenario.split("test")
    assert [i.id for i in test] == ["test/e1", "test/e2"]
    assert test[0].input == f"Story one, with a comma.\nQuestion: {picked}"
    assert test[1].input == "Story two.\nQuestion: Where?"  # a question without "?" gets one
    assert [r.output for r in test[1].correct_references] == ["Paris", "in Paris"]
    assert scenario.split("train")[0].input == "Ann, a girl.\nQuestion: Who is Ann?"


def _tgz(files: dict[str, str]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_cnn_dailymail_stories_by_url_hash(cache: Path) -> None:
    def sha1(url: str) -> str:
        return hashlib.sha1(url.encode()).hexdigest()

    test_url, train_url, other = "http://cnn.com/a", "http://dailymail.co.uk/b", "http://cnn.com/unlisted"
    story = "First line\n\nSecond line.\n\n@highlight\n\nHeadline one\n\n@highlight\n\nHeadline two!\n"
    cnn = _tgz({f"cnn/stories/{sha1(test_url)}.story": story, f"cnn/stories/{sha1(other)}.story": story})
    dm = _tgz({f"dailymail/stories/{sha1(train_url)}.story": "Body\n\n@highlight\n\nSum\n"})
    files = summarization.CNNDM_FILES
    for key, data in (("cnn", cnn), ("dailymail", dm), ("train", train_url + "\n"), ("valid", ""),
                      ("test", test_url + "\n")):
        put(cache, files[key], data if isinstance(data, bytes) else data.encode())
    scenario = summarization.CNNDailyMailScenario()
    (inst,) = scenario.split("test")
    assert inst.id == sha1(test_url)
    assert inst.input == "First line . Second line."  # a line without end punctuation gets " ." as in HF 3.0.0
    assert inst.references[0].output == "Headline one . Headline two!"
    assert [i.input for i in scenario.split("train")] == ["Body ."]
    assert [i.input for i in summarization.CNNDailyMailScenario(doc_max_words=2).split("test")] == ["First line"]


def test_xsum_refuses_until_pinned(cache: Path) -> None:
    with pytest.raises(HarnessError, match="not pinned"):
        summarization.XSumScenario().remote_files()


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An HTTP server on 127.0.0.1 serving tmp/www at the URL paths of the real files."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HARNESS_DOWNLOAD_BASE", f"http://127.0.0.1:{httpd.server_address[1]}")
    yield root
    httpd.shutdown()
    httpd.server_close()


def serve(root: Path, remote: RemoteFile, data: bytes) -> None:
    path = root / urlparse(remote.url).path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_prefetch_cli_downloads_then_finds_everything(cache: Path, server: Path, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    serve(server, legalbench.remote_file("proa", "train"), b"index\tanswer\ttext\n0\tYes\tA statute.\n")
    serve(server, legalbench.remote_file("proa", "test"), b"index\tanswer\ttext\n0\tNo\tAnother.\n")
    suite = tmp_path / "suite.yaml"
    suite.write_text("name: s\nentries:\n  - scenario: legalbench\n    args: {task: proa}\n"
                     "  - scenario: legalbench\n    args: {task: proa}\n    shots: 0\n")
    assert main(["prefetch", str(suite)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and all(": downloaded (no pinned sha256: trusted on first use" in x for x in lines)
    assert main(["prefetch", str(suite)]) == 0
    assert [x.rsplit(": ", 1)[1] for x in capsys.readouterr().out.splitlines()] == ["ok", "ok"]
    assert [i.id for i in legalbench.LegalBenchScenario(task="proa").split("test")] == ["proa/test/0"]
    # The recorded digest now guards the file: a changed copy is refused.
    target = cache / legalbench.remote_file("proa", "test").filename
    target.write_bytes(b"index\tanswer\ttext\n0\tYes\tTampered.\n")
    assert main(["prefetch", "--scenario", "legalbench:task=proa"]) == 1
    assert "sha256 mismatch" in capsys.readouterr().out


def test_prefetch_rejects_a_download_that_differs_from_its_pin(cache: Path, server: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    train, test = _math_rows()
    _pin_math(monkeypatch, train, test)
    serve(server, math_dataset.REMOTE_FILES["train"], train.replace(b"1+1", b"2+2"))  # same size, other bytes
    serve(server, math_dataset.REMOTE_FILES["test"], test)
    assert main(["prefetch", "--scenario", "math:subject=algebra"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert "train.jsonl: failed: sha256 mismatch" in out[0] and out[1].endswith("test.jsonl: downloaded")
    assert sorted(p.name for p in cache.iterdir()) == [math_dataset.REMOTE_FILES["test"].filename]  # no partial file


def test_prefetch_reports_unreachable_and_unpinned(cache: Path, server: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prefetch", "--scenario", "wmt14:pair=hi-en", "--scenario", "xsum"]) == 1
    out = capsys.readouterr().out
    assert out.count("failed: cannot download") == 2 and "xsum: failed: XSum's BBC archive is not pinned" in out
    assert not cache.exists() or not any(cache.iterdir())


def test_prefetch_without_arguments_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prefetch"]) == 2
    assert "give a suite file or --scenario" in capsys.readouterr().err


def test_resolved_url_keeps_the_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_DOWNLOAD_BASE", raising=False)
    assert download.resolved_url("https://h.co/a/b.tsv?x=1") == "https://h.co/a/b.tsv?x=1"
    monkeypatch.setenv("HARNESS_DOWNLOAD_BASE", "http://127.0.0.1:9/")
    assert download.resolved_url("https://h.co/a/b.tsv?x=1") == "http://127.0.0.1:9/a/b.tsv?x=1"
