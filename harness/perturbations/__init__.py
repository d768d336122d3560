"""Input perturbations for robustness and fairness runs (HELM's set); see base.py for the API."""

from harness.perturbations.base import (
    CATEGORIES,
    FAIRNESS,
    GROUPS,
    ROBUSTNESS,
    Perturbation,
    expand_perturbations,
    get_perturbation,
    perturbation_registry,
    register_perturbation,
)

__all__ = [
    "CATEGORIES",
    "FAIRNESS",
    "GROUPS",
    "ROBUSTNESS",
    "Perturbation",
    "expand_perturbations",
    "get_perturbation",
    "perturbation_registry",
    "register_perturbation",
]
