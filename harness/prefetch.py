"""`harness prefetch`: download and verify, before a run, every file a suite's scenarios read.

Downloaded scenarios (data_shipped == "download") fetch their pinned RemoteFiles into the cache (see
harness.scenarios.download); a file without a pinned sha256 is trusted on first use (its digest is recorded and
checked from then on, and the line says so). Shipped scenarios are checked against
harness/scenarios/data/checksums.json. One line per file: `ok`, `downloaded` or `failed: reason`; the exit code is 0
only when every file is present and valid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from harness.errors import HarnessError


def parse_scenario_spec(text: str) -> tuple[str, dict[str, Any]]:
    """`name` or `name:key=value,key=value` (integers stay integers), as `Scenario.full_name` prints it."""
    name, _, rest = text.partition(":")
    args: dict[str, Any] = {}
    for part in filter(None, rest.split(",")):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise HarnessError(f"expected key=value, got {part!r}", field="--scenario")
        args[key.strip()] = int(value) if value.strip().lstrip("-").isdigit() else value.strip()
    return name.strip(), args


def _prefetch_one(scenario: Any, seen: set[str], say: Callable[[str], None]) -> bool:
    from harness.scenarios.download import cache_root, fetch

    label = scenario.full_name
    if scenario.data_shipped != "download":
        try:
            scenario.data_fingerprint()  # checks each shipped file against its recorded sha256
        except HarnessError as exc:
            say(f"{label}: shipped data failed: {exc.one_line()}")
            return False
        say(f"{label}: shipped data ok")
        return True
    try:
        remotes = scenario.remote_files()
    except HarnessError as exc:
        say(f"{label}: failed: {exc.message}")
        return False
    ok = True
    for remote in remotes:
        if remote.filename in seen:
            continue
        seen.add(remote.filename)
        target = cache_root() / remote.filename
        present = target.is_file()
        try:
            fetch(remote, allow_unverified=True)
        except HarnessError as exc:
            # the message names the URL where it matters; said once
            say(f"{label}: {remote.url}: failed: {exc.message.replace(remote.url, 'it')}")
            ok = False
            continue
        trust = "" if remote.sha256 else " (no pinned sha256: trusted on first use, digest recorded)"
        say(f"{label}: {remote.url}: {'ok' if present else 'downloaded'}{'' if present else trust}")
    return ok


def prefetch(scenarios: Iterable[tuple[str, dict[str, Any]]], say: Callable[[str], None] = print) -> int:
    """Fetch and verify the files of each (scenario, args); 0 when all are present and valid, else 1."""
    from harness.scenarios.base import make_scenario

    seen: set[str] = set()
    done: set[str] = set()
    ok = True
    for name, args in scenarios:
        scenario = make_scenario(name, args)
        if scenario.full_name in done:
            continue
        done.add(scenario.full_name)
        ok = _prefetch_one(scenario, seen, say) and ok
    return 0 if ok else 1


def prefetch_suite(path: str, say: Callable[[str], None] = print) -> int:
    from harness.run_spec import load_suite

    suite = load_suite(path)
    return prefetch(((spec.scenario, spec.scenario_args) for spec in suite.run_specs), say)


def cmd_prefetch(args: Any) -> int:
    """The `harness prefetch` subcommand: a suite file and/or --scenario NAME[:k=v,...] (repeatable)."""
    if not args.suite and not args.scenario:
        raise HarnessError("give a suite file or --scenario NAME[:key=value,...]", field="prefetch")
    code = prefetch_suite(args.suite) if args.suite else 0
    if args.scenario:
        code = max(code, prefetch(parse_scenario_spec(s) for s in args.scenario))
    return code


def add_parser(sub: Any) -> None:
    p = sub.add_parser("prefetch", help="download and verify the data a suite (or --scenario) needs")
    p.add_argument("suite", nargs="?", help="suite YAML file, or a shipped suite's name (harness list suites)")
    p.add_argument("--scenario", action="append", default=[],
                   help="a scenario with its args, e.g. wmt14:pair=fr-en (repeatable)")
