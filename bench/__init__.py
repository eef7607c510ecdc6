"""Benchmarks: measured with commands, never with timed assertions in tests."""
