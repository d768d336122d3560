"""Package READMEs: 24 short documents (permissively licensed PyPI package descriptions) for language modelling:
bits per byte and perplexity under adapter method `language_modeling`. See data/package_readmes/SOURCE.md."""

from __future__ import annotations

from harness.scenarios.base import register_scenario
from harness.scenarios.jsonl import JsonlScenario


@register_scenario
class PackageReadmesScenario(JsonlScenario):
    name = "package_readmes"
    description = "Language modelling on the READMEs of 24 permissively licensed Python packages (bits per byte)."
    main_metric = "bits_per_byte"
    more_metrics = ("bits_per_token", "perplexity", "word_perplexity")
    default_method = "language_modeling"
    source = "The long descriptions of 24 PyPI packages, from their METADATA (scripts/data/make_package_readmes.py)"
    license = "Each document its package's license: MIT, BSD-3-Clause or Apache-2.0 (see SOURCE.md)"
    data_shipped = "full"
    data_files = ("test.jsonl.gz",)
