"""The `harness` command. Imports are deferred to each subcommand so that `harness --help` stays instant and no
API-only path ever imports torch."""

from __future__ import annotations

import argparse
import gc
import os
import shlex
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from harness.errors import HarnessError


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--output", default="out", help="output directory: the SQLite store and the site (default: out)")
    p.add_argument("--db", help="SQLAlchemy database URL (default: sqlite:///OUTPUT/harness.db)")


class _Parser(argparse.ArgumentParser):
    """A mistake on the command line is one line, like every other input error, with where to read more."""

    def error(self, message: str) -> NoReturn:
        from harness.names import visible

        self.exit(2, f"harness: error: {visible(message)} (see `{self.prog} --help`)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="harness", description="Holistic evaluation of language models.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run a suite, summarize it and build its site")
    run.add_argument("suite", help="suite YAML file, or a shipped suite's name (harness list suites), e.g. demo")
    run.add_argument("--models", help="comma-separated deployment names or globs such as 'openai/*' (default: the "
                     "suite's models)")
    run.add_argument("--models-file", action="append", default=[], help="extra deployments YAML (repeatable)")
    run.add_argument("--max-instances", type=int, help="evaluate at most N instances per run")
    run.add_argument("--judge", help="deployment name: every judge of the suite is this one (docs/judging.md)")
    run.add_argument("--concurrency", type=int, help="requests in flight per deployment (overrides max_concurrency)")
    run.add_argument("--no-site", action="store_true", help="skip building the site")
    run.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                     help="answer the requests on a Ray cluster (ADDRESS, 'auto', or none: RAY_ADDRESS or a local one; "
                          "docs/ray.md)")
    run.add_argument("--offline", action="store_true",
                     help="run only the entries whose data is shipped or already downloaded; list the others")
    _common(run)

    summarize = sub.add_parser("summarize", help="print the leaderboards of the store's suites")
    summarize.add_argument("--suite", help="only this suite (default: every suite, each under its name)")
    summarize.add_argument("--format", choices=["text", "csv", "json", "markdown"], default="text")
    _common(summarize)

    site = sub.add_parser("site", help="build the static site")
    site.add_argument("--suite", help="suite name (default: the only or most recent one in the store)")
    _common(site)

    export = sub.add_parser("export", help="write runs, scores, instances and requests to files, one per table")
    export.add_argument("--to", required=True, help="folder to write runs.EXT, scores.EXT, instances.EXT, requests.EXT")
    export.add_argument("--format", choices=["csv", "jsonl", "parquet"], default="csv",
                        help="default: csv; parquet needs pyarrow (the `results` extra)")
    export.add_argument("--suite", help="only this suite's runs (default: every run)")
    _common(export)

    diff = sub.add_parser("diff", help="what changed between two stores, or two suites of one store")
    diff.add_argument("a", metavar="A", help="output folder or database URL")
    diff.add_argument("b", metavar="B", help="output folder or database URL (may be A, with --suite-a/--suite-b)")
    diff.add_argument("--suite", help="compare this suite on both sides")
    diff.add_argument("--suite-a", help="A's suite (default: --suite, or every run of A)")
    diff.add_argument("--suite-b", help="B's suite (default: --suite, or every run of B)")
    diff.add_argument("--format", choices=["text", "json"], default="text")

    compare = sub.add_parser("compare", help="paired comparison of two models on the same instances, per scenario")
    compare.add_argument("model_a", metavar="MODEL_A")
    compare.add_argument("model_b", metavar="MODEL_B")
    compare.add_argument("--suite", help="suite name (default: the only or most recent one in the store)")
    _common(compare)

    serve = sub.add_parser("serve", help="serve the built site on 127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--suite", help="suite name (default: the only or most recent one)")
    serve.add_argument("--output", default="out")

    lister = sub.add_parser("list", help="list scenarios, models, metrics or shipped suites")
    lister.add_argument("what", choices=["scenarios", "models", "metrics", "suites"])
    lister.add_argument("--models-file", action="append", default=[])
    lister.add_argument("--json", action="store_true", help="scenarios: every field, unabridged, as JSON")

    chat = sub.add_parser("chat", help="talk to a deployment in the terminal, prompted as a suite entry prompts")
    chat.add_argument("deployment", metavar="DEPLOYMENT", help="deployment name (harness list models)")
    chat.add_argument("--entry", metavar="SUITE.yaml:N",
                      help="format each turn as this suite entry's adapter does (N: the entry's number, from 1)")
    chat.add_argument("--models-file", action="append", default=[], help="extra deployments YAML (repeatable)")
    chat.add_argument("--instance", metavar="ID", help="start by sending a stored instance's request again")
    chat.add_argument("--run", metavar="RUN_ID", help="the run of --instance, where its id is in several")
    _common(chat)

    from harness import prefetch  # light: the heavy work is imported when the command runs
    from harness.judging import judge_check

    prefetch.add_parser(sub)
    judge_check.add_parser(sub)
    from harness.judging import arena

    arena.add_parser(sub)
    return parser


_opened: list[Any] = []  # stores to close when the command ends (SQLite checkpoints its WAL into the file then)


def _store(args: argparse.Namespace) -> Any:
    from harness.store.store import open_store, sqlite_url

    store = open_store(args.db or sqlite_url(Path(args.output)))
    _opened.append(store)
    return store


def _site_dir(output: str, suite: str) -> Path:
    """The suite's site folder: one folder under OUTPUT/site, whatever the suite's name (see harness.names.slug)."""
    from harness.names import slug

    return Path(output) / "site" / slug(suite)


def _pick_suite(store: Any, wanted: str | None) -> str:
    suites = store.suites()
    if wanted:
        if wanted not in suites:
            raise HarnessError(f"no suite {wanted!r} in the store (has: {', '.join(suites) or 'none'})", field="--suite")
        return wanted
    if not suites:
        raise HarnessError("the store has no runs yet; run `harness run SUITE.yaml` first")
    runs = store.runs()
    return max(runs, key=lambda r: r["updated_at"])["suite"]


def cmd_run(args: argparse.Namespace) -> int:
    from harness.run_spec import check_max_instances, load_suite

    suite = load_suite(args.suite)
    _read_data_ahead(suite)  # first: the reading and checking overlap the imports below

    from harness.clients.deployment import check_setting, load_deployments

    deployments = load_deployments(args.models_file)
    names = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else list(suite.models)
    if not names:
        raise HarnessError("no models: list them in the suite's `models` or pass --models", path=str(suite.path))

    def bad_model(name: str, message: str) -> HarnessError:
        if args.models:
            return HarnessError(message, field="--models")
        return HarnessError(message, path=str(suite.path), line=suite.line_of_model(name), field="models")

    from harness.expand import expand_models

    names = expand_models(names, deployments, bad_model)  # globs (`openai/*`) over the known deployments
    for name in names:
        if name not in deployments:
            raise bad_model(name, f"unknown model {name!r} (known: {', '.join(sorted(deployments))})")
    chosen = [deployments[n] for n in names]
    if args.concurrency is not None:
        check_setting("max_concurrency", args.concurrency, field="--concurrency")
        chosen = [replace(d, max_concurrency=args.concurrency) for d in chosen]
    if args.max_instances is not None:
        check_max_instances(args.max_instances, field="--max-instances")
        suite = replace(suite, run_specs=tuple(
            replace(s, max_instances=min(s.max_instances or args.max_instances, args.max_instances)) for s in suite.run_specs))
    suite = _check_data(suite, args.offline)
    _check_methods(suite, chosen)
    from harness import progress

    interval = progress.interval_from_env()
    if args.judge is not None:
        if args.judge not in deployments:
            raise HarnessError(f"unknown deployment {args.judge!r} (known: {', '.join(sorted(deployments))})",
                               field="--judge")
        suite = replace(suite, run_specs=tuple(
            replace(s, judges=tuple(replace(j, deployment=args.judge) for j in s.judges)) for s in suite.run_specs))
    judges = _judge_deployments(suite, deployments, names)
    store = _store(args)

    from harness.runner import run_suite_sync

    clients = None
    if args.ray is not None:
        from harness.ray_engine import client_factory, connect

        clients = client_factory(connect(args.ray or None))
    start = time.perf_counter()
    display = progress.SuiteProgress(log_path=_log_path(args.output), interval=interval)
    progress.activate(display)
    try:
        outcome = run_suite_sync(suite, chosen, store, None if args.no_site else _warm_up, display, judges,
                                 **({"clients": clients} if clients is not None else {}))
        if any(spec.pairwise for spec in suite.run_specs):
            from harness.judging.pairwise_phase import run_pairwise_sync

            compared = run_pairwise_sync(suite, chosen, judges, store)
            outcome.pairwise_sent, outcome.pairwise_failed = compared.sent, compared.failed
    except KeyboardInterrupt:
        display.close()
        print("harness: interrupted; run the same command again to continue (stored results are kept)", file=sys.stderr)
        return 130
    finally:
        display.close()
        progress.activate(None)
    store.checkpoint_in_background()  # the rest only reads
    from harness.summary import build_report, format_table  # imported by the warm-up while requests were in flight

    report = build_report(store, suite.name, names)
    print(format_table(report))
    requested = sum(r.stats.requested for r in outcome.runs)
    print(f"\n{len(outcome.runs)} runs, {requested} requests: {outcome.sent} sent, {requested - outcome.sent} from the store, "
          f"{outcome.failed} failed; {time.perf_counter() - start:.1f} s")
    if outcome.pairwise_sent or outcome.pairwise_failed:
        print(f"pairwise judging: {outcome.pairwise_sent} judge requests sent, {outcome.pairwise_failed} failed")
    if display.log_path is not None:
        print(f"log: {display.log_path}")
    if outcome.failed:
        print(f"harness: {outcome.failed} requests failed and are not scored; run the same command again to retry them",
              file=sys.stderr)
    if not args.no_site:
        index = _build_site_if_changed(store, suite.name, _site_dir(args.output, suite.name), names, report)
        print(f"site: {index.resolve()}")
        print(f"open it in a browser, or serve it: {_command_prefix()} serve --output {shlex.quote(str(args.output))}")
    return 0


def _command_prefix() -> str:
    """How to run harness again from this shell: the bare name only when it is on PATH and is this installation
    (after `make demo` it is .venv/bin/harness, which is not on PATH until the venv is activated)."""
    argv0 = sys.argv[0]
    if Path(argv0).name != "harness" or not Path(argv0).exists():  # python -m harness
        return f"{shlex.quote(sys.executable)} -m harness"
    found = shutil.which("harness")
    if found and Path(found).resolve() == Path(argv0).resolve():
        return "harness"
    path = Path(argv0).absolute()
    try:
        return shlex.quote(str(path.relative_to(Path.cwd())))
    except ValueError:
        return shlex.quote(str(path))


def _log_path(output: str) -> Path:
    """This run's log (its progress lines and notes): OUTPUT/logs/run-<UTC time>-<pid>.log."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return Path(output) / "logs" / f"run-{stamp}-{os.getpid()}.log"


SITE_STAMP = ".harness-build"  # beside index.html: what the site was built from


def _build_site_if_changed(store: Any, suite: str, site_dir: Path, models: list[str] | None, report: Any = None) -> Path:
    """Build the site, unless the one there was built from exactly these runs by this code (a rerun that found
    everything stored, `harness site` with nothing new); returns index.html. The report (`models`' runs, all of the
    suite's when None) is read only when the site is built. Within a build, only the pages of runs that changed are
    written again (harness.site.incremental)."""
    import hashlib
    import json

    from harness.runner import code_version
    from harness.site.build import build_site, web_dir
    from harness.summary import StoredInstances

    runs = sorted((r["run_id"], r["updated_at"], r["fingerprint"], r["failed_requests"])
                  for r in store.runs(suite) if models is None or r["model"] in models)
    # Only templates/ and static/: web_dir() is the harness.site package itself, whose code code_version() covers.
    web = max(p.stat().st_mtime_ns for sub in ("templates", "static") for p in (web_dir() / sub).rglob("*")
              if p.is_file())
    stamp = hashlib.sha256(json.dumps([runs, models, code_version(), web]).encode()).hexdigest()
    index, stamp_file = site_dir / "index.html", site_dir / SITE_STAMP
    if index.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return index
    if report is None:
        from harness.summary import build_report

        report = build_report(store, suite, models)
    index = build_site(report, site_dir, StoredInstances(store))
    stamp_file.write_text(stamp)
    return index


def _warm_up() -> None:
    """What scoring, the summary and the site need, loaded while the first requests are in flight."""
    import harness.summary  # noqa: F401
    from harness.metrics.stats import bootstrap_ci
    from harness.site.build import site_env

    bootstrap_ci([0.0, 0.5, 1.0])  # numpy, and numpy.random and numpy.ma, which it loads on first use
    site_env()


def _check_data(suite: Any, offline: bool) -> Any:
    """Before any request: entries whose data is neither shipped nor downloaded are an error naming the command
    that fetches them, or, with --offline, left out with one line saying so."""
    from harness.scenarios.base import make_scenario
    from harness.scenarios.download import cache_root
    from harness.suites import suite_argument

    missing, unfetchable = [], {}
    for spec in suite.run_specs:
        scenario = make_scenario(spec.scenario, spec.scenario_args)
        try:
            remotes = scenario.remote_files()
        except HarnessError as exc:  # e.g. a source not pinned yet: no prefetch can fetch it
            missing.append(spec)
            unfetchable[scenario.full_name] = exc.message
            continue
        if any(not (cache_root() / remote.filename).is_file() for remote in remotes):
            missing.append(spec)
    if not missing:
        return suite
    names = ", ".join(dict.fromkeys(make_scenario(s.scenario, s.scenario_args).full_name for s in missing))
    prefetch = f"harness prefetch {suite_argument(suite.path)}"
    if not offline:
        if unfetchable:
            name, reason = next(iter(unfetchable.items()))
            raise HarnessError(f"{name} cannot be downloaded: {reason}; pass --offline to run the other entries",
                               path=str(suite.path))
        raise HarnessError(f"data not downloaded for {names}: run `{prefetch}` first, "
                           "or pass --offline to run the other entries", path=str(suite.path))
    kept = tuple(s for s in suite.run_specs if s not in missing)
    if not kept:
        raise HarnessError(f"no entry has its data here (not downloaded: {names}); run `{prefetch}`",
                           path=str(suite.path))
    from harness.names import visible

    print(visible(f"harness: --offline: skipping {len(missing)} entries whose data is not downloaded ({names}); "
                  f"`{prefetch}` fetches it"), file=sys.stderr)
    return replace(suite, run_specs=kept)


def _read_data_ahead(suite: Any) -> None:
    """Start on the suite's data in a thread (checking and decompressing it, mostly outside the GIL, and
    grouping its rows by split; see jsonl.read_ahead), while the rest of the harness is imported and the store
    opened. Entries that cannot run (data not downloaded, an unknown scenario) are reported by the checks that
    follow, not here."""

    def read() -> None:
        for spec in suite.run_specs:
            try:
                from harness.scenarios.base import make_scenario

                make_scenario(spec.scenario, spec.scenario_args).read_ahead()
            except Exception:  # noqa: BLE001  (a head start only: the run reads the data itself, and reports what fails)
                pass

    threading.Thread(target=read, name="harness-read-ahead", daemon=True).start()


def _judge_deployments(suite: Any, deployments: dict[str, Any], models: list[str]) -> dict[str, Any]:
    """The deployments the suite's judges name, by name; an unknown one, or a pairwise baseline that is not among
    the models run, is an error naming the suite's line."""
    found = {}
    for spec in suite.run_specs:
        for judge in spec.judges:
            if judge.deployment not in deployments:
                raise HarnessError(f"unknown judge deployment {judge.deployment!r} (known: {', '.join(sorted(deployments))})",
                                   path=str(suite.path), line=judge.line, field="deployment")
            found[judge.deployment] = deployments[judge.deployment]
        baseline = spec.pairwise.baseline if spec.pairwise else None
        if baseline is not None and baseline not in models:
            raise HarnessError(f"pairwise baseline {baseline!r} is not one of the models run ({', '.join(models)})",
                               path=str(suite.path), line=spec.pairwise.line, field="baseline")
    return found


def _check_methods(suite: Any, deployments: list[Any]) -> None:
    """Fail before any request when a run spec cannot be evaluated on a deployment as configured."""
    from harness.adapters.registry import make_adapter
    from harness.clients.base import client_class

    for deployment in deployments:
        # A missing extra (torch for `embedded`) or environment variable is reported now, not after other runs.
        client_class(deployment).check(deployment)
        for spec in suite.run_specs:
            try:
                make_adapter(spec.adapter_spec, chat=deployment.chat)
            except HarnessError as exc:
                raise HarnessError(f"{spec.scenario} on {deployment.name}: {exc.message}", path=str(suite.path)) from None


def cmd_summarize(args: argparse.Namespace) -> int:
    from harness.export import cmd_summarize as summarize, for_terminal

    print(for_terminal(summarize(_store(args), args.suite, args.format), sys.stdout))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from harness.compare import cmd_compare as compare

    store = _store(args)
    print(compare(store, _pick_suite(store, args.suite), args.model_a, args.model_b))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from harness.export import cmd_export as export

    return export(args)


def cmd_diff(args: argparse.Namespace) -> int:
    from harness.diff import cmd_diff as diff

    return diff(args)


def cmd_site(args: argparse.Namespace) -> int:
    store = _store(args)
    suite = _pick_suite(store, args.suite)
    index = _build_site_if_changed(store, suite, _site_dir(args.output, suite), None)
    print(f"site: {index.resolve()}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from harness.site.serve import serve

    root = Path(args.output) / "site"
    if args.suite:
        site = _site_dir(args.output, args.suite)
    else:
        built = sorted(root.glob("*/index.html"), key=lambda p: p.stat().st_mtime)
        if not built:
            raise HarnessError(f"no site built under {root}; run `harness run` or `harness site` first")
        site = built[-1].parent
    if not (site / "index.html").exists():
        raise HarnessError(f"no site at {site}; run `harness site --suite {args.suite}` first")
    serve(site, host=args.host, port=args.port)
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    if args.what == "scenarios":
        from harness.scenarios.base import scenario_registry

        rows = [{"name": name, "data": cls.data_shipped, "method": cls.default_method, "main_metric": cls.main_metric,
                 "license": cls.license, "source": cls.source, "description": cls.description}
                for name, cls in sorted(scenario_registry().items())]
        if getattr(args, "json", False):  # `--json`: every field, unabridged
            import json

            print(json.dumps(rows, indent=2, ensure_ascii=False))
            return 0
        # An aligned table in 120 columns: the short columns whole, license and source cut with an ellipsis.
        rows = [{**r, "source": r["source"].removeprefix("https://"), "license": r["license"].split(" (")[0]}
                for r in rows]
        heads = {"name": "scenario", "data": "data", "method": "method", "main_metric": "main metric",
                 "license": "license", "source": "source"}
        widths = {k: max(len(h), *(len(r[k]) for r in rows)) for k, h in heads.items()}
        widths["license"] = min(widths["license"], 14)
        widths["source"] = max(12, 120 - sum(w + 2 for k, w in widths.items() if k != "source"))
        cut = {k: lambda text, w=w: text if len(text) <= w else text[: w - 1] + "\u2026" for k, w in widths.items()}
        for row in [heads, *rows]:
            print("  ".join(cut[k](row[k]).ljust(widths[k]) for k in heads).rstrip())
    elif args.what == "suites":
        from harness.suites import shipped_suites
        from harness.yaml_lines import load_yaml

        for name, path in shipped_suites().items():
            data = load_yaml(path)
            print(f"{name:14} {data.get('description', '') if isinstance(data, dict) else ''}")
    elif args.what == "models":
        from harness.clients.deployment import load_deployments
        from harness.names import visible

        from harness.clients.base import client_kind, client_kinds

        for d in load_deployments(args.models_file).values():
            print(visible(f"{d.name:28} {d.client:18} {d.model_id:28} {' '.join(d.urls)}"))
        # Every client a models file may name, the plug-ins' (entry-point group harness.clients) included.
        kinds = [f"{k} (plug-in)" if getattr(client_kind(k), "plugin", "") else k for k in client_kinds()]
        print(visible(f"clients: {', '.join(kinds)}"))
    else:
        from harness.metrics.registry import corpus_metric_registry, metric_registry

        # What a suite's `metrics:` may name: each value a metric reports (a metric with several stats lists each
        # stat, counts left out) and each corpus metric, with its direction.
        rows = []
        for m in metric_registry().values():
            for stat, lower in m.outputs.items():
                if not stat.startswith("_"):
                    note = m.description if stat == m.name else f"{m.description} [from {m.name}]"
                    rows.append((stat, lower, note))
        for c in corpus_metric_registry().values():
            rows.append((c.name, c.lower_is_better, f"{c.description} [over all instances, from {', '.join(c.needs)}]"))
        for name, lower, note in sorted(rows):
            print(f"{name:34} {'lower' if lower else 'higher'} is better  {note}")
    return 0


def cmd_prefetch(args: argparse.Namespace) -> int:
    from harness.prefetch import cmd_prefetch as prefetch

    return prefetch(args)


def cmd_arena(args: argparse.Namespace) -> int:
    from harness.judging.arena import cmd_arena as arena

    return arena(args)


def cmd_chat(args: argparse.Namespace) -> int:
    from harness.chat import cmd_chat as chat

    return chat(args)


def cmd_judge_check(args: argparse.Namespace) -> int:
    from harness.judging.judge_check import cmd_judge_check as judge_check

    return judge_check(args)


COMMANDS = {"run": cmd_run, "summarize": cmd_summarize, "site": cmd_site, "serve": cmd_serve, "list": cmd_list,
            "prefetch": cmd_prefetch, "compare": cmd_compare, "judge-check": cmd_judge_check, "arena": cmd_arena,
            "chat": cmd_chat, "export": cmd_export, "diff": cmd_diff}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # A run keeps a few hundred thousand objects alive (dataset rows, prompts, results). Python's default thresholds
    # traverse them all again and again, and once more at exit: collect
    # young objects less often, and leave what is still alive at the end to the operating system.
    thresholds = gc.get_threshold()
    gc.set_threshold(50_000, 50, 100)
    try:
        return COMMANDS[args.command](args)
    except HarnessError as exc:
        _say_error(exc.one_line())
        return exc.exit_code
    except BrokenPipeError:
        return 0
    except Exception as exc:
        failure = _database_failure(exc)
        if failure is None:
            raise
        _say_error(failure.one_line())
        return failure.exit_code
    finally:
        while _opened:
            _opened.pop().close()
        gc.set_threshold(*thresholds)


def _say_error(line: str) -> None:
    """An error's one line on stderr, with any API key in it (a server may quote one) redacted, and the names and
    paths in it, which come from outside, escaped (harness.names.visible)."""
    from harness.clients.secrets import redact
    from harness.names import visible

    print(f"harness: error: {visible(redact(line))}", file=sys.stderr)


def _database_failure(exc: Exception) -> HarnessError | None:
    """A database error that reaches the top of a command is the store failing: one line, not a traceback."""
    database = sys.modules.get("harness.store.database")  # not imported: the error did not come from a store
    if database is None or not isinstance(exc, database.database_errors()):
        return None
    return database.store_failure(database.database_error_reason(exc))


def entry() -> None:
    """The `harness` command (and `python -m harness`)."""
    try:
        code = main()
    except Exception:  # a bug: its traceback as Python prints it, with any API key in it redacted
        import traceback

        from harness.clients.secrets import redact

        print(redact(traceback.format_exc()), end="", file=sys.stderr)
        code = 1
    # The command is over: its files are written and closed, its stores closed (SQLite's WAL checkpointed), its
    # clients stopped. What an ordinary exit would still do is tear down every module and object (numpy, jinja2,
    # a run's few hundred thousand objects): time that changes nothing on disk. Flush what was printed and leave.
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `harness ... | head`: the reader is gone, and so is what it did not read
        pass
    os._exit(code)


if __name__ == "__main__":
    entry()
