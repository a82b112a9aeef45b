"""User-facing errors: the CLI prints their message on one line and exits with code 2."""
from __future__ import annotations


class BenchError(Exception):
    """A mistake in the user's input (file, field, value) that we can explain in one line."""

    exit_code = 2


class DataError(BenchError):
    """A dataset file is missing, malformed or inconsistent. Message names the file."""

    def __init__(self, path: object, problem: str):
        self.path, self.problem = str(path), problem
        super().__init__(f"{path}: {problem}")


class ConfigError(BenchError):
    """A config key or value is wrong. Message names the key and what was expected."""
