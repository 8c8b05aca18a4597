"""The figures of notebooks 04-07 in `nanogpt_lib.diagrams`: each draws what its notebook says it shows."""

import matplotlib.pyplot as plt
import numpy as np
import pytest

from nanogpt_lib import diagrams
from nanogpt_lib.evaluate import window_starts
from nanogpt_lib.tokenizers import BPETokenizer


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts + [ax.title]]


def filled(ax, color: str) -> int:
    rgba = plt.matplotlib.colors.to_rgba(color)
    return sum(1 for p in ax.patches if np.allclose(p.get_facecolor(), rgba))


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
        assert filled(ax, diagrams.TARGET) == n - 1  # every token but the first is a target exactly once
        assert ax.get_title().startswith(f"block size {block}, stride {s}: {len(window)} windows")
