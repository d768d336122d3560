"""ARC-Challenge (Clark et al., 2018): grade-school science multiple choice with 3-5 options. The whole test set
ships; the package it is cut from lacks the train split, so the validation split (299) is the few-shot pool."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


class _ARCScenario(JsonlScenario):
    """What both ARC sets share: the source, license, prompt and method (not registered itself)."""

    main_metric = "exact_match"
    default_method = "multiple_choice_joint"
    source = "https://allenai.org/data/arc (Clark et al., arXiv:1803.05457)"
    license = "CC-BY-SA-4.0 (ARC by the Allen Institute for AI; adapted, same license)"
    data_shipped = "full"
    instructions = "The following are multiple choice questions (with answers) about science."
    input_prefix = "Question: "
    output_prefix = "Answer: "


@register_scenario
class ARCChallengeScenario(_ARCScenario):
    name = "arc_challenge"
    description = "ARC-Challenge: science questions, 3-5 options (whole test set; validation rows as few-shot pool)."


@register_scenario
class ARCEasyScenario(_ARCScenario):
    """ARC-Easy: the same science exam source as ARC-Challenge, the questions simple retrieval and co-occurrence
    methods answer. Whole test set (2,376); the validation split (570) is the few-shot pool."""

    name = "arc_easy"
    description = "ARC-Easy: science questions, 3-5 options (whole test set; validation rows as few-shot pool)."
