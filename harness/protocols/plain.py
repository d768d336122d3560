"""The plain protocol: the adapter's prediction as it is (what every entry without `protocol:` runs)."""

from __future__ import annotations

from harness.adapters.base import Prediction


def decide(pred: Prediction) -> Prediction:
    return pred
