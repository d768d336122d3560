"""Metrics: per-instance scores, registered by name, and their aggregation with confidence intervals."""
