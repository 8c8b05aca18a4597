"""notebooks/build.py tidies the widget outputs of an executed notebook: a progress bar becomes the text of its
last state, any other widget keeps only what a saved notebook can show (the library's controls: a picture)."""

import importlib.util
from pathlib import Path

import nbformat
import pytest
import torch

from nanogpt_lib import GPT, CharTokenizer, GPTConfig

ipywidgets = pytest.importorskip("ipywidgets")
from tqdm.notebook import tqdm  # noqa: E402 (needs ipywidgets)

from nanogpt_lib.plot.widgets import attention_explorer  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
VIEW = "application/vnd.jupyter.widget-view+json"
spec = importlib.util.spec_from_file_location("notebook_build", ROOT / "notebooks" / "build.py")
build = importlib.util.module_from_spec(spec)
spec.loader.exec_module(build)


def executed(*displayed) -> nbformat.NotebookNode:
    """A notebook whose one cell displayed these widgets (or objects with a MIME bundle), with the widget state
    saved in its metadata as nbclient saves it."""
    state = {}

    def save(widget) -> None:
        state[widget.model_id] = {"model_name": widget._model_name, "state": widget.get_state()}
        for child in getattr(widget, "children", ()):
            save(child)

    outputs = []
    for shown in displayed:
        if isinstance(shown, ipywidgets.Widget):
            save(shown)
            data = {VIEW: {"model_id": shown.model_id, "version_major": 2, "version_minor": 0}, "text/plain": "box"}
        else:
            save(shown.widget)
            data = shown._repr_mimebundle_()
        outputs.append(nbformat.v4.new_output("display_data", data=data))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=outputs)])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": state}}
    return nb


def progress_bar(done: int, total: int) -> ipywidgets.Widget:
    """tqdm's notebook bar (an HBox: description, FloatProgress, counts) after `done` of `total` steps."""
    bar = tqdm(total=total, desc="train", mininterval=0)
    bar.update(done)
    bar.close()
    return bar.container


def test_a_progress_bar_becomes_the_text_of_its_last_state():
    nb = executed(progress_bar(2, 4), progress_bar(4, 4))
    build.flatten_progress_widgets(nb)
    half, full = (output.data for output in nb.cells[0].outputs)
    assert list(half) == list(full) == ["text/plain"] and "widgets" not in nb.metadata
    assert half["text/plain"].startswith("train:  50%|█████     | 2/4 [")
    assert full["text/plain"].startswith("train: 100%|██████████| 4/4 [")


def test_any_other_widget_keeps_its_picture_whatever_its_number_of_parts():
    tokenizer = CharTokenizer.from_text("ROMEO:\nBut")
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tokenizer.vocab_size, block_size=16, n_layer=1, n_head=2, n_embd=8))
    explorer = attention_explorer(model, tokenizer, "ROMEO:\nBut")
    explorer.widget.children += (ipywidgets.HTML("a third part"),)  # three parts, like tqdm's box
    picture = explorer._repr_mimebundle_()["image/png"]
    three_texts = ipywidgets.HBox([ipywidgets.HTML("a"), ipywidgets.HTML("b"), ipywidgets.HTML("c")])
    nb = executed(explorer, three_texts)
    build.flatten_progress_widgets(nb)
    control, box = (output.data for output in nb.cells[0].outputs)
    assert VIEW not in control and control["image/png"] == picture
    assert box == {"text/plain": "box"}
