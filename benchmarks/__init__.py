"""Benchmarks: ``make bench`` (``python -m benchmarks``) prints one table per part."""
