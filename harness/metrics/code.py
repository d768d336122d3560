"""Functional correctness of generated code (HumanEval): run each sample against the problem's tests in the
sandbox and report pass@k (Chen et al., 2021, arXiv:2107.03374)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from harness.metrics.registry import register_metric

if TYPE_CHECKING:
    from harness.adapters.base import Prediction
    from harness.clients.deployment import ModelDeployment
    from harness.instance import Instance

PASS_AT = (1, 5, 10)


def pass_at_k(n: int, c: int, k: int) -> float:
    """The unbiased estimate of the chance that at least one of k samples, drawn without replacement from n of
    which c pass, passes: 1 - C(n-c, k) / C(n, k), as the product 1 - prod_{i=n-c+1..n} (1 - k/i), which stays
    exact where the binomials would overflow a float."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n}, c={c}, k={k}")
    if n - c < k:
        return 1.0  # every k-subset holds a passing sample
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def program_for(instance: Instance, completion: str) -> str:
    """What runs in the sandbox: the prompt (signature and docstring), the completion (the body), the tests, and
    the call of `check` on the entry point."""
    test, entry_point = instance.extra["test"], instance.extra["entry_point"]
    return f"{instance.input}{completion}\n{test}\ncheck({entry_point})\n"


def passes(programs: list[str]) -> list[bool]:
    """Whether each program passes. Identical programs (greedy decoding asked for n samples) run once. Where the
    sandbox cannot be set up, no program runs: one clear error rather than every sample scored as failing."""
    from harness.errors import HarnessError
    from harness.sandbox import isolation, run_many

    problem = isolation().problem
    if problem is not None:
        raise HarnessError(f"the code sandbox cannot be set up here, so no generated code is run: {problem} "
                           "(see docs/sandbox.md)")
    unique = list(dict.fromkeys(programs))
    verdicts = dict(zip(unique, (result.passed for result in run_many(unique))))
    return [verdicts[p] for p in programs]


@register_metric("code_pass", stats={f"pass@{k}": False for k in PASS_AT},
                 description="pass@k: chance that at least one of k samples passes the problem's tests (sandboxed; unbiased estimator over the n samples)")
def code_pass(instance: Instance, pred: Prediction, _: ModelDeployment) -> dict[str, float]:
    """pass@k for k in 1, 5, 10 over the instance's n completions (NaN where k > n)."""
    completions = pred.completions or ([pred.text] if pred.text is not None else [])
    n = len(completions)
    c = sum(passes([program_for(instance, completion) for completion in completions])) if n else 0
    return {f"pass@{k}": pass_at_k(n, c, k) if k <= n else math.nan for k in PASS_AT}
