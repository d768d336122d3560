"""The static site: ordering, CIs, size-bounded pagination, links, escaping, serving, and a headless browser."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import threading
import tracemalloc
import urllib.request
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from conftest import Instances
from harness.report import InstanceView, Leaderboard, LeaderboardColumn, Report, RunInfo, Score
from harness.site.build import PAGE_INSTANCES, build_site, fmt_num, run_href, slug, web_dir
from harness.site.serve import make_server, server_url

EVIL = "<script>alert(1)</script>"
EVIL_MODEL = f"evil/{EVIL}"
BIG_RUN = "qa--acme_large"
BIG_N = 3000
MB = 1_000_000


def _score(metric: str, mean: float, half: float, n: int, lower: bool = False) -> Score:
    return Score(metric, mean, mean - half, mean + half, n, lower)


def _instances(run_id: str, n: int) -> Iterator[InstanceView]:
    """Lazily made instances; the big run's are long (so it paginates by size) and some are hostile."""
    long = run_id == BIG_RUN
    for i in range(n):
        correct = i % 3 != 0
        yield InstanceView(
            instance_id=f"id{i}",
            input=(f"Question {i} {EVIL} " + "lorem ipsum dolor sit amet " * (90 if long else 2)),
            references=[(f"answer {i}", True), (f"wrong {EVIL}", False)],
            prompt=f"Instructions\n\n  indented line {EVIL}\nQuestion {i}\nAnswer:" + " context" * (300 if long else 5),
            outputs=[f" answer {i}" if correct else f" {EVIL}"],
            prediction=f"answer {i}" if correct else EVIL,
            stats={"exact_match": 1.0 if correct else 0.0, "num_prompt_tokens": 812.0, "latency": 0.412},
            fewshot_dropped=1 if i % 500 == 7 else 0,
            error=f"timeout {EVIL}" if i % 1000 == 999 else None,
        )
    if long:  # one gigantic prompt (clipped) and one with a flood of huge outputs (shown as a stub)
        yield InstanceView("huge-prompt", "x", [], "p" * 2_000_000, ["o"], "o", {"exact_match": 1.0})
        yield InstanceView("huge-outputs", "x", [], "p", ["<" * 40_000] * 300, EVIL, {"exact_match": 0.0})


def make_report() -> tuple[Report, Instances]:
    models = ["acme/small", "acme/large", "other/mid", EVIL_MODEL]
    win = {"acme/small": 0.25, "acme/large": 0.9, "other/mid": 0.5, EVIL_MODEL: None}
    columns = [
        LeaderboardColumn("qa", "exact_match", description=f"Question answering {EVIL}"),
        LeaderboardColumn("lm", "bits_per_byte", lower_is_better=True, description="Language modeling"),
    ]
    runs, instances, cells = [], {}, {}
    for gi, col in enumerate(columns):
        for mi, model in enumerate(models[:3]):
            run_id = f"{col.group}--" + re.sub(r"\W", "_", model)
            n = BIG_N + 2 if run_id == BIG_RUN else 12
            main = _score(col.metric, 0.3 + 0.2 * win[model] + gi, 0.031, n, col.lower_is_better)
            scores = {
                col.metric: main,
                "num_prompt_tokens": _score("num_prompt_tokens", 812.0, 0.0, n),
                "latency": _score("latency", 0.41 + mi, 0.05, n, True),
                "cost": _score("cost", 0.00042, 0.00001, n, True),
                f"odd {EVIL}": _score(f"odd {EVIL}", 0.5, 0.1, n),
            }
            runs.append(RunInfo(
                run_id=run_id, model=model, scenario=f"{col.group}:subset=main", group=col.group,
                method="generation" if col.group == "qa" else "language_modeling", main_metric=col.metric,
                adapter_spec={"method": "generation", "instructions": f"Answer briefly {EVIL}",
                              "instance_prefix": "\n\n", "max_tokens": 5, "stop": ["\n"]},
                scores=scores, instances=n, failed_requests=3 if model == "other/mid" else 0,
                truncated_instances=6 if run_id == BIG_RUN else 0,
            ))
            instances[run_id] = lambda run_id=run_id, n=n: _instances(run_id, n if run_id != BIG_RUN else BIG_N)
            cells[(model, col.group)] = main
    # a run outside the leaderboard's columns, whose instances were never stored
    runs.append(RunInfo("extra--acme_small", "acme/small", "extra", "extra", "generation", "exact_match", {},
                        {}, 0, 0, 0))
    lb = Leaderboard(models=models, columns=columns, cells=cells, win_rates=win,
                     failed_requests={"other/mid": 6, "acme/small": 0})
    report = Report(suite=f"suite-{EVIL}", created_at="2025-01-02T03:04:05Z", leaderboard=lb, runs=runs)
    return report, Instances(instances)


class _Page(HTMLParser):
    """Collects what the tests check: links, element ids, and the instances' data (site.js draws their cards)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.instances: list[dict] = []
        self._in_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for key in ("href", "src"):
            if a.get(key) is not None:
                self.links.append(a[key] or "")
        if a.get("id"):
            self.ids.add(a["id"] or "")
        self._in_data = tag == "script" and a.get("id") == "instances-data"

    def handle_data(self, data: str) -> None:
        if self._in_data:
            self.instances += json.loads(data)
            self._in_data = False

    @property
    def instance_ids(self) -> list[str]:
        return [item["id"] for item in self.instances]


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    report, instances = make_report()
    index = build_site(report, out, instances)
    assert index == out / "index.html"
    return out


@pytest.fixture(scope="module")
def pages(site: Path) -> dict[Path, tuple[str, _Page]]:
    parsed = {}
    for path in sorted(site.rglob("*.html")):
        text = path.read_text(encoding="utf-8")
        p = _Page()
        p.feed(text)
        parsed[path] = (text, p)
    return parsed


def _big_run_pages(site: Path) -> list[Path]:
    run_dir = (site / run_href(BIG_RUN)).parent
    n = 1 + len(list(run_dir.glob("page-*.html")))
    return [run_dir / ("index.html" if k == 1 else f"page-{k}.html") for k in range(1, n + 1)]


def test_index_lists_models_by_win_rate_with_cis(site: Path) -> None:
    text = (site / "index.html").read_text(encoding="utf-8")
    board = text[text.index('id="leaderboard"'):text.index("</table>")]
    order = [board.index(html.escape(m, quote=False)) for m in ["acme/large", "other/mid", "acme/small", EVIL_MODEL]]
    assert order == sorted(order), "rows must be by mean win rate, None last"
    assert "0.900" in board and "±0.031" in board  # win rate and a CI half-width
    assert "95% CI [" in board  # the interval itself, in the tooltip
    assert 'title="lower is better"' in board  # the bits_per_byte column
    assert "6 failed" in board and "0 failed" not in board
    assert 'href="groups/qa.html"' in board and f'href="{run_href(BIG_RUN)}"' in board
    assert "ranks may not differ" in text and "generated by harness" in text and "2025-01-02T03:04:05Z" in text


def test_group_page_has_every_metric_and_run(site: Path) -> None:
    text = (site / "groups" / "qa.html").read_text(encoding="utf-8")
    for metric in ["exact_match", "num_prompt_tokens", "latency", "cost", html.escape(f"odd {EVIL}")]:
        assert metric in text
    assert text.count('href="../runs/') >= 3 and "generation" in text and "3,002" in text
    assert "$0.00042" in text and "1.41 s" in text


def test_every_page_is_under_1mb(pages: dict[Path, tuple[str, _Page]]) -> None:
    sizes = {p: len(text.encode()) for p, (text, _) in pages.items()}
    assert max(sizes.values()) <= MB, max(sizes.items(), key=lambda kv: kv[1])


def test_pagination_covers_every_instance_once(site: Path, pages: dict[Path, tuple[str, _Page]]) -> None:
    run_pages = _big_run_pages(site)
    assert len(run_pages) >= 10  # long instances: split by size well before 200 a page
    seen: list[str] = []
    errors = 0
    for k, path in enumerate(run_pages, 1):
        text, parsed = pages[path]
        assert 0 < len(parsed.instance_ids) <= PAGE_INSTANCES
        assert f"page <strong>{k}</strong> of {len(run_pages)}" in text
        assert "<!--harness:" not in text  # every pager slot was filled, every cut marker removed
        seen += parsed.instance_ids
        errors += sum(1 for item in parsed.instances if item.get("error") == f"timeout {EVIL}")
    assert seen == [f"id{i}" for i in range(BIG_N)] + ["huge-prompt", "huge-outputs"]
    assert errors == BIG_N // 1000
    huge_prompt, huge_outputs = pages[run_pages[-1]][1].instances[-2:]
    assert huge_prompt["prompt"][1] == 2_000_000 - len(huge_prompt["prompt"][0])  # [shown part, characters left out]
    assert huge_outputs["tooLarge"] > 900_000 and huge_outputs["outputs"] == []  # a stub: would not fit a page
    # small runs: one page, all instances, pager says 1 of 1
    small_text, small = pages[site / run_href("qa--acme_small")]
    assert small.instance_ids == [f"id{i}" for i in range(12)] and "of 1 ·" in small_text


def test_run_without_instances_or_column_still_gets_pages(site: Path) -> None:
    text = (site / run_href("extra--acme_small")).read_text(encoding="utf-8")
    assert "No instances on this page." in text and "page <strong>1</strong> of 1" in text
    assert 'href="../runs/extra--acme_small/index.html"' in (site / "groups" / "extra.html").read_text(encoding="utf-8")
    assert 'href="groups/extra.html"' in (site / "index.html").read_text(encoding="utf-8")


def test_run_page_shows_run_info(site: Path) -> None:
    text = (site / run_href(BIG_RUN)).read_text(encoding="utf-8")
    for needle in ["Adapter spec", "instance_prefix", "&#34;\\n\\n&#34;", "Truncated instances",
                   "show only incorrect", '"main":0.0', '"fewshotDropped":1', 'data-main-metric="exact_match"']:
        assert needle in text, needle


def test_all_relative_links_resolve(site: Path, pages: dict[Path, tuple[str, _Page]]) -> None:
    checked = 0
    for path, (_, parsed) in pages.items():
        for link in parsed.links:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc and not link.startswith("/"), f"{path}: {link}"
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            assert target.is_file(), f"{path.relative_to(site)} links to missing {link}"
            if parts.fragment and target.suffix == ".html":
                assert parts.fragment in pages[target][1].ids, f"{path}: no #{parts.fragment} in {link}"
            checked += 1
    assert checked > 100


def test_untrusted_text_is_escaped(pages: dict[Path, tuple[str, _Page]]) -> None:
    for path, (text, _) in pages.items():
        assert "<script>alert" not in text, path
    index_text = next(text for p, (text, _) in pages.items() if p.name == "index.html" and p.parent.name != "runs")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index_text


def test_serves_over_http(site: Path) -> None:
    server = make_server(site, "127.0.0.1", 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = server_url(server)
        with urllib.request.urlopen(base, timeout=10) as resp:
            assert resp.status == 200 and 'id="leaderboard"' in resp.read().decode()
        with urllib.request.urlopen(base + run_href(BIG_RUN), timeout=10) as resp:
            assert resp.status == 200 and '{"id":"id0",' in resp.read().decode()
        with urllib.request.urlopen(base + "static/site.css", timeout=10) as resp:
            assert resp.status == 200
    finally:
        server.shutdown()
        server.server_close()


def _small_report() -> tuple[Report, Instances]:
    report, instances = make_report()
    del instances.by_run[BIG_RUN]  # keeps these tests quick
    return report, instances


def test_rebuild_removes_stale_pages(tmp_path: Path) -> None:
    report, instances = _small_report()
    build_site(report, tmp_path, instances)
    stale = tmp_path / "runs" / slug("qa--acme_small") / "page-99.html"
    stale.write_text("old")
    build_site(report, tmp_path, instances)
    assert not stale.exists()


def test_large_runs_are_streamed_not_held(tmp_path: Path) -> None:
    """3,000 instances (~9 MB of pages) must build in a few MB: pages are flushed as they fill."""
    report, _ = make_report()
    text = "streamed text " * 200

    def many() -> Iterator[InstanceView]:
        for i in range(3000):
            refs = [("a", True)]
            yield InstanceView(f"s{i}", text, refs, text, ["a"], "a", {"exact_match": 1.0})

    instances = Instances({r.run_id: many for r in report.runs[:1]})
    report.runs = report.runs[:1]
    tracemalloc.start()
    try:
        build_site(report, tmp_path, instances)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    total = sum(p.stat().st_size for p in tmp_path.rglob("*.html"))
    assert total > 8 * MB and peak < 6 * MB, (total, peak)  # the input is the prompt here: shown once
    print(f"streamed {total / MB:.1f} MB of pages with a peak of {peak / MB:.1f} MB")


def test_web_dir_can_be_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web = tmp_path / "web"
    for sub in ("templates", "static"):
        shutil.copytree(web_dir() / sub, web / sub)
    (web / "static" / "extra.txt").write_text("custom")
    monkeypatch.setenv("HARNESS_WEB_DIR", str(web))
    report, instances = _small_report()
    build_site(report, tmp_path / "out", instances)
    assert (tmp_path / "out" / "static" / "extra.txt").read_text() == "custom"


def test_number_formatting() -> None:
    assert fmt_num(0.41234, "exact_match") == "0.412"
    assert fmt_num(1.5, "latency") == "1.50 s" and fmt_num(0.0031, "latency") == "0.0031 s"
    assert fmt_num(0.00042, "cost") == "$0.00042" and fmt_num(12.5, "cost") == "$12.50"
    assert fmt_num(812.0, "num_prompt_tokens") == "812" and fmt_num(None) == "—" and fmt_num(float("nan")) == "—"
    assert fmt_num(3.14159, "bits_per_byte") == "3.14"


CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


def _dump_dom(url: str, profile: Path) -> str:
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
           "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
           "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=True).stdout


@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install -y chromium) to run the JS")
def test_headless_browser_runs_the_page_scripts(site: Path, tmp_path: Path) -> None:
    dom = _dump_dom((site / "index.html").as_uri(), tmp_path / "profile")
    assert re.search(r'<html[^>]*class="js"', dom), "site.js did not run"
    assert 'id="leaderboard"' in dom and 'data-sortable-ready="1"' in dom and "acme/large" in dom
    dom = _dump_dom((site / run_href(BIG_RUN)).as_uri(), tmp_path / "profile")
    assert 'data-filter-ready="1"' in dom and re.search(r"showing \d+ of \d+ on this page", dom)
    # site.js drew a card for each instance of the page's data, untrusted text as text
    drawn = int(re.search(r'data-drawn="(\d+)"', dom).group(1))
    assert drawn > 0 and dom.count("<article ") == drawn and f"showing {drawn} of {drawn} on this page" in dom
    assert '<article class="inst state-bad" id="i0" data-instance-id="id0" data-main="0"' in dom
    assert 'id="i1" data-instance-id="id1" data-main="1"' in dom and "Question 1 &lt;script&gt;alert(1)" in dom
    assert "<script>alert" not in dom and '<li class="correct" title="correct">answer 1</li>' in dom
    # a prediction that is one of the references is stored as its index and drawn as its text
    assert '<div class="text code pred">answer 1</div>' in dom and '"predictionRef":0' in (site / run_href(BIG_RUN)).read_text()
    assert "few-shot dropped" in dom and '<dt class="main">exact_match</dt><dd class="main">1.000</dd>' in dom


def test_compiled_templates_are_cached_and_a_broken_cache_is_ignored(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Templates compile once per machine (in $HARNESS_CACHE/templates); a damaged cache file is compiled afresh."""
    from harness.site.build import make_env

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path))
    first = make_env(web_dir() / "templates").get_template("heads.html")
    cached = sorted((tmp_path / "templates").iterdir())
    assert cached
    for path in cached:
        path.write_bytes(path.read_bytes()[:20])  # as if a killed process had left it half written
    again = make_env(web_dir() / "templates").get_template("heads.html")
    run = RunInfo(run_id="r", model="m", scenario="s", group="g", method="generation", main_metric="exact_match",
                  adapter_spec={}, scores={}, instances=0, failed_requests=0, truncated_instances=0)
    kwargs = dict(root="../../", run=run, heads=[("h1", "text <b>", "8", 2)], suite="s", created_at="now")
    assert again.render(**kwargs) == first.render(**kwargs) and "text &lt;b&gt;" in first.render(**kwargs)


BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def test_bidi_controls_in_names_show_as_escapes(tmp_path: Path) -> None:
    """A name with U+202E would show the text after it reversed ("acme/\u202egnp.exe" reads "acme/exe.png"): every
    name on every page shows its bidi controls as escapes, and no page holds one."""
    model, group, scenario = "acme/\u202egnp.exe", "qa\u2066\u2067\u2068\u2069", "sc\u202a\u202b\u202c\u202d"
    score = _score("exact_match", 0.5, 0.1, 4)
    run = RunInfo("r1", model, scenario, group, "generation", "exact_match", {}, {"exact_match": score}, 4, 0, 0)
    lb = Leaderboard(models=[model], columns=[LeaderboardColumn(group, "exact_match")], cells={(model, group): score},
                     win_rates={model: None}, failed_requests={model: 0})
    report = Report(suite="suite\u200e\u200f\u061c", created_at="2025-01-02T03:04:05Z", leaderboard=lb, runs=[run])
    build_site(report, tmp_path, Instances({"r1": lambda: _instances("r1", 2)}))
    texts = {p: p.read_text(encoding="utf-8") for p in tmp_path.rglob("*.html")}
    assert len(texts) >= 3
    for path, text in texts.items():
        assert not any(char in text for char in BIDI), path
    index, group_page = texts[tmp_path / "index.html"], texts[tmp_path / "groups" / f"{slug(group)}.html"]
    assert "acme/\\u202egnp.exe" in index and "suite\\u200e\\u200f\\u061c" in index
    assert "qa\\u2066\\u2067\\u2068\\u2069" in group_page
    run_page = texts[tmp_path / "runs" / "r1" / "index.html"]
    assert "sc\\u202a\\u202b\\u202c\\u202d" in run_page and "acme/\\u202egnp.exe" in run_page


def test_a_report_from_the_store_is_plain_data_and_its_instances_come_from_the_source(tmp_path: Path) -> None:
    import pickle
    import sys

    from harness.store.store import open_store
    from harness.summary import StoredInstances, build_report

    (tmp_path / "suite.yaml").write_text("name: plain\nentries:\n  - scenario: boolq\n    max_instances: 3\n")
    proc = subprocess.run([sys.executable, "-m", "harness", "run", "suite.yaml", "--models", "chance", "--output", "out",
                           "--no-site"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    store = open_store(f"sqlite:///{tmp_path / 'out' / 'harness.db'}")
    try:
        report = build_report(store, "plain")
        assert pickle.loads(pickle.dumps(report)) == report  # nothing in it reads the store
        (run,) = report.runs
        build_site(report, tmp_path / "site", StoredInstances(store))
    finally:
        store.close()
    page = _Page()
    page.feed((tmp_path / "site" / run_href(run.run_id)).read_text(encoding="utf-8"))
    assert len(page.instance_ids) == 3
