"""Judged evaluation: judges, rubrics, and the statistics and checks behind them (see docs/judging.md)."""
