"""One measured source for run times: `notebooks/timings.json`, written by a full-settings build.

Prose never states a run time by hand. Notebooks state none at all in their Markdown (their outputs may print
what they measure); the README and the docs quote the file through markers that these tests compare with it
(`<!-- timing NN_name -->...<!-- /timing -->` and the `<!-- timings-table -->` block; see notebooks/build.py).
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# A duration in prose: "10 minutes", "about 4 min", "~1 s", "2.5 hours" (not "4 heads" or "3.5 seconds-long")
DURATION = re.compile(r"(?<![\w.])\d+(?:[.,]\d+)?\s*(?:s|secs?|seconds?|min|mins|minutes?|h|hrs?|hours?)\b(?!-)",
                      re.IGNORECASE)


def load_build():
    spec = importlib.util.spec_from_file_location("notebook_build", ROOT / "notebooks" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = load_build()


def markdown_of(path: Path) -> list[tuple[str, str]]:
    """(where, text) of every Markdown cell of a notebook."""
    nb = nbformat.read(path, as_version=4)
    return [(f"{path.name} cell {i}", c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]


def unquoted_durations(text: str) -> list[str]:
    """Durations written by hand: outside the timing markers."""
    return DURATION.findall(build.TIMING_CLAIM.sub("", build.TIMINGS_TABLE.sub("", text)))


# ----------------------------------------------------------------------------------- the real files
def test_timings_file_is_complete_when_present():
    entries = build.read_timings()
    names = {p.stem for p in NOTEBOOKS}
    for stem, entry in entries.items():
        assert stem in names, f"timings.json times {stem}, which is not a notebook"
        assert entry["seconds"] > 0 and re.fullmatch(r"\d{4}-\d\d-\d\d", entry["date"]), entry
        assert entry["machine"] and entry["omp_num_threads"] and entry["torch"], entry


@pytest.mark.parametrize("path", DOCUMENTS + NOTEBOOKS, ids=lambda p: p.name)
def test_quoted_times_agree_with_the_timings_file(path):
    entries = build.read_timings()
    texts = markdown_of(path) if path.suffix == ".ipynb" else [(path.name, path.read_text())]
    assert [p for where, text in texts for p in build.timing_problems(text, entries, where)] == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_prose_states_no_run_time_by_hand(path):
    found = [(where, d) for where, text in markdown_of(path) for d in unquoted_durations(text)]
    assert found == [], ("a run time in a notebook's Markdown: print the measured time in an output, or quote "
                         f"timings.json with <!-- timing NN_name -->...<!-- /timing --> ({found})")


# ------------------------------------------------------------------------------------ the rules can fail
ENTRIES = {"04_full_gpt": {"seconds": 242.4, "date": "2026-01-02", "machine": "cpu, 2 cores",
                           "omp_num_threads": "1", "torch": "2.13.0"},
           "05_training_at_scale": {"seconds": 61.0, "date": "2026-01-02", "machine": "cpu, 2 cores",
                                    "omp_num_threads": "1", "torch": "2.13.0"}}


def test_format_duration():
    assert build.format_duration(61.4) == "61 s"
    assert build.format_duration(242.4) == "4 min 2 s"


def test_rule_quoted_times():
    good = ("04 takes <!-- timing 04_full_gpt -->4 min 2 s<!-- /timing -->, "
            "all <!-- timing total -->5 min 3 s<!-- /timing -->.")
    assert build.timing_problems(good, ENTRIES, "x") == []
    assert build.timing_problems(good.replace("4 min 2 s", "about 10 minutes"), ENTRIES, "x") == [
        "x: says 'about 10 minutes' for 04_full_gpt, timings.json says '4 min 2 s'"]
    assert "does not have" in build.timing_problems("<!-- timing 09_x -->1 s<!-- /timing -->", ENTRIES, "x")[0]


def test_rule_table():
    table = f"<!-- timings-table -->\n{build.timings_table(ENTRIES)}\n<!-- /timings-table -->"
    assert build.timing_problems(table, ENTRIES, "x") == []
    stale = {**ENTRIES, "04_full_gpt": {**ENTRIES["04_full_gpt"], "seconds": 100.0}}
    assert build.timing_problems(table, stale, "x")
    assert "| 05_training_at_scale | 61 s |" in table and "| total | 5 min 3 s |" in table


def test_rule_no_durations_by_hand():
    assert unquoted_durations("The full preset takes about 10 minutes; 4 heads of 32; ~1 s per epoch.") == [
        "10 minutes", "1 s"]
    assert unquoted_durations("It took <!-- timing 04_full_gpt -->4 min 2 s<!-- /timing -->.") == []


def test_record_timings_merges(tmp_path):
    path = tmp_path / "timings.json"
    path.write_text(json.dumps({"notebooks": {"00_a": {"seconds": 5.0, "date": "2026-01-01", "machine": "m",
                                                        "omp_num_threads": "1", "torch": "t"}}}))
    build.record_timings({"01_b": 12.34}, {"01_b": (0.51, 2.349)}, path)
    entries = build.read_timings(path)
    assert list(entries) == ["00_a", "01_b"] and entries["01_b"]["seconds"] == 12.3
    assert entries["00_a"]["seconds"] == 5.0 and entries["01_b"]["machine"]
    assert entries["01_b"]["load_average_start_end"] == [0.51, 2.35]
    table = build.timings_table(entries)
    assert "| 01_b | 12 s | 0.51 → 2.35 |" in table and "| 00_a | 5 s | not recorded |" in table


def test_slowest_cells_are_printed_and_their_timestamps_removed(capsys):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"step_{i}()") for i in range(4)])
    for cell, seconds in zip(nb.cells, (3, 40, 0, 12)):
        cell.metadata["execution"] = {"iopub.execute_input": "2026-11-29T01:00:00.000000Z",
                                      "shell.execute_reply": f"2026-11-29T01:00:{seconds:02d}.500000Z"}
    build.print_slowest_cells(nb, count=2)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:3] for line in lines] == [["cell", "1:", "40"], ["cell", "3:", "12"]]
    assert "step_1()" in lines[0]
    assert all("execution" not in cell.metadata for cell in nb.cells)  # committed notebooks stay unchanged
