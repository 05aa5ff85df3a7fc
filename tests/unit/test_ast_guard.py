"""``tests.ast_guard`` makes concurrent ``ast.parse`` safe on CPython 3.11 (gh-106905)."""

from __future__ import annotations

import pathlib
import subprocess
import sys
import textwrap

import pytest

# No Airflow involved: one run, at the latest Airflow, is enough.
pytestmark = pytest.mark.latest_only

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Four threads parse a nested source while cyclic garbage with Python finalizers makes collections (and so
# thread switches) happen inside the AST converter; prints how many parses failed with the SystemError.
# Run in a fresh interpreter: pytest's own start-up state (gc callbacks, frozen objects) hides the race.
_RACE = textwrap.dedent(
    """
    import ast, gc, sys, threading
    from tests.ast_guard import serialize_ast_parse

    if sys.argv[1] == "serialized":
        serialize_ast_parse()
        serialize_ast_parse()  # idempotent: one lock, not a wrapper around a wrapper
        assert not hasattr(ast.parse.__wrapped__, "__wrapped__")
    source = "x = " + "(" * 60 + "1" + ")" * 60 + "\\n" + "def f(a):\\n    return [i for i in a if i]\\n" * 200
    errors = []

    class Finalized:
        def __del__(self):
            sum(range(50))

    def parse_with_garbage():
        for _ in range(60):
            for _ in range(50):
                junk = Finalized()
                junk.me = junk
            del junk
            try:
                ast.parse(source)
            except SystemError:
                errors.append(1)

    gc.set_threshold(50)
    sys.setswitchinterval(1e-6)
    threads = [threading.Thread(target=parse_with_garbage) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(len(errors))
    """
)


def _failed_parses(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _RACE, mode], capture_output=True, text=True, check=True, timeout=120, cwd=ROOT
    )
    return int(done.stdout.strip())


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="CPython 3.13 keeps the counter per thread")
def test_threads_parsing_at_once_do_not_trip_the_recursion_counter() -> None:
    assert _failed_parses("serialized") == 0
    # The race is real on this interpreter: unserialized, the same run fails (a dozen or more parses per run
    # were seen on CPython 3.11.7; three tries keep a quiet run from failing the test).
    assert any(_failed_parses("plain") > 0 for _ in range(3))
