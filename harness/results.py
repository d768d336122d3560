"""A store's results as pandas DataFrames, for analysis in a notebook or a script:

    from harness.results import runs_df, scores_df, instances_df, requests_df
    scores = scores_df("out")                          # an output folder (its harness.db)
    scores = scores_df(db="postgresql://host/harness")  # or any store's URL

One row per thing (run, run and metric, instance, request); each instance's metric values are columns named
`metric.<name>`. docs/results.md lists every column and works three analyses through. pandas is an optional extra
(`pip install 'harness[results]'`), imported only by this module."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import result_rows
from harness.result_rows import METRIC_PREFIX

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["METRIC_PREFIX", "instances_df", "metric_columns", "requests_df", "runs_df", "scores_df"]


def _pandas() -> Any:
    try:
        import pandas
    except ImportError:
        raise ImportError("harness.results needs pandas: pip install 'harness[results]'") from None
    return pandas


def _frame(read: Callable[..., Iterable[dict[str, Any]]], output: str | Path | None, db: str | None,
           suite: str | None, **kwargs: Any) -> pd.DataFrame:
    pd = _pandas()
    store = result_rows.open_results(output, db)
    try:
        result_rows.check_suite(store, suite)
        return pd.DataFrame.from_records(list(read(store, suite, **kwargs)))
    finally:
        store.close()


def runs_df(output: str | Path | None = None, *, db: str | None = None, suite: str | None = None) -> pd.DataFrame:
    """One row per run. Columns: run_id, suite, model, scenario, group_name, method, main_metric, adapter_spec (dict),
    metrics (list), instances, failed_requests, truncated_instances, requests, fingerprint, server (dict), updated_at,
    record (dict: how the run was made; None for runs stored before records were kept)."""
    return _frame(result_rows.run_rows, output, db, suite)


def scores_df(output: str | Path | None = None, *, db: str | None = None, suite: str | None = None) -> pd.DataFrame:
    """One row per run and metric. Columns: suite, model, scenario, group_name, run_id, metric, mean, ci_low, ci_high
    (the 95% bootstrap interval), count (instances with a value), lower_is_better, is_main (the run's ranking
    metric)."""
    return _frame(result_rows.score_rows, output, db, suite)


def instances_df(output: str | Path | None = None, *, db: str | None = None, suite: str | None = None,
                 prompts: bool = True) -> pd.DataFrame:
    """One row per evaluated instance of every run. Columns: suite, model, scenario, group_name, run_id, instance_id,
    position, perturbation (None for the original), input, prompt (whole, as sent; left out with prompts=False),
    prompt_hash, references ([[output, 1 if correct else 0], ...]), correct_references (list), prediction, outputs
    (list), error, fewshot_dropped, request_keys (list), main_metric, main_score (the main metric's value), and one
    float column `metric.<name>` per metric (NaN where the instance has none)."""
    return _frame(result_rows.instance_rows, output, db, suite, prompts=prompts)


def requests_df(output: str | Path | None = None, *, db: str | None = None, suite: str | None = None
                ) -> pd.DataFrame:
    """One row per distinct request (of the suite's runs, or all). Columns: key, deployment, model, prompt (whole),
    request (dict), ok, result (dict), error, latency_s, prompt_tokens, completion_tokens, updated_at, completions
    (list of the texts that came back)."""
    return _frame(result_rows.request_rows, output, db, suite)


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """The `metric.<name>` columns of an instances_df frame."""
    return [c for c in frame.columns if str(c).startswith(METRIC_PREFIX)]
