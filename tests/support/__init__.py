"""Helpers for the test suite: real servers started for the run, loud skips."""
