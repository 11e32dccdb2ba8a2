"""Runnable benchmarks (``python -m benchmarks.<name> [--quick]``); each prints a final JSON line."""
