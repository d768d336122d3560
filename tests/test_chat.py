"""`harness chat`, driven through a pseudo-terminal against the stub server: typed lines and the answers, /prompt
showing the prompt as the entry's adapter builds it, the conversation over a chat API, fresh prompts over a
completions API, a stored instance's request sent again byte for byte, Ctrl-D / Ctrl-C, and bad input."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import signal
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import stub_server

from conftest import ROOT, run_cli, stored_instances

from harness.adapters.registry import make_adapter
from harness.adapters.spec import AdapterSpec
from harness.chat import Conversation
from harness.instance import Instance

SCENARIO = """\
name: chat_sums
data: sums.jsonl
fields: {input: q, references: a}
instructions: Add the numbers.
input_prefix: "Q: "
output_prefix: "A: "
split: test
fewshot:
  - {q: '10 + 10?', a: '20'}
  - {q: '20 + 20?', a: '40'}
"""

SUITE = """\
entries:
  - scenario: chat_sums.yaml
    method: generation
    shots: 2
    max_tokens: 8
    stop: ["\\n\\n"]
"""


def write_files(tmp_path: Path, base_url: str) -> Path:
    (tmp_path / "sums.jsonl").write_text("".join(json.dumps({"q": f"{n} + {n}?", "a": str(2 * n)}) + "\n"
                                                 for n in range(1, 4)))
    (tmp_path / "chat_sums.yaml").write_text(SCENARIO)
    (tmp_path / "suite.yaml").write_text(SUITE)
    models = tmp_path / "models.yaml"
    models.write_text("".join(f"- name: stub-{api}\n  client: openai-compatible\n  base_url: {base_url}\n"
                              f"  model: stub-model\n  api: {api}\n" for api in ("chat", "completions")))
    return models


def recorded(stub) -> list[dict]:
    with urllib.request.urlopen(stub.url + "/stub/requests", timeout=10) as response:
        return [r["body"] for r in json.load(response)]


class Terminal:
    """`python -m harness ARGS` on a pseudo-terminal of its own (its controlling terminal: Ctrl-C is a SIGINT)."""

    def __init__(self, *args: str, cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               "TERM": "dumb"}
        pid, fd = pty.fork()
        if pid == 0:  # the child: nothing of pytest's may run here
            try:
                os.chdir(cwd)
                os.execve(sys.executable, [sys.executable, "-m", "harness", *args], env)
            finally:
                os._exit(127)
        self.pid, self.fd, self.output = pid, fd, ""
        self.at_prompt = False  # whether the last prompt shown is consumed (by `line`)

    def expect(self, pattern: str, timeout: float = 30) -> str:
        """Read until `pattern` (a regex) appears after what earlier calls consumed; the text up to its end."""
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output)
            if match:
                consumed, self.output = self.output[:match.end()], self.output[match.end():]
                return consumed
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                raise AssertionError(f"{pattern!r} not seen; the terminal showed:\n{self.output}")
            try:
                data = os.read(self.fd, 65536)
            except OSError:  # the child is gone
                data = b""
            if not data:
                raise AssertionError(f"{pattern!r} not seen before the end; the terminal showed:\n{self.output}")
            self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")

    def prompt(self) -> str:
        """What the terminal shows until the next prompt."""
        shown = self.expect(r"(^|\n)> ")
        self.at_prompt = True
        return shown

    def type(self, text: str) -> None:
        os.write(self.fd, text.encode())

    def line(self, text: str) -> str:
        """At the prompt, type a line; what the terminal shows until the next prompt."""
        if not self.at_prompt:
            self.prompt()
        self.type(text + "\n")
        shown = self.expect(r"\n> ")
        self.at_prompt = True
        return shown

    def exit_code(self, timeout: float = 30) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                while select.select([self.fd], [], [], 0.1)[0]:
                    data = os.read(self.fd, 65536)
                    if not data:
                        break
                    self.output += data.decode("utf-8", "replace").replace("\r\n", "\n")
            except OSError:
                pass
            done, status = os.waitpid(self.pid, os.WNOHANG)
            if done:
                os.close(self.fd)
                return os.waitstatus_to_exitcode(status)
        os.kill(self.pid, signal.SIGKILL)
        raise AssertionError(f"harness chat did not exit; the terminal showed:\n{self.output}")


def stub_answer(text: str, max_tokens: int, stop: list[str]) -> str:
    return stub_server.truncate(stub_server.answer_text(text, chat=True), max_tokens, stop)[0]


def test_chat_api_conversation_with_an_entrys_prompt(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0", "--record-requests")
    models = write_files(tmp_path, stub.base_url)
    term = Terminal("chat", "stub-chat", "--entry", "suite.yaml:1", "--models-file", str(models), cwd=tmp_path)
    banner = term.expect(r"/quit or Ctrl-D leaves\n")
    assert "stub-chat (chat API) as entry 1 of suite.yaml (chat_sums, generation, 2 shots)" in banner
    shown = term.line("What is 7 + 5?")
    query = "Q: What is 7 + 5?\nA:"
    assert stub_answer(query, 8, ["\n\n"]).strip().split("\n")[0] in shown
    body = recorded(stub)[-1]
    # the entry's chat form: its instructions, both few-shot examples as question/answer pairs, then the line
    assert body["messages"] == [
        {"role": "system", "content": "Add the numbers."},
        {"role": "user", "content": "Q: 10 + 10?\nA:"}, {"role": "assistant", "content": "20"},
        {"role": "user", "content": "Q: 20 + 20?\nA:"}, {"role": "assistant", "content": "40"},
        {"role": "user", "content": query}]
    assert body["max_tokens"] == 8 and body["stop"] == ["\n\n"]
    prompt = term.line("/prompt")
    for part in ("[system]\nAdd the numbers.", "[user]\nQ: 10 + 10?\nA:", "[assistant]\n20", "[user]\n" + query):
        assert part in prompt
    assert re.search(r"request key [0-9a-f]{32}", prompt)
    # the conversation goes on: the answer, then the next line as the entry writes a question
    answer = stub_answer(query, 8, ["\n\n"]).strip()
    term.line("And 1 + 1?")
    body = recorded(stub)[-1]
    assert body["messages"][-3:] == [{"role": "user", "content": query}, {"role": "assistant", "content": answer},
                                     {"role": "user", "content": "Q: And 1 + 1?\nA:"}]
    assert "(conversation cleared)" in term.line("/reset")
    term.line("Fresh?")
    assert [m["content"] for m in recorded(stub)[-1]["messages"]][-2:] == ["40", "Q: Fresh?\nA:"]
    assert "unknown command" in term.line("/nonsense")
    term.type("\x04")  # Ctrl-D
    assert term.exit_code() == 0
    assert "Traceback" not in term.output


def test_completions_api_fresh_prompts_and_ctrl_c(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0", "--record-requests")
    models = write_files(tmp_path, stub.base_url)
    term = Terminal("chat", "stub-completions", "--entry", "suite.yaml:1", "--models-file", str(models), cwd=tmp_path)
    assert "each line is a fresh prompt" in term.expect(r"/quit or Ctrl-D leaves\n")
    term.line("3 + 4?")
    term.line("5 + 6?")
    head = "Add the numbers.\n\nQ: 10 + 10?\nA: 20\n\nQ: 20 + 20?\nA: 40\n\n"
    assert [b["prompt"] for b in recorded(stub)] == [head + "Q: 3 + 4?\nA:", head + "Q: 5 + 6?\nA:"]
    prompt = term.line("/prompt")
    assert "Add the numbers." in prompt and "Q: 5 + 6?" in prompt and "3 + 4" not in prompt
    term.type("\x03")  # Ctrl-C
    assert term.exit_code() == 130
    assert "Traceback" not in term.output


def test_plain_conversation_without_an_entry(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0", "--record-requests")
    models = write_files(tmp_path, stub.base_url)
    term = Terminal("chat", "stub-completions", "--models-file", str(models), cwd=tmp_path)
    shown = term.line("Hello there")
    first = recorded(stub)[-1]["prompt"]
    assert first == "User: Hello there\nAssistant:"
    reply = stub_server.truncate(stub_server.answer_text(first), 512, ["\nUser:"])[0]
    assert reply.startswith(" ")
    assert reply.strip().split("\n")[0] in shown
    term.line("How are you?")
    # a completions deployment, and still a conversation: the plain form is multi-turn, with the model's answer in it
    assert recorded(stub)[-1]["prompt"] == first + " " + reply.strip() + "\nUser: How are you?\nAssistant:"
    term.type("/quit\n")
    assert term.exit_code() == 0


@pytest.mark.parametrize("api", ["chat", "completions"])
def test_stored_instance_is_sent_again_byte_for_byte(tmp_path: Path, stub_factory, api: str) -> None:
    stub = stub_factory("--latency", "0", "--record-requests")
    models = write_files(tmp_path, stub.base_url)
    run = run_cli("run", "suite.yaml", "--models", f"stub-{api}", "--models-file", str(models), "--max-instances", "1",
                  "--output", "out", "--no-site", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    sent_by_run = recorded(stub)
    assert len(sent_by_run) == 1
    row, = stored_instances(tmp_path / "out" / "harness.db")
    key, = json.loads(row["request_keys"])
    term = Terminal("chat", f"stub-{api}", "--instance", row["instance_id"], "--output", "out",
                    "--models-file", str(models), cwd=tmp_path)
    shown = term.prompt()
    assert f"its request {key}, sent again" in shown
    assert "Q: 10 + 10?" in shown and row["input"] in shown
    sent = recorded(stub)
    assert len(sent) == 2 and sent[1] == sent[0]  # the same request body, prompt bytes and settings
    assert f"request key {key}" in term.line("/prompt")
    # then the conversation goes on from the stored instance, framed as the run framed it
    term.line("9 + 9?")
    last = recorded(stub)[-1]
    if api == "chat":
        assert last["messages"][:-2] == sent[0]["messages"]
        assert last["messages"][-1] == {"role": "user", "content": "Q: 9 + 9?\nA:"}
        term.line("/reset")  # a fresh prompt: the stored head (instructions, examples), then the line
        term.line("8 + 8?")
        assert recorded(stub)[-1]["messages"] == [*sent[0]["messages"][:-1], {"role": "user", "content": "Q: 8 + 8?\nA:"}]
    else:
        head = sent[0]["prompt"][:-len(f"Q: {row['input']}\nA:")]
        assert last["prompt"] == head + "Q: 9 + 9?\nA:"
    term.type("/quit\n")
    assert term.exit_code() == 0


def test_bad_input_is_one_line(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0")
    models = write_files(tmp_path, stub.base_url)
    cases = [
        (("chat", "no-such-model", "--models-file", str(models)), "unknown deployment 'no-such-model'"),
        (("chat", "stub-chat", "--entry", "suite.yaml:2", "--models-file", str(models)),
         "suite.yaml: --entry: no entry '2': the suite has 1 entries, numbered 1 to 1"),
        (("chat", "stub-chat", "--entry", "suite.yaml:x", "--models-file", str(models)), "no entry 'x'"),
        (("chat", "stub-chat", "--entry", "suite.yaml", "--models-file", str(models)), "expected SUITE.yaml:N"),
        (("chat", "stub-chat", "--instance", "7", "--output", "nowhere", "--models-file", str(models)),
         "no store at nowhere/harness.db"),
    ]
    run = run_cli("run", "suite.yaml", "--models", "stub-chat", "--models-file", str(models), "--max-instances", "1",
                  "--output", "out", "--no-site", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    cases.append((("chat", "stub-chat", "--instance", "no-such-id", "--output", "out", "--models-file", str(models)),
                  "--instance: no instance 'no-such-id' in the stored runs of stub-chat"))
    for args, message in cases:
        proc = run_cli(*args, cwd=tmp_path, timeout=60)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, (args, proc.stderr)
        assert proc.stdout == ""


@pytest.mark.parametrize("chat", [True, False])
def test_multi_turn_follow_up_is_the_adapters_next_turn(chat: bool) -> None:
    """The conversation's later turns are exactly what the multi-turn adapter sends for that turn."""
    spec = AdapterSpec(method="multi_turn_chat", instructions="Be brief.", input_prefix="User: ",
                       output_prefix="Assistant: ", max_tokens=64, stop_sequences=("\nUser:",))
    adapter = make_adapter(spec, chat=chat)
    conversation = Conversation(adapter, None, chat)
    first = conversation.request_for("Hi")
    conversation.answered(first, " Hello! \n")
    second = conversation.request_for("How are you?")
    conversation.answered(second, "Fine.")
    third = conversation.request_for("Bye")
    inst = Instance(id="x", input="Hi", references=(), extra={"turns": json.dumps(["Hi", "How are you?", "Bye"])})
    assert first == adapter.adapt_turn(inst, []).requests[0]
    assert second == adapter.adapt_turn(inst, [" Hello! \n"]).requests[0]
    assert third == adapter.adapt_turn(inst, [" Hello! \n", "Fine."]).requests[0]


def test_ctrl_c_during_a_request_and_hostile_answers(tmp_path: Path, stub_factory) -> None:
    hostile = stub_factory("--latency", "0", "--hostile-rate", "1", "--hostile-kind", "ansi")
    models = write_files(tmp_path, hostile.base_url)
    term = Terminal("chat", "stub-chat", "--models-file", str(models), cwd=tmp_path)
    shown = term.line("Hello")
    assert "red" in shown and "\x1b[31m" not in term.output and "\x9b" not in term.output  # shown, never obeyed
    term.type("/quit\n")
    assert term.exit_code() == 0
    slow = stub_factory("--latency", "8")  # at most the 10 s the fixture waits for the stub to stop
    models = write_files(tmp_path, slow.base_url)
    term = Terminal("chat", "stub-chat", "--models-file", str(models), cwd=tmp_path)
    term.prompt()
    term.type("Hello\n")
    term.expect("Hello\n")
    time.sleep(0.5)  # the request is in flight
    started = time.monotonic()
    term.type("\x03")
    assert term.exit_code() == 130 and time.monotonic() - started < 5  # not waiting for the answer
    assert "Traceback" not in term.output


def test_an_instance_in_several_runs_is_named_by_its_run(tmp_path: Path, stub_factory) -> None:
    stub = stub_factory("--latency", "0", "--record-requests")
    models = write_files(tmp_path, stub.base_url)
    (tmp_path / "suite.yaml").write_text(SUITE + "  - scenario: chat_sums.yaml\n    shots: 0\n")
    run = run_cli("run", "suite.yaml", "--models", "stub-chat", "--models-file", str(models), "--max-instances", "1",
                  "--output", "out", "--no-site", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    by_run = {row["run_id"]: row for row in stored_instances(tmp_path / "out" / "harness.db")}
    ids = {row["instance_id"] for row in by_run.values()}
    assert len(by_run) == 2 and len(ids) == 1
    instance = ids.pop()
    proc = run_cli("chat", "stub-chat", "--instance", instance, "--output", "out", "--models-file", str(models),
                   cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "is in 2 runs of stub-chat" in proc.stderr and "pass --run" in proc.stderr
    zero_shot = next(run_id for run_id in by_run if ",0shot@" in run_id)
    for how in (("--run", zero_shot), ("--entry", "suite.yaml:2")):
        before = len(recorded(stub))
        term = Terminal("chat", "stub-chat", "--instance", instance, *how, "--output", "out",
                        "--models-file", str(models), cwd=tmp_path)
        term.prompt()
        sent = recorded(stub)[before:]
        assert len(sent) == 1 and len(sent[0]["messages"]) == 2  # the zero-shot run's: instructions and the question
        assert sent[0] in recorded(stub)[:2]
        term.type("/quit\n")
        assert term.exit_code() == 0
