"""Canary secrets: unique strings used as the connections' secrets and session tokens, searched for afterwards.

A canary found anywhere but in the (encrypted) connection table and the emulator is a leaked secret.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field


@dataclass
class Canaries:
    """The secret values that must never leave the connection table (encrypted) and the emulator."""

    values: dict[str, str] = field(default_factory=dict)

    def new(self, label: str) -> str:
        """A fresh unique canary string."""
        value = f"e2ecanary{label.replace('_', '')}{secrets.token_hex(10)}"
        self.values[label] = value
        return value

    def find(self, data: bytes) -> list[str]:
        """Labels of the canaries present in ``data``."""
        return [label for label, value in self.values.items() if value.encode() in data]
