"""The ``Authorization`` header grammar the three HMAC-SHA256 schemes share (for server-side verification)."""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEX64 = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class AuthorizationFields:
    """``{algorithm} Name=value, SignedHeaders=a;b, Signature=hex`` taken apart and checked."""

    fields: dict[str, str]
    signed_headers: tuple[str, ...]
    signature: str


def parse_authorization(value: str, *, algorithm: str, label: str, names: tuple[str, ...]) -> AuthorizationFields:
    """Split an ``Authorization`` value of ``algorithm`` into exactly ``names``; ``ValueError`` names the flaw.

    ``names`` must include ``SignedHeaders`` and ``Signature``; the signature must be 64 lower-case hex digits.
    """
    prefix = algorithm + " "
    if not value.startswith(prefix):
        raise ValueError(f"{label} authorization: does not start with {prefix!r}")
    fields: dict[str, str] = {}
    for item in value[len(prefix) :].split(","):
        name, sep, field_value = item.strip().partition("=")
        if not sep or name not in names or name in fields:
            raise ValueError(f"{label} authorization: unexpected or repeated field {name!r}")
        fields[name] = field_value
    missing = [name for name in names if not fields.get(name)]
    if missing:
        raise ValueError(f"{label} authorization: missing {', '.join(missing)}")
    signed_headers = tuple(fields["SignedHeaders"].split(";"))
    if not all(signed_headers):
        raise ValueError(f"{label} authorization: SignedHeaders has an empty name")
    if not _HEX64.fullmatch(fields["Signature"]):
        raise ValueError(f"{label} authorization: Signature is not 64 lower-case hex digits")
    return AuthorizationFields(fields, signed_headers, fields["Signature"])
