"""The instances of the runs this process has just saved, as the store would read them back.

`harness run` saves a run and then builds its site, which reads every instance back: a query, its prompts
and a JSON parse of each instance's stats (~25 ms for 1,000 MMLU instances, ~0.3 s for 10,000). The rows that
save_run has just written are those same values, so the store keeps them and serves them instead, for as long as
the run's record in the store is exactly the one written with them. If another process has saved the run since (a
shared store), its record differs (its stamp has microseconds) and the instances are read back from the store.
"""

from __future__ import annotations

from typing import Any

MAX_ROWS = 20_000  # instances kept in all (a few KB each, their prompts mostly): a run past this is read back


class SavedRuns:
    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self.max_rows = max_rows
        self._runs: dict[str, tuple[tuple[Any, ...], list[dict[str, Any]]]] = {}  # the oldest first
        self._rows = 0

    def put(self, run_id: str, record: tuple[Any, ...], rows: list[dict[str, Any]]) -> None:
        """Keep `rows` (in position order) for the run whose `runs` record was written as `record`."""
        self.drop(run_id)
        if len(rows) > self.max_rows:
            return
        while self._runs and self._rows + len(rows) > self.max_rows:
            self.drop(next(iter(self._runs)))
        self._runs[run_id] = (record, rows)
        self._rows += len(rows)

    def get(self, run_id: str, record: tuple[Any, ...] | None) -> list[dict[str, Any]] | None:
        """The kept rows, if the run's record in the store (`record`, as read now) is the one they were saved with."""
        saved = self._runs.get(run_id)
        if saved is None:
            return None
        if record is None or tuple(record) != saved[0]:
            self.drop(run_id)
            return None
        return saved[1]

    def drop(self, run_id: str) -> None:
        saved = self._runs.pop(run_id, None)
        if saved is not None:
            self._rows -= len(saved[1])

    def __contains__(self, run_id: str) -> bool:
        return run_id in self._runs
