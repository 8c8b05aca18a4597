"""`nanogpt_lib.plot`: training curves, attention maps, and the one way pictures write a token.

The diagrams and the widgets have their own files (test_diagrams.py, test_widgets.py).
"""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from nanogpt_lib import GPT, GPTConfig, History
from nanogpt_lib.interpret import capture
from nanogpt_lib.plot import attention_figure, attention_heads_figure, plot_attention, plot_seed_bands, show_token


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def ticks(ax) -> list[str]:
    return [t.get_text() for t in ax.get_xticklabels()]


def test_show_token():
    assert show_token("\n") == "⏎" and show_token(" the") == "␣the" and show_token("\t") == "⇥"
    assert show_token("\x07") == "\\x07" and show_token("") == "∅"
    assert show_token(b" to\n") == "␣to⏎" and show_token(b"\xe2\x80") == "�"  # a BPE token's bytes


def test_seed_bands_span_the_seeds_and_show_every_final_loss():
    def run(level: float, final: float) -> History:
        return History(step=list(range(10)), train_loss=[level] * 10, eval_step=[10], eval_train_loss=[final],
                       eval_val_loss=[final])

    fig = plot_seed_bands({"a": [run(1.0, 2.0), run(3.0, 4.0), run(2.0, 3.0)], "b": [run(5.0, 6.0)] * 3}, smooth=1)
    ax, ax_val = fig.axes
    assert [line.get_label() for line in ax.lines] == ["a (3 seeds)", "b (3 seeds)"]
    np.testing.assert_allclose(ax.lines[0].get_ydata(), 2.0)  # the mean of the seeds
    band = ax.collections[0].get_paths()[0].vertices[:, 1]
    assert band.min() == 1.0 and band.max() == 3.0  # from the lowest to the highest seed
    dots = [c for c in ax_val.collections if c.get_offsets().shape[0] == 3]
    assert sorted(dots[0].get_offsets()[:, 1]) == [2.0, 3.0, 4.0]
    assert [t.get_text() for t in ax_val.get_xticklabels()] == ["a", "b"]


def test_plot_attention_draws_the_matrix_with_visible_tokens():
    weights = torch.softmax(torch.randn(4, 4).masked_fill(torch.ones(4, 4).triu(1).bool(), float("-inf")), -1)
    fig = plot_attention(weights, list("a b\n"), title="one head")
    ax = fig.axes[0]
    np.testing.assert_allclose(ax.images[0].get_array(), weights.numpy())
    assert ticks(ax) == ["a", "␣", "b", "⏎"] and ax.get_title() == "one head"


@pytest.fixture(scope="module")
def attention() -> list[torch.Tensor]:
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=3, n_embd=12)).eval()
    return capture(model, torch.randint(0, 11, (1, 6))).attention


def test_every_head_of_a_layer_is_one_map(attention):
    tokens = list("ROMEO\n")
    fig = attention_heads_figure(attention[1][0], tokens, layer=1)
    maps = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in maps] == ["layer 1, head 0", "layer 1, head 1", "layer 1, head 2"]
    for h, ax in enumerate(maps):
        np.testing.assert_allclose(ax.images[0].get_array(), attention[1][0, h].numpy())
        assert ticks(ax) == ["R", "O", "M", "E", "O", "⏎"]


def test_explorer_picture_shows_one_head_and_the_row_of_one_query(attention):
    fig = attention_figure(attention, list("ROMEO\n"), layer=1, head=2, position=3)
    heat, bars = fig.axes[:2]  # the map and the row (then the colour bar)
    assert heat.get_title() == "layer 1, head 2"
    np.testing.assert_allclose(heat.images[0].get_array(), attention[1][0, 2].numpy())
    np.testing.assert_allclose([p.get_height() for p in bars.patches], attention[1][0, 2, 3, :4].numpy())
    assert bars.get_title().startswith("position 3 ('E') reads:")
