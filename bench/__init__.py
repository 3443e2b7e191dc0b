"""Benchmarks anyone can run; each prints its figures (recorded in docs/benchmarks.md).

Run them as modules from the repository root, e.g. `.venv/bin/python -m bench.farm --help`; what they
share is in bench/harness.py.
"""
