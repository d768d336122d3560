"""harness: a holistic evaluation harness for language models.

Kept import-light on purpose: `harness --help` and every API-only run must never import torch.
"""

__version__ = "0.1.0"
