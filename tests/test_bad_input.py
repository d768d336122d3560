"""Hostile and mistaken input through the real CLI: names that look like paths or carry control characters, files
that are not UTF-8, out-of-range numbers and URLs, misplaced entries. Each is one line naming file, line and field
(exit code 2), nothing is written outside --output, and nothing reaches the terminal raw."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
from pathlib import Path

import pytest

from conftest import run_cli, stored_instances
from harness.errors import HarnessError
from harness.names import slug, visible
from harness.run_spec import load_suite

SLUG = re.compile(r"[A-Za-z0-9._-]+")
ESC = "\x1b"
RLO = "\u202e"


def suite_text(name: str | None = None, models: str = "[chance]", extra: str = "") -> str:
    head = f"name: {json.dumps(name)}\n" if name is not None else ""
    return f"{head}models: {models}\nentries:\n  - {{scenario: boolq, max_instances: 2{extra}}}\n"


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    """The one line of a rejected command (exit code 2), without its `harness: error: ` prefix."""
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("harness: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0].removeprefix("harness: error: ")


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")} if folder.exists() else set()


# --- names are not paths ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../../escaped", "..", ".", "a/b", "/ABSOLUTE", "sub/../../up", "con:x"])
def test_a_suite_name_never_writes_outside_output(tmp_path: Path, name: str) -> None:
    work = tmp_path / "deep" / "er"
    work.mkdir(parents=True)
    if name == "/ABSOLUTE":
        name = str(tmp_path / "absolute")
    (work / "suite.yaml").write_text(suite_text(name))
    before = files_under(tmp_path) - files_under(work / "out")
    proc = run_cli("run", "suite.yaml", "--output", "out", cwd=work)
    assert proc.returncode == 0, proc.stderr
    written = files_under(tmp_path) - before
    outside = {p for p in written if not p.is_relative_to(work / "out")}
    assert outside == set(), outside
    sites = [p for p in (work / "out" / "site").iterdir()]
    assert len(sites) == 1 and SLUG.fullmatch(sites[0].name) and sites[0].name not in (".", "..")
    assert (sites[0] / "index.html").is_file()
    assert proc.stdout.splitlines()[-2] == f"site: {(sites[0] / 'index.html').resolve()}"


def test_names_that_slug_alike_get_folders_of_their_own(tmp_path: Path) -> None:
    """`café` and `cafè` (and `a/b` and `a:b`) would share a folder if only their unsafe characters were replaced."""
    for i, name in enumerate(["café", "cafè", "a/b", "a:b", "a_b"]):
        (tmp_path / f"s{i}.yaml").write_text(suite_text(name))
        proc = run_cli("run", f"s{i}.yaml", "--output", "out", cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    folders = sorted(p.name for p in (tmp_path / "out" / "site").iterdir())
    assert len(folders) == 5 and all(SLUG.fullmatch(f) for f in folders), folders
    assert "a_b" in folders  # a name that needs no change keeps it
    proc = run_cli("serve", "--output", "out", "--suite", "../../etc", "--port", "0", cwd=tmp_path)
    assert "no site at out/site/etc-" in one_error(proc)


@pytest.mark.parametrize("name", ["..", ".", "", "/", "a/../b", "é", "x" * 200, "\x00", "a\nb"])
def test_slug_is_one_safe_folder_name(name: str) -> None:
    s = slug(name)
    assert SLUG.fullmatch(s) and s not in (".", "..") and len(s) <= 100


def test_slug_keeps_safe_names_and_separates_changed_ones() -> None:
    assert slug("mmlu-5shot_v1.2") == "mmlu-5shot_v1.2"
    names = ["a/b", "a:b", "a?b", "a_b", "café", "cafè", "cafe", "x" * 81, "x" * 82]
    assert len({slug(n) for n in names}) == len(names)


# --- files that are not UTF-8 -------------------------------------------------------------------------------------

LATIN1_SUITE = "name: café\nmodels: [chance]\nentries:\n  - {scenario: boolq, max_instances: 2}\n".encode("latin-1")
BINARY = bytes(range(0x80, 0x100)) * 4 + bytes(range(0x80))


@pytest.mark.parametrize("content,line", [(LATIN1_SUITE, 1), (b"models: [chance]\n\n" + BINARY, 3)])
def test_a_suite_that_is_not_utf8_is_one_line(tmp_path: Path, content: bytes, line: int) -> None:
    (tmp_path / "suite.yaml").write_bytes(content)
    message = one_error(run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path))
    assert message.startswith(f"suite.yaml:{line}: not UTF-8"), message
    assert not (tmp_path / "out").exists()


def test_a_models_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_bytes("- name: café\n  client: chance\n".encode("latin-1"))
    message = one_error(run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--output", "out", cwd=tmp_path))
    assert message.startswith("models.yaml:1: not UTF-8"), message


def test_a_scenario_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"q": "1+1?", "a": "2"}\n')
    (tmp_path / "sc.yaml").write_bytes("name: x\ndescription: café\ndata: data.jsonl\n"
                                       "fields: {input: q, references: a}\n".encode("latin-1"))
    (tmp_path / "suite.yaml").write_text("models: [chance]\nentries:\n  - scenario: sc.yaml\n")
    message = one_error(run_cli("run", "suite.yaml", "--output", "out", cwd=tmp_path))
    assert message.startswith("sc.yaml:2: not UTF-8"), message


def test_a_nul_character_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_bytes(b"models: [chance]\nname: a\x00b\n")
    assert one_error(run_cli("run", "suite.yaml", cwd=tmp_path)).startswith("suite.yaml:2: YAML syntax error")


# --- models files: URLs and numbers -------------------------------------------------------------------------------

@pytest.mark.parametrize("url,needle", [
    ("http://127.0.0.1:99999/v1", "Port out of range"),
    ("http://127.0.0.1:0/v1", "port must be 1-65535"),
    ("http://127.0.0.1:abc/v1", "not a valid URL"),
    ("http:///v1", "expected http(s)://host"),
])
def test_a_bad_base_url_is_one_line_with_file_line_and_field(tmp_path: Path, url: str, needle: str) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_text(f"- name: srv\n  client: openai-compatible\n  base_url: {url}\n")
    proc = run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--models", "srv", "--output", "out",
                   cwd=tmp_path, timeout=60)
    message = one_error(proc)
    assert message.startswith("models.yaml:3: base_url: ") and needle in message, message


def test_a_bad_url_among_base_urls_names_its_own_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_text("- name: srv\n  client: openai-compatible\n  base_urls:\n"
                                          "    - http://127.0.0.1:8000/v1\n    - http://127.0.0.1:70000/v1\n")
    message = one_error(run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--models", "srv", cwd=tmp_path,
                                timeout=60))
    assert message.startswith("models.yaml:5: base_urls: 'http://127.0.0.1:70000/v1'"), message


@pytest.mark.parametrize("setting,line_text", [
    ("max_concurrency", "max_concurrency: 0"), ("max_concurrency", "max_concurrency: -3"),
    ("timeout_s", "timeout_s: -1"), ("timeout_s", "timeout_s: 0"), ("timeout_s", "timeout_s: .nan"),
    ("batch_size", "batch_size: 0"), ("max_attempts", "max_attempts: 0"), ("rpm", "rpm: -1"),
    ("price_input_per_mtok", "price_input_per_mtok: -0.5"),
])
def test_models_file_numbers_are_checked(tmp_path: Path, setting: str, line_text: str) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_text(f"- name: mine\n  client: chance\n  {line_text}\n")
    proc = run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--models", "mine", "--output", "out",
                   cwd=tmp_path, timeout=60)
    message = one_error(proc)
    assert message.startswith(f"models.yaml:3: {setting}: must be "), message
    assert not (tmp_path / "out" / "harness.db").exists()


def test_the_flag_and_the_models_file_share_one_rule(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_text("- name: mine\n  client: chance\n  max_concurrency: 0\n")
    from_file = one_error(run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--models", "mine",
                                  cwd=tmp_path, timeout=60))
    from_flag = one_error(run_cli("run", "suite.yaml", "--concurrency", "0", cwd=tmp_path, timeout=60))
    assert from_file.removeprefix("models.yaml:3: max_concurrency: ") == from_flag.removeprefix("--concurrency: ")


@pytest.mark.parametrize("flag", [["--concurrency", "abc"], ["--max-instances", "2.5"], ["--no-such-flag"]])
def test_a_bad_flag_is_one_line(tmp_path: Path, flag: list[str]) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    message = one_error(run_cli("run", "suite.yaml", *flag, cwd=tmp_path))
    assert flag[0] in message and "--help" in message, message


# --- suites: where each mistake is --------------------------------------------------------------------------------

def test_an_unknown_model_in_a_suite_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("name: x\nmodels:\n  - chance\n  - nobody/none\n"
                                         "entries:\n  - {scenario: boolq, max_instances: 2}\n")
    message = one_error(run_cli("run", "suite.yaml", cwd=tmp_path))
    assert message.startswith("suite.yaml:4: models: unknown model 'nobody/none'"), message


@pytest.mark.parametrize("entries,line", [("entries: [null]\n", 2), ("entries:\n  - {scenario: boolq}\n  - null\n", 4),
                                          ("entries:\n  - 7\n", 3)])
def test_an_entry_that_is_not_a_mapping_names_its_line(tmp_path: Path, entries: str, line: int) -> None:
    (tmp_path / "suite.yaml").write_text("models: [chance]\n" + entries)
    message = one_error(run_cli("run", "suite.yaml", cwd=tmp_path))
    assert message.startswith(f"suite.yaml:{line}: entry must be a mapping"), message


def test_a_deployment_that_is_not_a_mapping_names_its_line(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(suite_text("ok"))
    (tmp_path / "models.yaml").write_text("- name: a\n  client: chance\n- null\n")
    message = one_error(run_cli("run", "suite.yaml", "--models-file", "models.yaml", cwd=tmp_path))
    assert message.startswith("models.yaml:3: deployment must be a mapping"), message


# --- shots beyond the few-shot pool -------------------------------------------------------------------------------

def test_the_run_id_names_the_shots_the_prompts_hold(tmp_path: Path) -> None:
    rows = [{"id": f"r{i}", "q": f"{i}+1?", "a": str(i + 1), "split": "train" if i < 5 else "test"} for i in range(9)]
    (tmp_path / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "sc.yaml").write_text("name: addone\ndata: data.jsonl\nfields: {input: q, references: a, split: split}\n")
    (tmp_path / "suite.yaml").write_text("models: [chance]\nentries:\n  - {scenario: sc.yaml, shots: 1000}\n"
                                         "  - {scenario: sc.yaml, shots: 3}\n")
    proc = run_cli("run", "suite.yaml", "--output", "out", "--no-site", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    with sqlite3.connect(tmp_path / "out" / "harness.db") as db:
        runs = dict(db.execute("SELECT run_id, adapter_spec FROM runs").fetchall())
    shots = sorted(json.loads(spec)["max_train_instances"] for spec in runs.values())
    assert shots == [3, 5], runs
    assert sorted(re.search(r",(\d+)shot@", r).group(1) for r in runs) == ["3", "5"], runs
    run_id = next(r for r in runs if "5shot" in r)
    prompt = stored_instances(tmp_path / "out" / "harness.db", run_id)[0]["prompt"]
    assert all(f"{i}+1?" in prompt for i in range(5))  # all five pool rows are in it


def test_shots_within_the_pool_keep_the_spec() -> None:
    from harness.adapters.spec import AdapterSpec
    from harness.run_spec import RunSpec

    spec = RunSpec("boolq", {}, AdapterSpec(max_train_instances=4), ("exact_match",), "boolq")
    assert spec.with_shots_available(4) is spec and spec.with_shots_available(10) is spec
    cut = spec.with_shots_available(2)
    assert cut.adapter_spec.max_train_instances == 2 and "2shot@" in cut.run_id("m") and cut.run_id("m") != spec.run_id("m")


# --- control characters in names ----------------------------------------------------------------------------------

def test_names_reach_the_terminal_escaped(tmp_path: Path) -> None:
    model = f"ev{ESC}[31mil{RLO}exe"
    group = f"gr{ESC}]0;pwned\x07oup"
    (tmp_path / "models.yaml").write_text(f"- name: {json.dumps(model)}\n  client: chance\n")
    (tmp_path / "suite.yaml").write_text(f"name: x\nmodels: [{json.dumps(model)}]\nentries:\n"
                                         f"  - {{scenario: boolq, max_instances: 2, group: {json.dumps(group)}}}\n")
    proc = run_cli("run", "suite.yaml", "--models-file", "models.yaml", "--output", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    for text in (proc.stdout, proc.stderr):
        assert ESC not in text and RLO not in text and "\x07" not in text
    assert "ev\\x1b[31mil\\u202eexe" in proc.stdout and "gr\\x1b]0;pwned\\x07oup" in proc.stdout
    summary = run_cli("summarize", "--output", "out", cwd=tmp_path)
    assert summary.returncode == 0 and ESC not in summary.stdout and "ev\\x1b[31mil" in summary.stdout
    listed = run_cli("list", "models", "--models-file", "models.yaml", cwd=tmp_path)
    assert ESC not in listed.stdout and "ev\\x1b[31mil" in listed.stdout
    unknown = one_error(run_cli("run", "suite.yaml", "--models", f"x{ESC}[2J", cwd=tmp_path))
    assert ESC not in unknown and "x\\x1b[2J" in unknown


def test_visible_escapes_controls_and_keeps_text() -> None:
    assert visible("Gemma 3 · 270M — 日本語 مرحبا") == "Gemma 3 · 270M — 日本語 مرحبا"
    assert visible(f"a{ESC}b\x9bc\x7f\n") == "a\\x1bb\\x9bc\\x7f\\x0a"
    for char in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c":
        assert visible(f"x{char}y") == f"x\\u{ord(char):04x}y"


@pytest.mark.parametrize("name", ["[a, b]", '""', "' '", "null"])
def test_a_suite_name_that_is_not_text_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "suite.yaml").write_text(f"name: {name}\nmodels: [chance]\nentries:\n  - {{scenario: boolq}}\n")
    with pytest.raises(HarnessError) as info:
        load_suite(tmp_path / "suite.yaml")
    assert info.value.one_line().startswith(f"{tmp_path / 'suite.yaml'}:1: name: ")
