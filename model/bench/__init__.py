"""Benchmarks: scripts that print numbers (and write JSON); they never pass or fail on timing."""
