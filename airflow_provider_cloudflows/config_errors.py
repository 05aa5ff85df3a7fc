"""The configuration error, in a module of its own: the emulator and the signers use it without importing Airflow."""

from __future__ import annotations


class ConfigurationError(ValueError):
    """A connection, endpoint or argument that cannot work; ``field`` names it. Raised before anything is sent.

    A ``ValueError`` so that callers that already treat bad input as such keep doing so. The message never
    repeats a secret's value.
    """

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")
