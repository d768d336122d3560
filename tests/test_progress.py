"""The suite-wide progress display (harness.progress) through the real CLI against the stub server: plain lines when
stderr is not a terminal, one live line on a terminal (a pty), both with a total known from the start."""

from __future__ import annotations

import fcntl
import io
import json
import os
import pty
import re
import select
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

from conftest import run_cli

# Six distinct questions in eight rows (two repeat one) and one row whose choices repeat: 24 requests planned,
# 18 distinct; the repeats must still count towards the total.
DUP_SCENARIO = """\
name: dup_choices
data: dup.jsonl
fields: {input: question, choices: choices, answer: answer, split: split}
answer_format: index
method: multiple_choice_separate
output_prefix: "Answer: "
shots: 0
"""
SUITE = """\
name: progress
entries:
  - scenario: dup.yaml
  - scenario: mmlu
    method: multiple_choice_joint
    max_instances: 40
"""
TOTAL = 8 * 3 + 40
LINE = re.compile(r"progress: runs (\d+)/(\d+) · requests ([\d,]+)/([\d,]+) \([\d.]+%\) · [\d.]+ req/s · "
                  r"(?:ETA \S+|done in \S+) · failures ([\d,]+) · cached ([\d,]+)")


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def write_suite(tmp_path: Path, base_url: str) -> tuple[str, ...]:
    rows = [{"id": f"q{i}", "split": "test", "question": f"Question {i % 6}?",
             "choices": ["yes", "no", "yes"] if i == 0 else ["yes", "no", "maybe"], "answer": 1} for i in range(8)]
    (tmp_path / "dup.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (tmp_path / "dup.yaml").write_text(DUP_SCENARIO)
    (tmp_path / "suite.yaml").write_text(SUITE)
    # 2 in flight at 0.05 s each: ~0.8 s of requests, several progress intervals of 0.1 s
    (tmp_path / "models.yaml").write_text(f"- name: local/stub\n  client: openai-compatible\n  base_url: {base_url}\n"
                                          "  model: stub-model\n  max_concurrency: 2\n")
    return ("run", "suite.yaml", "--models", "local/stub", "--models-file", "models.yaml", "--output", "out",
            "--no-site")


def progress_lines(text: str) -> list[tuple[int, ...]]:
    """(runs done, runs total, requests done, requests total, failures, cached) of each progress line."""
    return [tuple(_number(g) for g in m.groups()) for m in LINE.finditer(text)]


def test_plain_lines_off_a_terminal_keep_one_total_and_end_at_it(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0.05")
    args = write_suite(tmp_path, stub.base_url)
    first = run_cli(*args, cwd=tmp_path, env={"HARNESS_PROGRESS_INTERVAL": "0.1"})
    assert first.returncode == 0, first.stderr
    lines = progress_lines(first.stderr)
    assert len(lines) >= 4, first.stderr  # at the start, at least two while requests are in flight, at the end
    assert {(runs, total) for _, runs, _, total, _, _ in lines} == {(2, TOTAL)}  # the totals never change
    assert lines[0][0] == lines[0][2] == 0
    for before, after in zip(lines, lines[1:]):
        assert after[0] >= before[0] and after[2] >= before[2], first.stderr  # counts only grow
    assert any(0 < done < TOTAL for _, _, done, _, _, _ in lines), first.stderr  # seen during the run
    assert lines[-1][:4] == (2, 2, TOTAL, TOTAL) and lines[-1][4:] == (0, 0)
    assert "done in" in first.stderr.strip().splitlines()[-1]
    assert stub.stats()["total_requests"] == 6 * 3 + 40  # the repeats were counted, not sent

    # The same lines, with a time each, in the log the summary names.
    log = Path(tmp_path, re.search(r"^log: (\S+)$", first.stdout, re.M).group(1))
    assert log.parent == tmp_path / "out" / "logs"
    assert progress_lines(log.read_text()) == lines

    # A rerun finds every run finished: done at once, every request counted as cached, none as sent.
    second = run_cli(*args, cwd=tmp_path, env={"HARNESS_PROGRESS_INTERVAL": "0.1"})
    assert second.returncode == 0, second.stderr
    again = progress_lines(second.stderr)
    assert again[-1][:4] == (2, 2, 58, 58)  # a reused run counts its distinct requests, as stored
    assert again[-1][5] == 58 and "0.0 req/s" in second.stderr.strip().splitlines()[-1]


def test_a_bad_interval_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text("entries:\n  - scenario: boolq\n    max_instances: 2\n")
    proc = run_cli("run", "suite.yaml", "--models", "chance", "--output", "out", cwd=tmp_path,
                   env={"HARNESS_PROGRESS_INTERVAL": "soon"})
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == ["harness: error: HARNESS_PROGRESS_INTERVAL: must be a positive number "
                                                "of seconds, got 'soon'"]


def read_pty(command: list[str], cwd: Path, env: dict[str, str], columns: int = 160,
             timeout: float = 120) -> tuple[int, str]:
    """Run `command` with a pseudo-terminal as stdin, stdout and stderr; (exit code, what it wrote)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(command, cwd=cwd, env=env, stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    os.close(slave)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.5)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        os.close(master)
    return proc.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")


def test_one_live_line_on_a_terminal(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0.05")
    args = write_suite(tmp_path, stub.base_url)
    code, shown = read_pty([sys.executable, "-m", "harness", *args], tmp_path, dict(os.environ))
    assert code == 0, shown
    found = re.findall(r"runs (\d+)/(\d+) · requests ([\d,]+)/([\d,]+)", shown)
    assert found, shown
    assert {(runs, _number(total)) for _, runs, _, total in found} == {("2", TOTAL)}, shown
    done = [_number(d) for _, _, d, _ in found]
    assert any(0 < d < TOTAL for d in done) and done[-1] == TOTAL, shown
    assert "\r" in shown  # redrawn in place
    assert "progress:" not in shown  # no plain lines on a terminal


def test_names_are_shown_without_control_characters() -> None:
    from harness.progress import SuiteProgress

    stream = io.StringIO()
    progress = SuiteProgress(stream=stream, live=False, interval=60)
    progress.start(1, 3)
    progress.begin_run("m\x1b[2Jx \u202egnp.exe")
    progress.answered(2, 1)
    progress.note("loading m\x1b]0;title\x07")
    progress._line()
    progress.close()
    text = stream.getvalue()
    assert "\x1b" not in text and "\u202e" not in text and "\x07" not in text
    assert "m\\x1b[2Jx \\u202egnp.exe" in text and "loading m\\x1b]0;title\\x07" in text
    assert "runs 0/1 · requests 2/3 (66.7%)" in text and "failures 1" in text
