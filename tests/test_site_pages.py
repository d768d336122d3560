"""The site's model, comparison, plot, metrics and search pages, the reproduce box, perturbed copies beside their
originals, the batch-average latency label, incremental rebuilds, and (with Playwright and chromium) the pages in
a headless browser at 1280 and 390 px."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import harness.site.build as site_build
from harness.report import InstanceView, Leaderboard, LeaderboardColumn, Report, RunInfo, Score
from harness.site.build import PAGE_INSTANCES, build_site, run_href
from harness.site.models import compare_href, comparison_pairs, model_href

MODELS = ["acme/large", "acme/small", "google/gemma-3-270m"]
GROUPS = ["qa", "math"]
N = 30


def rid(group: str, model: str) -> str:
    """Run ids as the runner makes them: one long word (no spaces), which a phone's page must wrap, not widen for."""
    return f"{group},generation,0shot,max_instances={N},seed=0,temperature=0.0@{model}"


def _score(metric: str, mean: float, n: int = N, lower: bool = False) -> Score:
    return Score(metric, mean, mean - 0.1, mean + 0.1, n, lower)


def _instances(model: str, group: str, perturbed: bool) -> Iterator[InstanceView]:
    """Model i answers instance k correctly when k % (i + 2) != 0, so the models disagree on some instances."""
    i = MODELS.index(model)
    ids = [f"q{k}" for k in range(N)]
    if perturbed:
        ids += [f"q{k}~typos" for k in range(N)]
    for ident in ids:
        k = int(ident[1:].split("~")[0])
        right = k % (i + 2) != 0
        yield InstanceView(ident, f"Question {ident} <b>", [("yes", True), ("no", False)], f"Prompt for {ident}\nAnswer:",
                           ["yes" if right else "no"], "yes" if right else f"no from {model}",
                           {"exact_match": float(right), "latency_s": 0.5})


def make_report(saved: str = "2026-01-01T00:00:00", record: dict[str, Any] | None = None) -> Report:
    runs, cells = [], {}
    for m in MODELS:
        for g in GROUPS:
            mean = 1 - 1 / (MODELS.index(m) + 2)
            scores = {"exact_match": _score("exact_match", mean), "latency_s": _score("latency_s", 0.5, lower=True),
                      "cost_usd": _score("cost_usd", 0.001 * (MODELS.index(m) + 1), lower=True)}
            if g == "qa":
                scores["exact_match@robustness"] = _score("exact_match@robustness", mean - 0.1)
            runs.append(RunInfo(rid(g, m), m, g, g, "generation", "exact_match", {"seed": 0}, scores,
                            N, 0, 0, updated_at=saved, fingerprint="f" * 8, record=record))
            cells[(m, g)] = scores["exact_match"]
    win = {m: 1 - MODELS.index(m) / 2 for m in MODELS}
    lb = Leaderboard(MODELS, [LeaderboardColumn(g, "exact_match") for g in GROUPS], cells, win, {m: 0 for m in MODELS})
    instances = {r.run_id: (lambda r=r: _instances(r.model, r.group, r.group == "qa")) for r in runs}
    return Report("suite", "2026-01-01 00:00 UTC", lb, runs, instances=instances)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    build_site(make_report(), out)
    return out


def test_every_model_has_a_page_and_names_link_to_it(site: Path) -> None:
    index = (site / "index.html").read_text()
    for m in MODELS:
        page = (site / model_href(m)).read_text()
        assert f'href="{model_href(m)}"' in index
        assert "Scores across the suite" in page and "reproduce" in page
        assert all(f'href="../{run_href(rid(g, m))}"' in page for g in GROUPS)
    run_page = (site / run_href(rid("qa", "acme/small"))).read_text()
    assert f'href="../../{model_href("acme/small")}"' in run_page


def test_comparison_pages_show_differences_and_disagreements(site: Path) -> None:
    assert comparison_pairs(MODELS) == [(MODELS[0], MODELS[1]), (MODELS[0], MODELS[2]), (MODELS[1], MODELS[2])]
    assert comparison_pairs([str(i) for i in range(8)]) == [(str(i), str(i + 1)) for i in range(7)]
    page = (site / compare_href("acme/large", "acme/small")).read_text()
    # acme/large misses k % 2 == 0, acme/small k % 3 == 0: they differ where exactly one holds
    differ = [k for k in range(N) if (k % 2 == 0) != (k % 3 == 0)]
    assert f"{len(differ)} of {N} instances differ" in page
    assert "no from acme/large" in page and "no from acme/small" in page
    assert page.count("Prompt for q2\n") == len(GROUPS)  # once per group, both answers beside it
    assert "-0.167" in page  # 0.500 - 0.667
    assert "q2~typos" not in page  # perturbed copies are not compared
    assert "Instance-level" not in page and (site / "compare" / "index.html").is_file()


def test_a_paired_test_drops_into_the_comparison(tmp_path: Path) -> None:
    """harness.compare's paired test (when this version has it) gets each group's paired values, in instance order,
    and its result shows beside the plain difference."""
    from harness.site import compare
    from harness.site.build import site_env

    seen: list[tuple[list[float], list[float]]] = []

    @dataclasses.dataclass
    class Result:
        n: int
        diff: float
        ci_low: float
        ci_high: float
        p_value: float

    def fake(a: list[float], b: list[float], lower: bool) -> Result:
        seen.append((a, b))
        return Result(len(a), sum(a) / len(a) - sum(b) / len(b), -0.4, 0.1, 0.0123)

    report = make_report()
    cell_runs: dict[tuple[str, str], list[RunInfo]] = {}
    for run in report.runs:
        cell_runs.setdefault((run.model, run.group), []).append(run)
    ctx = compare.compare_context(report, "acme/large", "acme/small", cell_runs, compare.ValueCache(report), fake)
    assert [len(a) for a, _ in seen] == [N, N]  # originals only, both groups
    assert seen[0][0] == [float(k % 2 != 0) for k in range(N)] and seen[0][1] == [float(k % 3 != 0) for k in range(N)]
    html = site_env().get_template("compare.html").render(root="../", shown=compare.SHOWN, suite="s", created_at="",
                                                          **ctx)
    assert "-0.167 [-0.400, +0.100]" in html and "p = 0.0123" in html


def test_plots_are_svg_with_csv_and_text(site: Path) -> None:
    for name in ("qa-scores", "qa-cost", "qa-latency", "win-rates"):
        svg = (site / "plots" / f"{name}.svg").read_text()
        assert "<title" in svg and "<desc" in svg and "<script" not in svg
        rows = (site / "plots" / f"{name}.csv").read_text().splitlines()
        assert len(rows) == 1 + len(MODELS)
    page = (site / "plots.html").read_text()
    assert 'href="plots/qa-scores.csv"' in page and "<table" in page and 'role="img"' in page


def test_plot_csv_quotes_names_that_look_like_formulas() -> None:
    from harness.site.plots import bars

    plot = bars("x", "t", "exact_match", [("=HYPERLINK(1)", 0.5, 0.4, 0.6), ("ok", 0.2, 0.1, 0.3)])
    assert plot is not None
    assert plot.csv().splitlines()[1:] == ["'=HYPERLINK(1),0.500,0.400,0.600", "ok,0.200,0.100,0.300"]


def test_metrics_page_and_header_help(site: Path) -> None:
    metrics = (site / "metrics.html").read_text()
    assert 'id="metric-exact_match"' in metrics and "surrounding whitespace ignored" in metrics
    group = (site / "groups" / "qa.html").read_text()
    assert 'href="../metrics.html#metric-exact_match"' in group and "whole suite" in group


def test_reproduce_box_without_and_with_a_record(site: Path, tmp_path: Path) -> None:
    page = (site / run_href(rid("qa", "acme/small"))).read_text()
    assert 'id="reproduce"' in page and 'href="#reproduce"' in page
    assert "harness run suite --models acme/small" in page and "ffffffff" in page
    record = {"command": "harness run suite.yaml --models acme/small", "suite_entry_yaml": "- scenario: qa\n",
              "harness_version": "9.9", "git_commit": "abc123", "git_dirty": False, "python": "3.11.7",
              "packages": {"numpy": "2.0"}, "deployment": {"client": "openai-compatible", "batch_size": 1},
              "data_files": [{"path": "qa.jsonl.gz", "sha256": "d" * 64}], "seeds": {"adapter": 0},
              "started_at": "2026-01-01T00:00:00", "ended_at": "2026-01-01T00:01:00", "cwd": "/work"}
    build_site(make_report(record=record), tmp_path)
    page = (tmp_path / run_href(rid("qa", "acme/small"))).read_text()
    for text in ("harness run suite.yaml --models acme/small", "abc123", "numpy", "qa.jsonl.gz", "d" * 64, "3.11.7",
                 "2026-01-01T00:01:00", "openai-compatible", "- scenario: qa"):
        assert text in page, text
    # The same, nested as harness.provenance (branch results) stores it.
    nested = {"command": {"argv": ["harness", "run", "suite.yaml", "--models", "acme/small"], "cwd": "/work"},
              "harness": {"version": "9.9", "code_version": "9.9+1", "git": {"commit": "abc123", "dirty": True}},
              "python": {"version": "3.11.7", "implementation": "CPython", "system": "Linux"},
              "entry_yaml": "- scenario: qa\n", "packages": {"numpy": "2.0"},
              "deployment": {"client": "openai-compatible", "api_key_env": "OPENAI_API_KEY"},
              "data_files": [{"path": "qa.jsonl.gz", "shipped": True, "sha256": "d" * 64}],
              "seeds": {"seed": 0}, "started_at": "2026-01-01T00:00:00", "ended_at": "2026-01-01T00:01:00"}
    build_site(make_report(record=nested), tmp_path)
    page = (tmp_path / run_href(rid("qa", "acme/small"))).read_text()
    for text in ("harness run suite.yaml --models acme/small", "abc123", "numpy", "qa.jsonl.gz", "d" * 64, "3.11.7",
                 "2026-01-01T00:01:00", "OPENAI_API_KEY", "- scenario: qa", "/work"):
        assert text in page, text


def test_perturbed_copies_follow_their_original(site: Path) -> None:
    page = (site / run_href(rid("qa", "acme/small"))).read_text()
    ids = re.findall(r'"id":"(q\d+(?:~typos)?)"', page)
    assert ids[:4] == ["q0", "q0~typos", "q1", "q1~typos"]


def test_latency_is_labelled_batch_average_for_batching_engines(site: Path) -> None:
    assert 'data-batch-latency="1"' in (site / run_href(rid("qa", "google/gemma-3-270m"))).read_text()
    assert "data-batch-latency" not in (site / run_href(rid("qa", "acme/small"))).read_text()
    assert "batch average" in (site / model_href("google/gemma-3-270m")).read_text()


def test_search_indexes_are_scripts(site: Path) -> None:
    run_index = (site / run_href(rid("qa", "acme/small"))).with_name("search.js").read_text()
    assert run_index.startswith("window.harnessRunIndex = [") and "<" not in run_index  # escaped: no </script>
    assert '"q0~typos"' in run_index
    assert "harnessSiteIndex" in (site / "search.js").read_text()
    assert 'id="board-search"' in (site / "index.html").read_text()


def test_run_search_index_points_at_each_instance_page(tmp_path: Path) -> None:
    """Every instance of a run that spans several pages is in its search index, with the page that shows it."""
    import json

    report = make_report()
    run = report.runs[0]
    many = 2 * PAGE_INSTANCES + 50
    report.instances[run.run_id] = lambda: (
        InstanceView(f"x{k}", f"input {k}", [("a", True)], "p", ["a"], "a", {"exact_match": 1.0}) for k in range(many))
    build_site(report, tmp_path)
    run_dir = (tmp_path / run_href(run.run_id)).parent
    text = (run_dir / "search.js").read_text()
    items = json.loads(text[text.index("=") + 1:].rstrip().rstrip(";"))
    assert [it[0] for it in items] == list(range(many))
    for ordinal, page, ident, _ in items[:: 37]:
        html = (run_dir / ("index.html" if page == 1 else f"page-{page}.html")).read_text()
        assert f'"id":"{ident}"' in html
    assert items[-1][1] == 3


def test_only_changed_runs_are_rewritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    real = site_build.write_run

    def counting(env: Any, report: Report, run: RunInfo, run_dir: Path, extra: Any = None) -> int:
        written.append(run.run_id)
        return real(env, report, run, run_dir, extra)

    monkeypatch.setattr(site_build, "write_run", counting)
    build_site(make_report(), tmp_path)
    assert len(written) == len(MODELS) * len(GROUPS)
    written.clear()
    build_site(make_report(), tmp_path)
    assert written == []
    report = make_report()
    report.runs[0] = dataclasses.replace(report.runs[0], updated_at="2026-02-02T00:00:00")
    build_site(report, tmp_path)
    assert written == [report.runs[0].run_id]
    written.clear()
    shutil.rmtree((tmp_path / run_href(rid("math", "acme/small"))).parent)  # a page gone missing is written again
    build_site(report, tmp_path)
    assert written == [rid("math", "acme/small")]


# ---------------------------------------------------------------- in a browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def _browser() -> Any:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    if CHROMIUM is None:
        pytest.skip("no chromium on PATH")
    return sync_api


@pytest.mark.parametrize("width", [1280, 390])
def test_pages_in_a_browser(site: Path, width: int) -> None:
    sync_api = _browser()
    pages = ["index.html", run_href(rid("qa", "acme/small")), model_href("acme/small"),
             compare_href("acme/large", "acme/small"), "compare/index.html", "plots.html", "metrics.html",
             "groups/qa.html"]
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": width, "height": 800})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        for rel in pages:
            page.goto((site / rel).as_uri())
            assert errors == [], f"{rel}: {errors}"
            if rel.startswith("runs/"):
                scroll, inner = page.evaluate("[document.scrollingElement.scrollWidth, innerWidth]")
                assert scroll <= inner, f"{rel} scrolls sideways at {width} px: {scroll} > {inner}"
        # An instance linked to lands below the sticky filter bar, not under it.
        page.goto((site / run_href(rid("qa", "acme/small"))).as_uri() + "#i20")
        page.wait_for_timeout(100)
        bar = page.evaluate("document.querySelector('.filters').getBoundingClientRect().bottom")
        head = page.evaluate("document.querySelector('#i20 .inst-head').getBoundingClientRect().top")
        assert head >= bar, f"#i20's header at {head} px is under the sticky bar ending at {bar} px"
        # The reproduce box opens from its link, without JavaScript's help.
        assert not page.is_visible("#reproduce")
        page.click("a[href='#reproduce']")
        assert page.is_visible("#reproduce")
        # Search over the run's other pages uses search.js, loaded from file://.
        page.fill("#search", "q1")
        page.wait_for_function("document.getElementById('run-search').textContent.length > 0")
        assert "other pages" in page.inner_text("#run-search")
        # The leaderboard's filter keeps the matching models' rows.
        page.goto((site / "index.html").as_uri())
        page.fill("#board-search", "small")
        page.wait_for_timeout(300)
        shown = page.evaluate("[...document.querySelectorAll('#leaderboard tbody tr')].filter(r => !r.hidden).length")
        assert shown == 1
        assert errors == [], errors
        browser.close()
