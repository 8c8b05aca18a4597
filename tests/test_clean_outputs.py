"""The committed outputs read cleanly: no machine-specific paths, no network errors, no tracebacks, no progress
bars tangled with log lines, no stray stderr. Fix a finding at its source (a relative run folder, a
`progress=False`, a guarded download), never by editing the saved outputs.

Each rule returns a list of problems and is also run on notebooks built to break it.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Temporary and home folders of this or any machine (a reader's machine has other ones)
LOCAL_PATH = re.compile(
    r"(?<![\w.~])(?:/tmp/|/var/folders/|/private/var/|/home/|/root/|/work/|/Users/|[A-Z]:\\Users\\)"
)
NETWORK_ERROR = re.compile(r"ConnectionError|URLError|HTTPSConnectionPool|HTTPConnectionPool|Max retries exceeded|"
                           r"Temporary failure in name resolution|Name or service not known|LocalEntryNotFoundError|"
                           r"ConnectTimeout|ReadTimeout|SSLError|getaddrinfo failed")
TRACEBACK = re.compile(r"Traceback \(most recent call last\)")
PROGRESS_BAR = re.compile(r"\d+%\|.*\|\s*\d+/\d+|\b(?:it|step|steps|s/it|B)/s\]")


def output_texts(output) -> list[str]:
    """Every text an output shows: stream text, plain/Markdown/HTML representations, error lines."""
    if output.output_type == "stream":
        return [output.text]
    if output.output_type == "error":
        return [f"{output.get('ename')}: {output.get('evalue')}", *output.get("traceback", [])]
    data = output.get("data", {})
    return [data[k] if isinstance(data[k], str) else "".join(data[k])
            for k in ("text/plain", "text/markdown", "text/html") if k in data]


def is_progress_bar(output) -> bool:
    return any(PROGRESS_BAR.search(text) for text in output_texts(output))


def clean_output_problems(nb) -> list[str]:
    problems = []
    for i, cell in enumerate(nb.cells):
        outputs = cell.get("outputs", [])
        for out in outputs:
            where = f"cell {i} ({out.output_type})"
            if out.output_type == "error":
                problems.append(f"{where}: an error output ({out.get('ename')})")
            if out.output_type == "stream" and out.name == "stderr" and out.text.strip():
                problems.append(f"{where}: writes to stderr: {out.text.strip()[:80]!r}")
            for text in output_texts(out):
                for rule, pattern in (("a local path", LOCAL_PATH), ("a network error", NETWORK_ERROR),
                                      ("a traceback", TRACEBACK)):
                    if match := pattern.search(text):
                        context = text[max(0, match.start() - 30) : match.end() + 30]
                        problems.append(f"{where}: shows {rule}: ...{context!r}...")
                if out.output_type == "stream" and "\r" in text:
                    problems.append(f"{where}: carriage returns (a progress bar redrawn in the text)")
        bars = [out for out in outputs if is_progress_bar(out)]
        logs = [out for out in outputs if out.output_type == "stream" and not is_progress_bar(out) and out.text.strip()]
        if bars and logs:
            problems.append(f"cell {i}: a progress bar and log lines in one cell (pass progress=False when logging)")
        if any(out.output_type == "stream" for out in bars):
            problems.append(f"cell {i}: a text progress bar (they interleave with other output)")
    return problems


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_clean(path):
    assert clean_output_problems(nbformat.read(path, as_version=4)) == []


# ------------------------------------------------------------------------------------ the rules can fail
def notebook_with(*outputs):
    cell = nbformat.v4.new_code_cell("pass")
    cell.outputs = list(outputs)
    return nbformat.v4.new_notebook(cells=[cell])


def stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def display(text):
    return nbformat.v4.new_output("display_data", data={"text/plain": text})


@pytest.mark.parametrize("output, finding", [
    (stream("resuming /tmp/nanogpt_05_8sxyf__6/resumed at step 100\n"), "a local path"),
    (stream("saved to /home/ana/runs/x\n"), "a local path"),
    (display("PosixPath('/work/main/runs/07')"), "a local path"),
    (stream("(ConnectionError: HTTPSConnectionPool(host='openaipublic.blob.core.windows.net')\n"), "a network error"),
    (stream("Traceback (most recent call last):\n  File ...\n"), "a traceback"),
    (nbformat.v4.new_output("error", ename="ValueError", evalue="x", traceback=[]), "an error output"),
    (stream("UserWarning: something\n", name="stderr"), "stderr"),
    (stream(" 10%|█         | 60/600 [00:10<01:30]\r 20%|██        | 120/600\n"), "carriage returns"),
])
def test_rule_findings(output, finding):
    problems = clean_output_problems(notebook_with(output))
    assert any(finding in p for p in problems), problems


def test_rule_progress_bar_with_logs():
    bar = display("100%|██████████| 600/600 [04:02<00:00,  2.91step/s, loss=1.9482]")
    assert clean_output_problems(notebook_with(bar)) == []
    assert any("progress bar and log lines" in p
               for p in clean_output_problems(notebook_with(bar, stream("[100/600] loss=2.5487 time=33.5s\n"))))


def test_rule_clean_outputs_pass():
    ok = notebook_with(stream("run folder: runs/05_training_at_scale/ddp\n"), display("~/.cache is fine as advice"))
    assert clean_output_problems(ok) == []
