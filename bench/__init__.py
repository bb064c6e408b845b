"""Benchmarks (docs/benchmarks.md). Never imported by the application; run as ``python -m bench.<name>``."""
