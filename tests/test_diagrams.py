"""The explanatory figures of `nanogpt_lib.diagrams`: each draws what its notebook says it shows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from nanogpt_lib import diagrams


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    """Every piece of text on the figure: cell contents, labels and titles."""
    return [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label]]


def filled(fig, color: str) -> int:
    """How many patches of the figure are filled with `color`."""
    rgba = plt.matplotlib.colors.to_rgba(color)
    return sum(1 for ax in fig.axes for p in ax.patches if np.allclose(p.get_facecolor(), rgba))


def test_batch_windows_marks_one_context_and_its_target():
    xs, ys = ["abcd", "efgh"], ["bcde", "fghi"]
    fig = diagrams.batch_windows(xs, ys, row=1, t=2)
    words = texts(fig)
    assert "x: inputs, shape (B, T) = (2, 4)" in words
    assert any("target y[1, 2] = 'h'" in w and "'efg'" in w for w in words)
    assert filled(fig, diagrams.CONTEXT) == 3 and filled(fig, diagrams.TARGET) == 1
    # every character of both grids is drawn
    assert sorted(w for w in words if len(w) == 1 and w.isalpha()) == sorted("abcdefgh" + "bcdefghi")
    with pytest.raises(ValueError):
        diagrams.batch_windows(["abc"], ["bcde"])


def test_one_hot_lookup_selects_the_row():
    weight = torch.arange(12.0).view(3, 4)
    fig = diagrams.one_hot_lookup(weight, 1, ["a", "b", "c"])
    words = texts(fig)
    assert words.count("1") == 1 and words.count("0") == 2  # the one-hot vector
    assert "weight[1]: (1, 4)" in words
    # the selected row appears twice (in the matrix and as the result), highlighted both times
    assert words.count("4.0") == words.count("7.0") == 2
    assert filled(fig, diagrams.TARGET) == 1 + 4 + 4
    with pytest.raises(ValueError):
        diagrams.one_hot_lookup(weight, 3, ["a", "b", "c"])


def test_bigram_table_shows_only_the_chosen_characters():
    chars = ["\n", " ", "a", "b", "c"]
    probs = torch.softmax(torch.randn(5, 5), dim=-1)
    fig = diagrams.bigram_table(probs, chars, " ab")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["␣", "a", "b"]
    np.testing.assert_allclose(ax.images[0].get_array(), probs[1:4, 1:4].numpy(), rtol=1e-6)
    assert ax.get_xlabel() == "next character" and ax.get_ylabel() == "current character"


def test_causal_mask_hides_the_future_and_rows_sum_to_one():
    scores = torch.randn(4, 4)
    fig = diagrams.causal_mask(scores)
    assert len(fig.axes) == 3
    masked = [t.get_text() for t in fig.axes[1].texts].count("−∞")
    assert masked == 4 * 3 // 2
    weights = np.array([float(t.get_text()) for t in fig.axes[2].texts if "." in t.get_text()]).reshape(4, 4)
    expected = torch.softmax(scores.masked_fill(torch.ones(4, 4).triu(1).bool(), float("-inf")), -1)
    np.testing.assert_allclose(weights, expected.numpy(), atol=0.006)
    with pytest.raises(ValueError):
        diagrams.causal_mask(torch.randn(3, 4))


def test_attention_flow_labels_every_shape():
    words = "\n".join(texts(diagrams.attention_flow(B=4, T=8, C=32, head_size=16)))
    for shape in ["(4, 8, 32)", "(4, 8, 16)", "(4, 8, 8)", "√16", "Linear(32, 16)"]:
        assert shape in words, shape
    assert words.count("(4, 8, 16)") == 4  # q, k, v and the output


def test_transformer_block_draws_each_kind():
    fig = diagrams.transformer_block(("pre", "post"))
    assert [ax.get_title() for ax in fig.axes] == ["pre-LN (GPT-2): x + f(LN(x))", "post-LN (2017): LN(x + f(x))"]
    for ax in fig.axes:
        words = [t.get_text() for t in ax.texts]
        assert words.count("LayerNorm") == 2 and words.count("+") == 2
        assert "residual stream" in words
    with pytest.raises(ValueError):
        diagrams.transformer_block(("sandwich",))


def test_attention_masks_allow_what_each_kind_of_attention_reads():
    fig = diagrams.attention_masks(T=4, T_source=6)
    counts = [sum(np.allclose(p.get_facecolor(), plt.matplotlib.colors.to_rgba(diagrams.CONTEXT))
                  for p in ax.patches) for ax in fig.axes]
    assert counts == [16, 10, 24]  # all pairs, the lower triangle with its diagonal, every (target, source) pair


def test_seed_bands_span_the_seeds_and_show_every_final_loss():
    from nanogpt_lib import History
    from nanogpt_lib.plot import plot_seed_bands

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
