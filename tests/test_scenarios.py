"""Shipped scenario data and loaders: counts, schema invariants, checksum and row errors, the download helper."""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.instance import TEST, TRAIN
from harness.scenarios.base import data_root, make_scenario, scenario_registry
from harness.scenarios.download import RemoteFile, fetch
from harness.scenarios.jsonl import read_instances
from harness.scenarios.mmlu import SUBJECTS

ROOT = Path(__file__).resolve().parents[1]
NAMES = ("mmlu", "gsm8k", "hellaswag", "arc_challenge", "boolq")
MC = ("mmlu", "hellaswag", "arc_challenge", "boolq")
# (evaluated test rows, few-shot train rows) shipped per scenario
COUNTS = {"mmlu": (14042, 285), "gsm8k": (1319, 8), "hellaswag": (1000, 200), "arc_challenge": (1172, 299),
          "boolq": (3270, 5)}


def by_split(name: str) -> Counter[str]:
    return Counter(inst.split for inst in make_scenario(name).instances())


def test_registered_with_metadata() -> None:
    registry = scenario_registry()
    for name in NAMES:
        cls = registry[name]
        assert cls.main_metric and cls.default_method and cls.source and cls.license
        assert cls.data_shipped in ("full", "sample")


def test_built_in_table_names_each_scenario_its_module() -> None:
    """Built-in modules are imported when their scenario is asked for, found through BUILT_IN: it must name every
    scenario a module here registers, and that module. In a fresh process, so nothing is imported beforehand."""
    code = """
import pkgutil, importlib, harness.scenarios as pkg
from harness.scenarios import BUILT_IN, base
from harness.scenarios.base import make_scenario
assert make_scenario("mmlu").name == "mmlu"
assert "harness.scenarios.arc" not in __import__("sys").modules, "asking for mmlu imported the other scenarios"
for info in pkgutil.iter_modules(pkg.__path__):
    importlib.import_module("harness.scenarios." + info.name)
found = {name: cls.__module__.removeprefix("harness.scenarios.") for name, cls in base._REGISTRY.items()}
assert found == BUILT_IN, (found, BUILT_IN)
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


@pytest.mark.parametrize("name", NAMES)
def test_counts(name: str) -> None:
    test, train = COUNTS[name]
    assert by_split(name) == Counter({TEST: test, TRAIN: train})


def test_mmlu_subjects() -> None:
    insts = list(make_scenario("mmlu").instances())
    test = Counter(i.extra["subject"] for i in insts if i.split == TEST)
    dev = Counter(i.extra["subject"] for i in insts if i.split == TRAIN)
    assert sorted(test) == sorted(SUBJECTS) and len(SUBJECTS) == 57
    assert sum(test.values()) == 14042 and set(dev.values()) == {5} and sum(dev.values()) == 285
    anatomy = list(make_scenario("mmlu", {"subject": "anatomy"}).instances())
    assert {i.extra["subject"] for i in anatomy} == {"anatomy"} and len(anatomy) == test["anatomy"] + 5
    scenario = make_scenario("mmlu", {"subject": "high_school_us_history"})
    assert scenario.instructions_for() == (
        "The following are multiple choice questions (with answers) about high school us history.")
    assert scenario.full_name == "mmlu:subject=high_school_us_history"


def test_mmlu_unknown_subject_lists_valid_ones() -> None:
    with pytest.raises(HarnessError) as err:
        make_scenario("mmlu", {"subject": "astrology"})
    assert "astrology" in str(err.value) and "astronomy" in str(err.value) and err.value.field == "args"


@pytest.mark.parametrize("name", NAMES)
def test_invariants(name: str) -> None:
    insts = list(make_scenario(name).instances())
    assert len({i.id for i in insts}) == len(insts)
    for inst in insts:
        assert inst.input and inst.references
        if name in MC:
            assert len(inst.correct_references) == 1, inst.id
            assert len(inst.references) >= (2 if name == "boolq" else 3)
        else:
            assert all(r.is_correct for r in inst.references)
    # stable order and ids: a second load yields the same sequence
    assert [i.id for i in make_scenario(name).instances()] == [i.id for i in insts]


def test_arc_option_counts_and_boolq_shape() -> None:
    arc = Counter(len(i.references) for i in make_scenario("arc_challenge").instances() if i.split == TEST)
    assert set(arc) == {3, 4, 5}
    first = next(i for i in make_scenario("boolq").instances() if i.split == TEST)
    assert [r.output for r in first.references] == ["No", "Yes"]
    assert first.input == f"{first.extra['passage']}\nQuestion: {first.extra['question']}?"


def test_gsm8k_references() -> None:
    insts = list(make_scenario("gsm8k").instances())
    for inst in insts:
        if inst.split == TRAIN:  # worked answer first (shown in few-shot prompts), then the number
            worked, number = (r.output for r in inst.references)
            assert worked.endswith(f"So the answer is {number}.")
        else:
            (number,) = (r.output for r in inst.references)
            assert number.lstrip("-").replace(".", "").isdigit(), number
            assert inst.extra["rationale"].rsplit("\n#### ", 1)[1].replace(",", "") == number


def test_mmlu_split_is_lazy_and_whole() -> None:
    """A split's rows become Instances only when read (an evaluation of 1,000 items parses 1,000 rows, not 14k);
    the speed itself is measured in benchmarks/executor_overhead.py."""
    scenario = make_scenario("mmlu")
    test = scenario.split("test")
    assert len(test) == 14042 and len(scenario.split("train")) == 285
    assert test[3].split == "test" and test[-1].id == list(scenario.instances())[-1].id
    assert len(test._parsed) == 2  # type: ignore[attr-defined]
    assert sum(1 for _ in scenario.instances()) == 14327


def copy_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    dest = tmp_path / "data"
    shutil.copytree(data_root(), dest, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    monkeypatch.setenv("HARNESS_DATA_DIR", str(dest))
    return dest


def rewrite(path: Path, rows: list[str]) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("".join(r + "\n" for r in rows))


def record_checksum(root: Path, rel: str) -> None:
    checksums = json.loads((root / "checksums.json").read_text())
    checksums[rel] = hashlib.sha256((root / rel).read_bytes()).hexdigest()
    (root / "checksums.json").write_text(json.dumps(checksums))


def test_checksum_mismatch_names_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_data(tmp_path, monkeypatch)
    assert len(list(make_scenario("arc_challenge").instances())) == 1471  # the copy loads
    target = root / "arc_challenge" / "test.jsonl.gz"
    rows = gzip.decompress(target.read_bytes()).decode().splitlines()
    rewrite(target, rows[:-1])
    with pytest.raises(HarnessError) as err:
        list(make_scenario("arc_challenge").instances())
    assert "sha256 mismatch" in str(err.value) and str(target) in str(err.value)


def test_read_ahead_in_a_thread_gives_what_load_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`harness run` checks and decompresses the data in a thread while it starts up: the run, asking at the same
    time, waits for it and reads the same rows; a corrupted file read ahead is still reported by the run."""
    import threading

    root = copy_data(tmp_path, monkeypatch)  # a fresh file version: nothing of it cached yet
    expected = [i.id for i in make_scenario("arc_challenge").split("test")]
    target = root / "arc_challenge" / "test.jsonl.gz"
    rows = gzip.decompress(target.read_bytes()).decode().splitlines()
    rewrite(target, rows[::-1])  # another file version, with its checksum: read ahead, then loaded
    record_checksum(root, "arc_challenge/test.jsonl.gz")
    scenario = make_scenario("arc_challenge")
    thread = threading.Thread(target=scenario.read_ahead)
    thread.start()
    reversed_ids = [i.id for i in scenario.split("test")]
    thread.join()
    assert reversed_ids == expected[::-1]

    rewrite(target, rows[:-1])  # corrupted: read ahead quietly, reported when loaded
    make_scenario("arc_challenge").read_ahead()
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        make_scenario("arc_challenge").split("test")

    # A row the grouping by split rejects, in a file whose checksum is right: reported when loaded, with its line.
    rewrite(target, [rows[0].replace('"split":"test"', '"split":"dev"'), *rows[1:]])
    record_checksum(root, "arc_challenge/test.jsonl.gz")
    make_scenario("arc_challenge").read_ahead()
    with pytest.raises(HarnessError, match="not one of") as caught:
        make_scenario("arc_challenge").split("test")
    assert caught.value.line == 1


def test_missing_checksum_entry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = copy_data(tmp_path, monkeypatch)
    checksums = json.loads((root / "checksums.json").read_text())
    del checksums["boolq/train.jsonl.gz"]
    (root / "checksums.json").write_text(json.dumps(checksums))
    with pytest.raises(HarnessError, match="no checksum recorded for boolq/train.jsonl.gz"):
        list(make_scenario("boolq").instances())


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('{"id": "x", "split": "test", "input": "q", "choices": ["a", "b"], "answer": 2}', "answer", "index"),
        ('{"id": "x", "split": "dev", "input": "q", "references": ["a"]}', "split", "not one of"),
        ('{"split": "test", "input": "q", "references": ["a"]}', "id", "missing"),
        ('{"id": "x", "split": "test", "input": "q", "references": [1]}', "references", "list of strings"),
        ('{"id": "x", "split": "test", "input": "q"}', "choices", "needs"),
        ('{"id": "x", "split": "test", "input": "q", "choices": ["a", 3], "answer": 0}', "choices", "strings"),
        ('{"id": "x", "split": "test", "input": "q", "references": ["a"]', None, "not valid JSON"),
        ("", None, "not valid JSON"),
        ("[1, 2]", None, "JSON object"),
    ],
)
def test_malformed_row_names_file_line_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, line: str,
                                             field: str | None, message: str) -> None:
    root = copy_data(tmp_path, monkeypatch)
    rel = "gsm8k/train.jsonl.gz"
    rows = gzip.decompress((root / rel).read_bytes()).decode().splitlines()
    rewrite(root / rel, rows[:2] + [line] + rows[2:])  # the bad row is line 3
    record_checksum(root, rel)
    with pytest.raises(HarnessError) as err:
        list(make_scenario("gsm8k").instances())
    text = str(err.value)
    assert text.startswith(f"{root / rel}:3: ") and message in text
    assert err.value.line == 3 and err.value.field == field
    if field:
        assert f":3: {field}: " in text


def test_duplicate_id(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl.gz"
    row = '{"id": "a", "split": "test", "input": "q", "references": ["1"]}'
    rewrite(path, [row, row])
    with pytest.raises(HarnessError, match=r"dup.jsonl.gz:2: id: duplicate id 'a'"):
        read_instances(path)


def test_make_samples_check_passes() -> None:
    out = subprocess.run([sys.executable, "scripts/data/make_samples.py", "--check"], cwd=ROOT, capture_output=True,
                         text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 problems" in out.stdout


def test_split_index_is_current_and_only_trusted_for_its_checksum(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped splits.json records where each shipped file's splits are, with the file's checksum; it is exactly
    what reading every row gives, and a file whose checksum changed is read row by row again."""
    from harness.scenarios.jsonl import SPLIT_INDEX, split_layout, split_rows

    root = data_root()
    checksums = json.loads((root / "checksums.json").read_text())
    index = json.loads((root / SPLIT_INDEX).read_text())
    shipped = sorted(rel for rel in checksums if rel.endswith(".jsonl.gz"))
    assert sorted(index) == shipped, "splits.json is stale: run python scripts/data/make_samples.py --index"
    for rel in shipped:
        assert index[rel] == {"sha256": checksums[rel], "splits": split_layout(split_rows(root / rel))}, rel

    copy = copy_data(tmp_path, monkeypatch)
    target = copy / "boolq" / "test.jsonl.gz"
    rows = gzip.decompress(target.read_bytes()).decode().splitlines()
    moved = re.sub(r'"split": ?"test"', '"split":"train"', rows[0], count=1)
    assert moved != rows[0]
    rewrite(target, [moved, *rows[1:]])
    record_checksum(copy, "boolq/test.jsonl.gz")  # the index still has the old checksum
    scenario = make_scenario("boolq")
    assert len(scenario.split("test")) == len(rows) - 1 and scenario.split("train")


def test_checksums_cover_every_shipped_file() -> None:
    checksums = json.loads((data_root() / "checksums.json").read_text())
    for name in NAMES:
        for file in ("SOURCE.md", "train.jsonl.gz", "test.jsonl.gz"):
            assert f"{name}/{file}" in checksums
        source = (data_root() / name / "SOURCE.md").read_text()
        assert checksums[f"{name}/test.jsonl.gz"] in source and "License" in source


# ---------------------------------------------------------------- download.fetch, offline with file:// URLs
def remote_for(path: Path, sha256: str | None, size: int | None = None) -> RemoteFile:
    return RemoteFile(path.as_uri(), path.parent.name, sha256, "MIT", size)


def test_fetch_verifies_and_caches(tmp_path: Path) -> None:
    src = tmp_path / "rev123" / "data.jsonl"
    src.parent.mkdir()
    src.write_bytes(b'{"a": 1}\n')
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    got = fetch(remote_for(src, digest, 9), cache)
    assert got.read_bytes() == src.read_bytes() and got.parent == cache
    assert [p.name for p in cache.iterdir()] == [got.name]  # no temporary file left behind
    src.unlink()  # a cache hit does not touch the network
    assert fetch(remote_for(src, digest), cache) == got
    got.write_bytes(b"tampered")
    with pytest.raises(HarnessError, match="sha256 mismatch for cached"):
        fetch(remote_for(src, digest), cache)


def test_fetch_rejects_bad_checksum_and_size(tmp_path: Path) -> None:
    src = tmp_path / "rev123" / "data.jsonl"
    src.parent.mkdir()
    src.write_bytes(b"hello\n")
    cache = tmp_path / "cache"
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        fetch(remote_for(src, "0" * 64), cache)
    with pytest.raises(HarnessError, match="size mismatch"):
        fetch(remote_for(src, "0" * 64, 999), cache)
    assert not any(cache.iterdir())  # nothing half-written is left under any name


def test_fetch_unpinned_needs_consent_then_records(tmp_path: Path) -> None:
    src = tmp_path / "rev123" / "data.jsonl"
    src.parent.mkdir()
    src.write_bytes(b"hello\n")
    cache = tmp_path / "cache"
    with pytest.raises(HarnessError, match="no pinned sha256"):
        fetch(remote_for(src, None), cache)
    got = fetch(remote_for(src, None), cache, allow_unverified=True)
    recorded = (cache / (got.name + ".sha256")).read_text().split()[0]
    assert recorded == hashlib.sha256(b"hello\n").hexdigest()
    got.write_bytes(b"changed")
    with pytest.raises(HarnessError, match="sha256 mismatch"):
        fetch(remote_for(src, None), cache)


def test_fetch_offline_error(tmp_path: Path) -> None:
    missing = RemoteFile((tmp_path / "rev9" / "absent.jsonl").as_uri(), "rev9", "0" * 64, "MIT")
    with pytest.raises(HarnessError, match="cannot download"):
        fetch(missing, tmp_path / "cache")
    unreachable = RemoteFile("http://127.0.0.1:9/rev9/x.jsonl", "rev9", "0" * 64, "MIT")
    with pytest.raises(HarnessError, match="offline or unreachable"):
        fetch(unreachable, tmp_path / "cache", timeout=5)


def test_remote_file_must_be_pinned() -> None:
    with pytest.raises(ValueError):
        RemoteFile("https://example.org/main/x.jsonl", "abc123", None, "MIT")


def test_scenario_plugin_from_another_package(tmp_path, monkeypatch) -> None:
    """A scenario in the user's own package registers through the `harness.scenarios` entry-point group."""
    import subprocess
    import sys

    pkg = tmp_path / "site"
    (pkg / "capitals_plugin").mkdir(parents=True)
    (pkg / "capitals_plugin" / "__init__.py").write_text(
        "from harness.instance import CORRECT, Instance, Reference\n"
        "from harness.scenarios.base import Scenario, register_scenario\n"
        "@register_scenario\n"
        "class Capitals(Scenario):\n"
        "    name = 'capitals'\n"
        "    default_method = 'multiple_choice_joint'\n"
        "    def instances(self):\n"
        "        yield Instance('q1', 'Capital of France?', (Reference('Paris', (CORRECT,)), Reference('Lyon')))\n")
    dist = pkg / "capitals_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: capitals-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[harness.scenarios]\ncapitals = capitals_plugin\n")
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: capitals\n")
    env = {"PYTHONPATH": str(pkg), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "suite.yaml", "--models", "chance", "--output", "out", "--no-site"],
                          cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "capitals" in proc.stdout and "1 requests: 1 sent" in proc.stdout
