"""`harness chat DEPLOYMENT`: talk to a model in the terminal, each turn formatted as a suite entry's adapter formats
its prompts, so an instance can be probed by hand ("don't trust your numbers, talk to models").

A typed line is an instance's input (an Instance with that input and no references), adapted by the entry's adapter
with its few-shot examples drawn as the run draws them (same seed, same pool), and sent as the Request a run would
build (so its key is the run's). Over a chat API the conversation goes on: each later line is a user message after
the model's answer, as the adapter writes an example's question and answer. Over a completions API each line is a
fresh prompt, unless the entry is multi-turn, whose completions form holds the conversation as text (harness/adapters/
multi_turn_chat.py). With no entry the lines are a plain multi-turn conversation (User: / Assistant:).

`--instance ID` starts from a stored instance: its request, read back from the store, is sent again as it was (the
same key, the same prompt bytes), and the conversation goes on from its answer. Later fresh prompts keep what came
before the instance's own text in its prompt (instructions, few-shot examples), or, with --entry, are that entry's.

Nothing is stored: chat is a probe, not a run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness.adapters.base import Adapter, render_messages
from harness.adapters.prompt import FewShotPool
from harness.adapters.spec import MULTI_TURN_CHAT, MULTIPLE_CHOICE_SEPARATE, AdapterSpec
from harness.clients.deployment import ModelDeployment
from harness.errors import HarnessError
from harness.instance import CORRECT, Instance, Reference
from harness.names import visible
from harness.records import Request

# No entry: a plain conversation, in MT-Bench's form (harness/scenarios/mt_bench.py) with room for an answer.
PLAIN = AdapterSpec(method=MULTI_TURN_CHAT, input_prefix="User: ", input_suffix="\n", output_prefix="Assistant: ",
                    instance_separator="", max_tokens=512, stop_sequences=("\nUser:",))
COMMANDS = "/prompt shows the prompt last sent, /reset starts over, /quit or Ctrl-D leaves"


def uses_chat_api(deployment: ModelDeployment) -> bool:
    """Whether the deployment is sent messages (as the runner decides)."""
    return deployment.client in ("openai-compatible", "vllm-server") and deployment.api == "chat"


@dataclass(frozen=True)
class Frame:
    """What comes before a fresh line in a replayed instance's prompt: the chat messages, or the text."""

    messages: tuple[tuple[str, str], ...] = ()
    text: str = ""


class Conversation:
    """The request for each typed line, given what was sent and answered before."""

    def __init__(self, adapter: Adapter, pool: FewShotPool | None, chat: bool) -> None:
        self.adapter, self.chat = adapter, chat
        self.pool = pool if pool is not None else adapter.fewshot_pool(())
        self.multi_turn = adapter.method == MULTI_TURN_CHAT
        # A replay without an entry: fresh lines keep the stored request's head and settings.
        self.frame: Frame | None = None
        self.replayed: Request | None = None
        self.sent: Request | None = None  # the request last sent (/prompt shows it)
        self.last: Request | None = None  # the request last answered, which the next turn goes on from
        self.reply: str | None = None  # its answer
        self.count = 0

    @property
    def continues(self) -> bool:
        """Whether the next line goes on from the last answer rather than starting a fresh prompt."""
        return self.last is not None and self.reply is not None and (self.chat or self.multi_turn)

    def instance(self, line: str) -> Instance:
        self.count += 1
        return Instance(id=f"chat-{self.count}", input=line, references=())

    def user_text(self, line: str) -> str:
        """A later turn's text: a multi-turn entry's user turn as typed; other methods' as their query."""
        return line if self.multi_turn else self.adapter.query_text(self.instance(line))

    def request_for(self, line: str) -> Request:
        if self.continues:
            assert self.last is not None and self.reply is not None
            return self.follow_up(self.last, self.reply, line)
        if self.frame is not None and self.replayed is not None:
            return self.framed(self.replayed, line)
        adapted = self.adapter.adapt_one(self.instance(line), self.pool)
        return adapted.requests[0]

    def follow_up(self, last: Request, reply: str, line: str) -> Request:
        """The next turn after `reply` to `last`: as the adapter writes a question and its answer (an example's in
        the chat form, a turn's in the multi-turn form), with the same decoding settings."""
        if self.chat:
            turn = (("assistant", reply.strip()), ("user", self.user_text(line)))
            return replace(last, messages=(*last.messages, *turn))
        spec = self.adapter.spec
        prefix = spec.output_prefix.rstrip()
        text = (last.prompt + spec.output_prefix[len(prefix):] + reply.strip() + spec.output_suffix
                + spec.instance_separator + spec.input_prefix + line + spec.input_suffix + prefix)
        return replace(last, prompt=text)

    def framed(self, replayed: Request, line: str) -> Request:
        """A fresh prompt after a replay: the stored prompt's head, then this line as the adapter writes a query."""
        assert self.frame is not None
        if self.chat:
            return replace(replayed, messages=(*self.frame.messages, ("user", self.user_text(line))))
        spec = self.adapter.spec
        query = (spec.input_prefix + line + spec.input_suffix + spec.output_prefix.rstrip() if self.multi_turn
                 else self.adapter.query_text(self.instance(line)))
        return replace(replayed, prompt=self.frame.text + query)

    def answered(self, request: Request, reply: str | None) -> None:
        """`reply`: the answer to `request`, or None when it failed (the conversation then stays where it was)."""
        self.sent = request
        if reply is not None:
            self.last, self.reply = request, reply

    def reset(self) -> None:
        self.last = self.reply = None


def shown(request: Request) -> str:
    """A request's prompt as the store shows it: the text, or the messages (render_messages)."""
    return render_messages(request.messages) if request.messages else request.prompt


# --- what the command line names ------------------------------------------------------------------------------

@dataclass
class Entry:
    spec: Any  # RunSpec, with shots cut to the pool as a run cuts them
    scenario: str  # the scenario's full name, as runs store it
    index: int
    path: Path
    adapter: Adapter
    pool: FewShotPool


def load_entry(argument: str, deployment: ModelDeployment) -> Entry:
    """`SUITE.yaml:N` (N counted from 1, as the entries are listed): the entry's adapter and few-shot pool, made as
    the runner makes them for this deployment."""
    from harness.adapters.registry import make_adapter
    from harness.run_spec import load_suite
    from harness.scenarios.base import make_scenario

    suite_arg, colon, number = argument.rpartition(":")
    if not colon or not suite_arg:
        raise HarnessError(f"{argument!r}: expected SUITE.yaml:N (N: the entry's number, from 1)", field="--entry")
    suite = load_suite(suite_arg)
    count = len(suite.run_specs)
    if not number.isdigit() or not 1 <= int(number) <= count:
        raise HarnessError(f"no entry {number!r}: the suite has {count} entries, numbered 1 to {count}",
                           path=str(suite.path), field="--entry")
    spec = suite.run_specs[int(number) - 1]
    if spec.adapter_spec.method == MULTIPLE_CHOICE_SEPARATE:
        raise _separate(f"entry {number}", str(suite.path))
    scenario = make_scenario(spec.scenario, spec.scenario_args)
    fewshot: Sequence[Instance] = []
    if spec.adapter_spec.max_train_instances > 0:
        from harness.scenarios.download import cache_root
        from harness.suites import suite_argument

        if any(not (cache_root() / remote.filename).is_file() for remote in scenario.remote_files()):
            raise HarnessError(f"data not downloaded for {scenario.full_name}: run "
                               f"`harness prefetch {suite_argument(suite.path)}` first", path=str(suite.path),
                               field="--entry")
        fewshot = scenario.split(spec.adapter_spec.fewshot_split)
        spec = spec.with_shots_available(len(fewshot))
    try:
        adapter = make_adapter(spec.adapter_spec, chat=uses_chat_api(deployment),
                               context_length=deployment.context_length,
                               instructions_for=scenario.instructions_for_instance)
    except HarnessError as exc:
        raise HarnessError(f"entry {number} on {deployment.name}: {exc.message}", path=str(suite.path)) from None
    return Entry(spec, scenario.full_name, int(number), suite.path, adapter, adapter.fewshot_pool(fewshot))


def _separate(what: str, path: str | None = None, field: str = "--entry") -> HarnessError:
    return HarnessError(f"{what} uses multiple_choice_separate, which only scores the given choices by "
                        "log-probability and generates nothing; chat needs a method that generates "
                        "(generation, multiple_choice_joint, multi_turn_chat)", path=path, field=field)


@dataclass
class Stored:
    """A stored instance and the request of it that is sent again (its last: a multi-turn instance's last turn)."""

    run: dict[str, Any]
    row: dict[str, Any]
    key: str
    request: Request
    deployment: str  # what the run sent it to
    model: str


def find_instance(store: Any, deployment: ModelDeployment, instance_id: str, run_id: str | None,
                  entry: Entry | None) -> Stored:
    runs = [r for r in store.runs() if r["model"] == deployment.name]
    if run_id is not None:
        runs = [r for r in runs if r["run_id"] == run_id]
        if not runs:
            raise HarnessError(f"no run {run_id!r} of {deployment.name} in the store", field="--run")
    elif entry is not None:  # its runs: its scenario prompted as it prompts (whatever --max-instances was)
        wanted = entry.spec.adapter_spec.to_json()
        runs = [r for r in runs if r["scenario"] == entry.scenario and json.loads(r["adapter_spec"]) == wanted]
        if not runs:
            raise HarnessError(f"entry {entry.index} has no run of {deployment.name} in the store",
                               path=str(entry.path), field="--entry")
    found = [(run, row) for run in runs for row in store.iter_instances(run["run_id"])
             if row["instance_id"] == instance_id]
    if not found:
        raise HarnessError(f"no instance {instance_id!r} in the stored runs of {deployment.name}", field="--instance")
    if len(found) > 1:
        names = ", ".join(run["run_id"] for run, _ in found[:5]) + (", ..." if len(found) > 5 else "")
        raise HarnessError(f"instance {instance_id!r} is in {len(found)} runs of {deployment.name} ({names}); "
                           "pass --run RUN_ID or --entry SUITE.yaml:N", field="--instance")
    run, row = found[0]
    if run["method"] == MULTIPLE_CHOICE_SEPARATE:
        raise _separate(f"run {run['run_id']}", field="--instance")
    keys = json.loads(row["request_keys"])
    requests = store.request_rows(keys)
    generated = [k for k in keys if k in requests and requests[k]["request"]["kind"] == "generate"]
    if not generated:
        raise HarnessError(f"instance {instance_id!r} of run {run['run_id']} has no stored request to send again",
                           field="--instance")
    key = generated[-1]
    stored = requests[key]
    if bool(stored["request"]["messages"]) != uses_chat_api(deployment):
        sent, api = ("messages", "a completions") if stored["request"]["messages"] else ("a prompt", "a chat")
        raise HarnessError(f"run {run['run_id']} sent {sent}, and {deployment.name} has {api} API: "
                           "its request cannot be sent there as it was", field="--instance")
    return Stored(run, row, key, Request.from_json(stored["request"]), stored["deployment"], stored["model"])


def stored_adapter(stored: Stored, deployment: ModelDeployment) -> Adapter:
    """The run's adapter, from its stored settings (its instructions as the spec gives them; few-shot examples come
    from the stored prompt's head: replay_frame)."""
    from harness.adapters.registry import make_adapter

    data = json.loads(stored.run["adapter_spec"])
    spec = AdapterSpec(**{**data, "stop_sequences": tuple(data.get("stop_sequences", ()))})
    return make_adapter(spec, chat=uses_chat_api(deployment), context_length=deployment.context_length)


def replay_frame(adapter: Adapter, stored: Stored) -> Frame | None:
    """What comes before the instance's own text in its stored request (instructions, few-shot examples), or None
    where the request does not read as this adapter writes it."""
    request, row = stored.request, stored.row
    references = tuple(Reference(output, (CORRECT,) if correct else ())
                       for output, correct in json.loads(row["references"]))
    instance = Instance(id=row["instance_id"], input=row["input"], references=references)
    multi_turn = adapter.method == MULTI_TURN_CHAT
    if request.messages:
        first = instance.input if multi_turn else adapter.query_text(instance)
        users = [i for i, (role, content) in enumerate(request.messages) if role == "user" and content == first]
        if not users:
            return None
        return Frame(messages=request.messages[:users[0] if multi_turn else users[-1]])
    spec = adapter.spec
    if multi_turn:
        at = request.prompt.find(spec.input_prefix + instance.input)
        return Frame(text=request.prompt[:at]) if at >= 0 else None
    query = adapter.query_text(instance)
    return Frame(text=request.prompt[:-len(query)]) if request.prompt.endswith(query) else None


# --- the terminal -----------------------------------------------------------------------------------------------

def say(text: str) -> None:
    """Outside text (a prompt, an answer, an error) printed line by line, every control character escaped."""
    for line in text.split("\n"):
        print(visible(line))
    sys.stdout.flush()


class Session:
    """The client, started once, and the loop that runs each request on it."""

    def __init__(self, deployment: ModelDeployment) -> None:
        from harness.clients.base import make_client

        self.deployment = deployment
        self.runner = asyncio.Runner()
        self.client = make_client(deployment)
        self.runner.run(self.client.start())

    def send(self, request: Request) -> str | None:
        """The answer's first text, cleaned and redacted (None when the request failed: its error is printed)."""
        from harness.clients.base import from_outside

        result = from_outside(self.runner.run(self.client.process([request]))[0])
        if not result.ok:
            say(f"harness: the request failed: {result.error or 'no reason given'}")
            return None
        return result.texts[0] if result.texts else ""

    def close(self) -> None:
        try:
            self.runner.run(self.client.close())
        finally:
            self.runner.close()


def cmd_chat(args: argparse.Namespace) -> int:
    from harness.clients.deployment import load_deployments

    deployments = load_deployments(args.models_file)
    if args.deployment not in deployments:
        raise HarnessError(f"unknown deployment {args.deployment!r} (known: {', '.join(sorted(deployments))})",
                           field="DEPLOYMENT")
    deployment = deployments[args.deployment]
    from harness.clients.base import client_class

    client_class(deployment)  # a missing extra is one line now
    entry = load_entry(args.entry, deployment) if args.entry else None
    if args.run and not args.instance:
        raise HarnessError("--run names the run of --instance; give --instance too", field="--run")
    stored = _stored(args, deployment, entry) if args.instance else None
    chat = uses_chat_api(deployment)
    if entry is not None:
        conversation = Conversation(entry.adapter, entry.pool, chat)
        what = f"as entry {entry.index} of {entry.path} ({entry.spec.scenario}, {entry.spec.adapter_spec.method}, " \
               f"{entry.spec.adapter_spec.max_train_instances} shots)"
    elif stored is not None:
        conversation = Conversation(stored_adapter(stored, deployment), None, chat)
        conversation.frame, conversation.replayed = replay_frame(conversation.adapter, stored), stored.request
        what = f"as run {stored.run['run_id']} prompted"
    else:
        from harness.adapters.registry import make_adapter

        plain = make_adapter(PLAIN, chat=chat, context_length=deployment.context_length)
        conversation = Conversation(plain, None, chat)
        what = "as a plain conversation (User: / Assistant:)"
    api = "chat API" if chat else "completions API"
    say(f"harness chat: {deployment.name} ({api}) {what}")
    if not chat and not conversation.multi_turn:
        say("a completions deployment keeps no conversation: each line is a fresh prompt")
    if stored is not None and entry is None and conversation.frame is None:
        say("note: the stored prompt does not read as the run's settings write it: new lines are prompted from "
            "those settings alone, without its few-shot examples (pass --entry for the suite entry's)")
    say(COMMANDS)
    session: Session | None = None
    try:
        session = Session(deployment)
        if stored is not None:
            _replay(session, conversation, stored, deployment)
        return _loop(session, conversation)
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    finally:
        if session is not None:
            try:
                session.close()
            except KeyboardInterrupt:
                pass


def _stored(args: argparse.Namespace, deployment: ModelDeployment, entry: Entry | None) -> Stored:
    from harness.store.store import open_store, sqlite_url

    if not args.db and not (Path(args.output) / "harness.db").is_file():
        raise HarnessError(f"no store at {Path(args.output) / 'harness.db'}; pass the run's --output or --db",
                           field="--output")
    store = open_store(args.db or sqlite_url(Path(args.output)))
    try:
        return find_instance(store, deployment, args.instance, args.run, entry)
    finally:
        store.close()


def _replay(session: Session, conversation: Conversation, stored: Stored, deployment: ModelDeployment) -> None:
    request = stored.request
    key = request.key(deployment.name, deployment.model_id)
    say(f"--- instance {stored.row['instance_id']} of run {stored.run['run_id']}: its request {stored.key}, sent again")
    if key != stored.key:
        say(f"note: the run sent it to {stored.deployment} ({stored.model}); to {deployment.name} "
            f"({deployment.model_id}) its key is {key}")
    say(shown(request))
    say("---")
    reply = session.send(request)
    conversation.answered(request, reply)
    if reply is not None:
        say(reply)


def _loop(session: Session, conversation: Conversation) -> int:
    try:
        import readline  # noqa: F401  (line editing and history for input(), where the platform has it)
    except ImportError:
        pass
    while True:
        try:
            line = input("> ")
        except EOFError:
            print()
            return 0
        command = line.strip()
        if not command:
            continue
        if command == "/quit":
            return 0
        if command == "/reset":
            conversation.reset()
            say("(conversation cleared)")
            continue
        if command == "/prompt":
            if conversation.sent is None:
                say("(nothing sent yet)")
            else:
                request = conversation.sent
                say(shown(request))
                say(f"--- request key {request.key(session.deployment.name, session.deployment.model_id)}")
            continue
        if command.startswith("/") and not command.startswith("//"):
            say(f"unknown command {command!r}: {COMMANDS}; start a line with // to send one beginning with /")
            continue
        if command.startswith("//"):
            line = line.replace("//", "/", 1)
        request = conversation.request_for(line)
        reply = session.send(request)
        conversation.answered(request, reply)
        if reply is not None:
            say(reply)
