"""The explanatory figures of `nanogpt_lib.plot.diagrams`: each draws what its notebook says it shows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from nanogpt_lib.evaluate import window_starts
from nanogpt_lib.plot import diagrams
from nanogpt_lib.tokenizers import BPETokenizer


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    """Every piece of text on the figure: cell contents, labels and titles."""
    return [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title, ax.xaxis.label, ax.yaxis.label]]


def filled(axes, color: str) -> int:
    """How many patches of `axes` (a list: `fig.axes`, `[ax]`) are filled with `color`."""
    rgba = plt.matplotlib.colors.to_rgba(color)
    return sum(1 for ax in axes for p in ax.patches if np.allclose(p.get_facecolor(), rgba))


def test_all_names_every_figure():
    figures = [name for name, value in vars(diagrams).items()
               if callable(value) and not name.startswith("_") and value.__module__ == diagrams.__name__]
    assert sorted(diagrams.__all__) == sorted(figures)


def test_batch_windows_marks_one_context_and_its_target():
    xs, ys = ["abcd", "efgh"], ["bcde", "fghi"]
    fig = diagrams.batch_windows(xs, ys, row=1, t=2)
    words = texts(fig)
    assert "x: inputs, shape (B, T) = (2, 4)" in words
    assert any("target y[1, 2] = 'h'" in w and "'efg'" in w for w in words)
    assert filled(fig.axes, diagrams.CONTEXT) == 3 and filled(fig.axes, diagrams.TARGET) == 1
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
    assert filled(fig.axes, diagrams.TARGET) == 1 + 4 + 4
    with pytest.raises(ValueError):
        diagrams.one_hot_lookup(weight, 3, ["a", "b", "c"])


def test_bigram_table_shows_only_the_chosen_characters():
    chars = ["\n", " ", "a", "b", "c"]
    probs = torch.softmax(torch.randn(5, 5), dim=-1)
    fig = diagrams.bigram_table(probs, chars, "\n ab")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["⏎", "␣", "a", "b"]  # as `show_token` writes them
    np.testing.assert_allclose(ax.images[0].get_array(), probs[:4, :4].numpy(), rtol=1e-6)
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
    counts = [filled([ax], diagrams.CONTEXT) for ax in fig.axes]
    assert counts == [16, 10, 24]  # all pairs, the lower triangle with its diagonal, every (target, source) pair


def test_gpt_architecture_labels_every_shape_and_the_tied_matrix():
    words = "\n".join(texts(diagrams.gpt_architecture(B=8, T=16, vocab_size=65, n_layer=3, n_head=4, n_embd=32)))
    for label in ["(8, 16)", "(8, 16, 32)", "(16, 32)", "logits (8, 16, 65)", "3 × Block", "4 heads × (8, 16, 8)",
                  "hidden (8, 16, 128)", "wte = Wₑ: (65, 32)", "qkv (32, 96)", "tied: the head reuses Wₑ"]:
        assert label in words, label


def test_training_step_shows_every_micro_batch_of_every_rank():
    fig = diagrams.training_step(world_size=3, accum_steps=2)
    words = texts(fig)
    assert sum(w.startswith("micro\n") for w in words) == 3 * 2
    assert [w for w in words if w.startswith("rank ")] == [f"rank {r}: sampler (seed + {r})" for r in range(3)]
    assert "all-reduce: every rank gets the mean of the 3 gradients" in words
    assert words.count("grad += ∇(loss / 2)") == 3
    assert "one process: no all-reduce" in texts(diagrams.training_step(world_size=1, accum_steps=1))
    with pytest.raises(ValueError):
        diagrams.training_step(world_size=0)


def test_bpe_merge_tree_builds_each_token_from_its_bytes():
    tok = BPETokenizer.train("the cat sat on the mat; then the rat ate that hat " * 5, 290)
    tokens = sorted(range(256, len(tok.vocab)), key=lambda t: len(tok.vocab[t]))[-2:]  # the two longest
    fig = diagrams.bpe_merge_tree(tok.merges, tok.vocab, tokens)
    assert len(fig.axes) == 2
    for ax, token in zip(fig.axes, tokens):
        nodes = [t.get_text() for t in ax.texts if t.get_bbox_patch() is not None]
        ids = [int(t.get_text()) for t in ax.texts if t.get_bbox_patch() is None]
        leaves = [i for i in ids if i < 256]
        assert b"".join(tok.vocab[i] for i in leaves) == tok.vocab[token]  # the bytes, left to right
        assert len(nodes) == len(ids) == 2 * len(leaves) - 1  # a binary tree
        assert max(ids) == token and ax.get_title().endswith(f"= token {token}")
    with pytest.raises(ValueError):
        diagrams.bpe_merge_tree(tok.merges, tok.vocab, [len(tok.vocab)])


@pytest.mark.parametrize("stride", [8, 5, 3, 1])
def test_sliding_windows_score_every_target_once(stride):
    n, block = 23, 8
    starts = {block: window_starts(n, block, block), stride: window_starts(n, block, stride)}
    fig = diagrams.sliding_windows(n, block, starts)
    for ax, (s, window) in zip(fig.axes, starts.items()):
        assert filled([ax], diagrams.TARGET) == n - 1  # every token but the first is a target exactly once
        assert ax.get_title().startswith(f"block size {block}, stride {s}: {len(window)} windows")
