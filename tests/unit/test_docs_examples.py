"""The docs cannot rot: code they quote from an example DAG is still in that DAG, and benchmark figures come
only from the benchmarks' own writer.

A quoted block is marked in Markdown by ``<!-- quote: example_dags/<file>.py -->`` on the line before its
```python fence; the block must appear verbatim in that file (at any indentation: a quote from inside a
``with DAG(...)`` block is shown dedented).
"""

from __future__ import annotations

import ast
import datetime
import importlib.util
import logging
import pathlib
import re
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
QUOTE = re.compile(r"<!-- quote: (?P<path>[^ ]+) -->\n```python\n(?P<code>.*?)\n```", re.DOTALL)
MARKER = re.compile(r"<!-- quote: ")

pytestmark = pytest.mark.latest_only

# benchmarks/ is a folder of scripts, not a package: its writer is loaded by path.
_spec = importlib.util.spec_from_file_location("benchmark_results", ROOT / "benchmarks" / "results.py")
assert _spec is not None and _spec.loader is not None
results = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(results)


def _quotes() -> list[tuple[str, str, str]]:
    found = []
    for doc in DOCS:
        for match in QUOTE.finditer(doc.read_text()):
            found.append((str(doc.relative_to(ROOT)), match["path"], match["code"]))
    return found


def _contains_at_some_indent(source: str, block: str) -> bool:
    lines = block.splitlines()
    for indent in range(0, 17, 4):
        shifted = "\n".join(" " * indent + line if line.strip() else "" for line in lines)
        if f"\n{shifted}\n" in f"\n{source}\n":
            return True
    return False


def test_every_quote_marker_is_followed_by_a_python_block() -> None:
    for doc in DOCS:
        text = doc.read_text()
        assert len(MARKER.findall(text)) == len(QUOTE.findall(text)), doc


def test_the_sensor_and_operator_pages_quote_example_dags() -> None:
    pages = {doc for doc, _, _ in _quotes()}
    assert {"docs/sensors.md", "docs/operators.md"} <= pages


@pytest.mark.parametrize(("doc", "path", "code"), _quotes(), ids=lambda v: str(v)[:40])
def test_a_quoted_block_is_verbatim_in_its_example_dag(doc: str, path: str, code: str) -> None:
    source = ROOT / path
    assert source.is_file(), f"{doc} quotes {path}, which does not exist"
    assert _contains_at_some_indent(source.read_text(), code), f"{doc}: this block is no longer in {path}:\n{code}"


def test_the_quote_check_fails_on_a_changed_line() -> None:
    source = "with x:\n    a = 1\n\n    b = 2\n"
    assert _contains_at_some_indent(source, "a = 1\n\nb = 2")
    assert not _contains_at_some_indent(source, "a = 1\n\nb = 3")


def test_every_python_block_in_the_readme_and_docs_parses() -> None:
    for doc in DOCS:
        for code in re.findall(r"```python\n(.*?)\n```", doc.read_text(), re.DOTALL):
            ast.parse(code, filename=str(doc))


def test_a_written_section_replaces_only_its_own_markers(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "benchmarks.md"
    results.write_section(target, "bench_a", "python benchmarks/a.py --quick", "first run")
    results.write_section(target, "bench_b", "python benchmarks/b.py", "b's run")
    results.write_section(target, "bench_a", "python benchmarks/a.py", "second run")
    text = target.read_text()
    assert text.startswith(results.HEADER)
    assert "first run" not in text
    assert text.count("<!-- BEGIN bench_a -->") == 1
    assert text.index("second run") < text.index("b's run")  # replaced in place, not appended
    assert "- command: `python benchmarks/a.py`" in text
    assert "- machine: " in text


def test_a_section_shows_output_holding_fences_intact() -> None:
    section = results.render_section("x", "cmd", "a ``` b", datetime.datetime(2026, 1, 2, 3, 4))
    assert "````\na ``` b\n````" in section
    assert "- date: 2026-01-02 03:04 UTC" in section


def test_the_recorded_command_leaves_out_the_write_option() -> None:
    assert results.command_line("/x/bench.py", ["--quick", "--write"]) == "python benchmarks/bench.py --quick"
    assert results.command_line("bench.py", ["--write", "out.md", "--n", "3"]) == "python benchmarks/bench.py --n 3"
    assert results.command_line("bench.py", ["--write=out.md"]) == "python benchmarks/bench.py"


def test_recording_writes_what_the_benchmark_printed_and_nothing_on_a_crash(
    tmp_path: pathlib.Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "out.md"
    here = (pathlib.Path(__file__).parent,)
    with results.recording("demo", str(target), argv=["--quick"], sources=here):
        print("3 of 3 polls on time")
        logging.getLogger("bench").addHandler(handler := logging.StreamHandler(sys.stdout))
        logging.getLogger("bench").warning("a log line")
        logging.getLogger("bench").removeHandler(handler)
    out = capsys.readouterr().out
    assert "3 of 3 polls on time" in out
    assert "a log line" in out
    assert "3 of 3 polls on time" in target.read_text()
    assert "a log line" not in target.read_text()  # a log line is not a result
    with pytest.raises(RuntimeError), results.recording("crashed", str(target), argv=[], sources=here):
        raise RuntimeError("boom")
    assert "crashed" not in target.read_text()


def test_the_results_file_is_only_generated_sections() -> None:
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    names = re.findall(r"<!-- BEGIN (\S+) -->", text)
    assert names == re.findall(r"<!-- END (\S+) -->", text)
    assert len(names) == len(set(names))
    for name in names:
        body = text.split(f"<!-- BEGIN {name} -->", 1)[1].split(f"<!-- END {name} -->", 1)[0]
        assert "Not run yet." in body or "- command: `python benchmarks/" in body, name
