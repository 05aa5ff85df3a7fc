"""Guards this suite needs against CPython 3.11's shared AST recursion counter (gh-106905).

They live with the tests, not in the emulator's pytest plugin: the race comes from this suite's own set-up
(pytest rewriting hypothesis and anyio, which ship pytest11 plugins, while the emulator's server thread runs),
and a user's test session must not have ``ast.parse`` patched for the whole process by a plugin it opted into.
``tests/conftest.py`` calls both before any test starts a thread.
"""

from __future__ import annotations

import ast
import functools
import gc
import importlib
import pkgutil
import sys
import threading
from collections.abc import Callable
from typing import Any

__all__ = ["import_provider_modules", "serialize_ast_parse"]


def import_provider_modules() -> None:
    """Import every module of the provider now, in the calling thread.

    A first import of a module pytest rewrites runs ``ast.parse``; with every provider module imported before
    any server thread starts, later imports are cache hits and none of them can parse while another thread
    does, whichever modules pytest is configured to rewrite.
    """
    import airflow_provider_cloudflows

    for module in pkgutil.walk_packages(airflow_provider_cloudflows.__path__, "airflow_provider_cloudflows."):
        importlib.import_module(module.name)


_AST_PARSE_LOCK = threading.RLock()


def serialize_ast_parse() -> None:
    """Make ``ast.parse`` safe against CPython 3.11's shared AST recursion counter (before 3.13; idempotent).

    pytest rewrites every module of ``anyio`` and ``hypothesis`` (they ship pytest11 plugins) on their first,
    often lazy, import, and it parses source again to format a failure. CPython 3.11 keeps the AST converter's
    recursion counter per interpreter: a parse fails with "AST constructor recursion depth mismatch" when
    another parse runs inside it — in another thread (the emulator's server thread imports anyio's backend
    lazily), or in the same thread when a garbage collection in the converter finalizes a coroutine and the
    traceback it reports is formatted (3.11 parses the source line to place the carets). Both need Python code
    to run inside the converter, which only a collection makes happen: each parse runs with the collector
    paused, one thread at a time. Parsing is rare after start-up, so it costs nothing measurable.
    """
    if sys.version_info >= (3, 13) or getattr(ast.parse, "_cloudflows_serialized", False):
        return
    parse: Callable[..., Any] = ast.parse

    @functools.wraps(parse)
    def serialized_parse(*args: Any, **kwargs: Any) -> Any:
        with _AST_PARSE_LOCK:
            collecting = gc.isenabled()
            gc.disable()
            try:
                return parse(*args, **kwargs)
            finally:
                if collecting:
                    gc.enable()

    serialized_parse._cloudflows_serialized = True  # type: ignore[attr-defined]
    ast.parse = serialized_parse
