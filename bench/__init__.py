"""Benchmarks: the real bot as a separate process, driven as users would (see bench/README)."""
