"""Suite-wide progress: one display for a whole `harness run`, its totals counted before the first request is sent.

On a terminal: one live tqdm line on stderr. Elsewhere (a pipe, a file, a CI log): a plain line at the start, at most
every `interval` seconds, and at the end, flushed. The plain lines also go to a log file when one is given, on a
terminal too. Notes (a model loading, a conversion) are printed above the live line and logged.

The executor reports counts through `RequestCounter` only; the runner says when runs start and end. Deployments run
at once (harness.runner.run_suite): each reports through its own `DeploymentProgress`, which counts its share and the
suite's; the line names each run in flight with its deployment's requests done of its total.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any, Protocol, TextIO

from harness.errors import HarnessError
from harness.names import visible

INTERVAL_ENV = "HARNESS_PROGRESS_INTERVAL"  # seconds between plain lines; tests shorten it
DEFAULT_INTERVAL_S = 10.0
LIVE_REFRESH_S = 0.25  # how often the live line is redrawn
RATE_WINDOW_S = 60.0  # req/s (and so the ETA) is measured over about this much recent time


class RequestCounter(Protocol):
    """What the executor tells the display: requests answered from the store, and requests sent and answered."""

    def from_store(self, n: int) -> None: ...

    def answered(self, n: int, failed: int) -> None: ...


class RunCounter(RequestCounter, Protocol):
    """What a run tells the display besides: requests planned twice in it (answered by one answer)."""

    def repeats(self, n: int) -> None: ...


def interval_from_env() -> float:
    """$HARNESS_PROGRESS_INTERVAL as seconds, or the default; anything else than a positive number is an error."""
    raw = os.environ.get(INTERVAL_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_INTERVAL_S
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0 or value == float("inf"):
        raise HarnessError(f"must be a positive number of seconds, got {visible(raw)!r}", field=INTERVAL_ENV)
    return value


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class SuiteProgress:
    """Counts for the whole suite, shown live on a terminal or as periodic plain lines, and logged."""

    def __init__(self, stream: TextIO | None = None, log_path: Path | None = None,
                 interval: float = DEFAULT_INTERVAL_S, live: bool | None = None) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.interval = interval
        self.live = self.stream.isatty() if live is None else live
        self.log_path = log_path
        self._log: TextIO | None = None
        if log_path is not None:
            try:
                log_path.parent.mkdir(parents=True, exist_ok=True)
                self._log = open(log_path, "a", encoding="utf-8")  # noqa: SIM115  (closed by close())
            except OSError as exc:
                self.log_path = None
                self._write(f"harness: no progress log ({exc.strerror or exc}): {log_path}")
        self.runs_total = self.requests_total = 0
        self.runs_done = self.sent = self.failed = self.cached = self.repeated = 0
        self.current = ""  # a run named by begin_run (not through a deployment's counter)
        self.deployments: list[DeploymentProgress] = []
        self._lock = threading.RLock()  # one writer at a time: the loop, the ticker, a client's loading thread
        self._started: float | None = None
        self._samples: deque[tuple[float, int]] = deque()
        self._bar: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # --- what the runner tells it ---------------------------------------------------------------------------------

    def start(self, runs: int, requests: int, runs_done: int = 0, cached: int = 0) -> None:
        """Fix the totals (runs and requests planned; runs reused whole count as done, their requests as cached) and
        show the first line."""
        self.runs_total, self.requests_total = runs, requests
        self.runs_done, self.cached = runs_done, cached
        self._started = time.monotonic()
        self._samples.append((self._started, 0))
        if self.live:
            from tqdm import tqdm  # only on a terminal: slow to import

            self._bar = tqdm(total=max(requests, 1), file=self.stream, dynamic_ncols=True, leave=True,
                             bar_format=self._bar_format(False))
        self._line()
        self._ticker = threading.Thread(target=self._tick, name="harness-progress", daemon=True)
        self._ticker.start()

    @property
    def started(self) -> bool:
        return self._started is not None

    def begin_run(self, name: str) -> None:
        self.current = visible(name)

    def end_run(self) -> None:
        self.runs_done += 1

    def deployment(self, name: str, requests: int, cached: int = 0) -> DeploymentProgress:
        """The counter one deployment's runs report through: `requests` planned for it, `cached` of them in runs it
        reuses whole (counted as done)."""
        counter = DeploymentProgress(self, visible(name), requests, cached)
        with self._lock:
            self.deployments.append(counter)
        return counter

    def repeats(self, n: int) -> None:
        """Requests planned that repeat one already planned in the run: answered by the same answer."""
        self.repeated += n

    def note(self, text: str) -> None:
        """A message of its own (a model loading): above the live line, or a plain line; logged too."""
        text = visible(text)
        with self._lock:
            if self._bar is not None:
                self._bar.clear()
            self._write(text)
            if self._bar is not None:
                self._bar.refresh()
            self._to_log(text)

    def close(self) -> None:
        """Stop the ticker and show the last line (also when the run stopped early); once."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        with self._lock:
            if self._started is not None:
                if self._bar is not None:
                    self._refresh(final=True)
                    self._bar.close()
                    self._bar = None
                self._line(final=True)
            if self._log is not None:
                self._log.close()
                self._log = None

    # --- RequestCounter: called by the executor, on the event loop, once per batch: counting only --------------

    def from_store(self, n: int) -> None:
        self.cached += n

    def answered(self, n: int, failed: int) -> None:
        self.sent += n
        self.failed += failed

    # --- display -------------------------------------------------------------------------------------------------

    @property
    def done(self) -> int:
        return self.sent + self.cached + self.repeated

    def _tick(self) -> None:
        next_line = time.monotonic() + self.interval
        while not self._stop.wait(LIVE_REFRESH_S if self.live else max(0.0, next_line - time.monotonic())):
            with self._lock:
                if self._bar is not None:
                    self._refresh()
                if time.monotonic() >= next_line:
                    self._line()
                    next_line = time.monotonic() + self.interval

    def _rate(self, final: bool) -> float:
        """Requests sent per second: over the last minute or so, or over the whole run at its end. Answers from the
        store are left out, so a rerun's ETA is not flattered by them."""
        now = time.monotonic()
        if final:
            elapsed = now - (self._started or now)
            return self.sent / elapsed if elapsed > 0 else 0.0
        samples = self._samples
        samples.append((now, self.sent))
        while len(samples) > 2 and samples[1][0] <= now - RATE_WINDOW_S:
            samples.popleft()
        then, sent_then = samples[0]
        return (self.sent - sent_then) / (now - then) if now > then else 0.0

    def _fields(self, final: bool) -> tuple[str, str]:
        """(runs and requests, the rest) of a line."""
        total, done = self.requests_total, self.done
        percent = 100.0 * done / total if total else 100.0
        counts = f"runs {self.runs_done}/{self.runs_total} · requests {done:,}/{total:,} ({percent:.1f}%)"
        rate = self._rate(final)
        if final:
            timing = f"done in {_duration(time.monotonic() - (self._started or 0.0))}"
        else:
            left = max(0, total - done)
            timing = f"ETA {_duration(left / rate)}" if rate > 0 else "ETA 0s" if not left else "ETA ?"
        rest = f"{rate:.1f} req/s · {timing} · failures {self.failed:,} · cached {self.cached:,}"
        if not final and self.runs_done < self.runs_total:
            running = [d.shown() for d in self.deployments if d.current]
            if self.current:
                running.insert(0, self.current)
            if running:
                rest += " · " + ", ".join(running)
        return counts, rest

    def _line(self, final: bool = False) -> None:
        counts, rest = self._fields(final)
        text = f"progress: {counts} · {rest}"
        if not self.live:
            self._write(text)
        self._to_log(text)

    def _bar_format(self, final: bool) -> str:
        """The whole live line as a tqdm format: our counts around its bar (braces in names kept as text)."""
        counts, rest = (part.replace("{", "{{").replace("}", "}}") for part in self._fields(final))
        return f"{counts} |{{bar}}| {rest}"

    def _refresh(self, final: bool = False) -> None:
        bar = self._bar
        bar.bar_format = self._bar_format(final)
        bar.n = min(self.done, bar.total)  # the bar only; the text says what was counted
        bar.refresh()

    def _write(self, text: str) -> None:
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # the reader went away (`| head`): the run goes on
            pass

    def _to_log(self, text: str) -> None:
        if self._log is not None:
            self._log.write(f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {text}\n")
            self._log.flush()


class DeploymentProgress:
    """One deployment's counter: what its runs report is counted for it and for the suite (on the event loop)."""

    def __init__(self, suite: SuiteProgress, name: str, requests: int, cached: int) -> None:
        self.suite, self.name, self.requests = suite, name, requests
        self.done = cached
        self.current = ""  # the run in flight, if any

    def begin_run(self, scenario: str) -> None:
        self.current = visible(scenario)

    def end_run(self) -> None:
        self.current = ""
        self.suite.end_run()

    def from_store(self, n: int) -> None:
        self.done += n
        self.suite.from_store(n)

    def answered(self, n: int, failed: int) -> None:
        self.done += n
        self.suite.answered(n, failed)

    def repeats(self, n: int) -> None:
        self.done += n
        self.suite.repeats(n)

    def shown(self) -> str:
        return f"{self.name} {self.current} {self.done:,}/{self.requests:,}"


_active: SuiteProgress | None = None


def activate(progress: SuiteProgress | None) -> None:
    """Make `progress` the display notes go to (None: back to plain stderr)."""
    global _active
    _active = progress


def note(text: str) -> None:
    """Print a message of the harness's own (e.g. a model conversion) through the running display, if any."""
    if _active is not None:
        _active.note(text)
    else:
        print(visible(text), file=sys.stderr, flush=True)
