"""Report: the plain data the static site is built from, read out of the store by `harness.summary`.

The site generator depends only on these types, never on the store or the clients.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Score:
    """An aggregated metric over a run's instances, with a 95% bootstrap confidence interval."""

    metric: str
    mean: float
    ci_low: float
    ci_high: float
    count: int  # instances the mean is over
    lower_is_better: bool = False


@dataclass(frozen=True)
class RunInfo:
    """One (model, scenario, adapter) run."""

    run_id: str  # stable, filesystem-safe id, used in page names
    model: str  # deployment name
    scenario: str  # scenario full name, e.g. "mmlu:subject=anatomy"
    group: str  # the leaderboard column it belongs to (usually the scenario name)
    method: str  # adapter method
    main_metric: str
    adapter_spec: dict[str, Any]
    scores: dict[str, Score]  # every aggregated metric of the run
    instances: int
    failed_requests: int
    truncated_instances: int  # instances whose prompt lost few-shot examples to fit the context
    server: dict[str, Any] = field(default_factory=dict)  # what answered, when the client knows (vLLM's version, ...)
    # What identifies the stored run's content: the site rewrites a run's pages only when these change (empty: a
    # Report made in memory, always written). Shown in the run's "Reproduce this number" box.
    updated_at: str = ""
    fingerprint: str = ""
    # How the run was made (command, versions, deployment, data files with sha256, seeds, times), when the store keeps
    # it: the run page's "Reproduce this number" box shows it (harness.site.reproduce). None: not recorded.
    record: dict[str, Any] | None = None


@dataclass(frozen=True)
class InstanceView:
    """Everything the instance browser shows for one instance of one run."""

    instance_id: str
    input: str
    references: list[tuple[str, bool]]  # (output, correct); as read from the store, [output, 0 or 1]
    prompt: str  # the prompt exactly as sent (for chat: the messages rendered as "role: content" lines)
    outputs: list[str]  # the model's completions; for multiple_choice_separate, one line per choice with its logprob
    prediction: str  # what the metrics scored (the chosen letter/choice or the completion)
    stats: dict[str, float]
    fewshot_dropped: int = 0
    error: str | None = None
    # Prompts of one run often share a long head (instructions and few-shot examples): the site shows each head once
    # per run and, in each prompt, what follows it. The hash (a key for Report.texts) and length of this prompt's.
    prompt_head: str | None = None
    prompt_head_chars: int = 0


@dataclass(frozen=True)
class RankInterval:
    """How sure a leaderboard row's place is (harness.rank_intervals): 95% intervals of its rank and of its mean win
    rate over resamples of the instances, and whether it is separable from the row below it."""

    rank_low: int  # best rank (1 = first) in the interval
    rank_high: int
    win_rate_low: float
    win_rate_high: float
    next_model: str | None = None  # the row below it on the leaderboard (None: the last ranked row)
    # its mean win rate is above next_model's in at least 97.5% of the resamples (a 95% interval of the difference
    # above zero); None when there is no next row
    above_next: bool | None = None


@dataclass(frozen=True)
class PairedComparison:
    """Two models on the instances both answered (harness.compare): the mean difference A - B with a 95% paired
    bootstrap interval and a paired permutation p-value. A suite row (group "") averages the scenarios' differences,
    each signed so that positive favours A."""

    group: str
    metric: str
    model_a: str
    model_b: str
    n: int  # instances both answered
    dropped: int  # instances of either model's runs that are not in the pairs
    mean_a: float
    mean_b: float
    diff: float
    ci_low: float
    ci_high: float
    p_value: float
    lower_is_better: bool = False


@dataclass(frozen=True)
class LeaderboardColumn:
    group: str  # e.g. "mmlu"
    metric: str  # the group's main metric
    lower_is_better: bool = False
    description: str = ""


@dataclass
class Leaderboard:
    models: list[str]
    columns: list[LeaderboardColumn]
    cells: dict[tuple[str, str], Score]  # (model, group) -> main score
    win_rates: dict[str, float | None]  # model -> mean win rate (None where it has no column)
    failed_requests: dict[str, int] = field(default_factory=dict)  # model -> failed requests over all runs
    ranks: dict[str, RankInterval] = field(default_factory=dict)  # model -> its rank's uncertainty (main board only)
    # (model, group) -> why the cell is marked: its judge is the model itself or of its family (harness.judging)
    marks: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass
class Aspect:
    """A leaderboard on one of HELM's other axes (robustness, fairness, calibration, bias, efficiency): per group,
    the metric that measures it, with its own win rates."""

    name: str
    description: str
    leaderboard: Leaderboard


@dataclass
class Report:
    suite: str
    created_at: str
    leaderboard: Leaderboard  # accuracy: each group's main metric
    runs: list[RunInfo]
    aspects: list[Aspect] = field(default_factory=list)
    # run_id -> a function yielding the run's instances, so the site can stream large runs page by page
    instances: dict[str, Any] = field(default_factory=dict)
    texts: Any = None  # (hashes) -> {hash: text}: the shared prompt heads the instances refer to
    # group -> paired comparisons of models on its main metric (adjacent models on the leaderboard, or every pair)
    comparisons: dict[str, list[PairedComparison]] = field(default_factory=dict)
    judging: Any = None  # harness.judging.views.JudgingReport, where the suite has judges

    def iter_instances(self, run_id: str) -> Iterator[InstanceView]:
        return iter(self.instances[run_id]())
