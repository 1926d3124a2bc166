"""Benchmarks of the service under gunicorn, beside a bare-Flask floor measured in the same run.

Run with ``make bench`` (``python -m bench``); not part of the test suite. See bench/README.md.
"""
