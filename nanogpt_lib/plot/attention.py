"""Attention maps. `plot_attention` draws one (T, T) matrix on an axis; the figures below are made of it.

The matrices are what `interpret.capture(model, idx).attention` holds: one (B, n_head, T, T) tensor per layer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .labels import show_token


def plot_attention(weights: torch.Tensor | np.ndarray, tokens: Sequence[str] | None = None,
                   title: str = "Attention", ax: Axes | None = None) -> Figure:
    """Heat map of a (T, T) attention matrix: row = query position, column = key position it reads.

    `tokens` label both axes (written by `show_token`); without `ax`, a new pyplot figure.
    """
    w = weights.detach().float().cpu().numpy() if isinstance(weights, torch.Tensor) else np.asarray(weights, float)
    if ax is None:
        _, ax = plt.subplots(figsize=(4.5, 4))
    im = ax.imshow(w, cmap="viridis", vmin=0.0)
    if tokens is not None:
        labels = [show_token(t) for t in tokens]
        ax.set_xticks(range(len(labels)), labels, fontsize=7, rotation=90)
        ax.set_yticks(range(len(labels)), labels, fontsize=7)
    ax.set(xlabel="key (attended to)", ylabel="query (attending)", title=title)
    ax.figure.colorbar(im, ax=ax, fraction=0.046)
    return ax.figure


def attention_heads_figure(weights: torch.Tensor, tokens: Sequence[str], layer: int = 0) -> Figure:
    """Every head of one layer, `weights` (n_head, T, T), two maps a row (the picture `nanogpt report` saves)."""
    n_head = weights.size(0)
    ncols = min(2, n_head)
    nrows = math.ceil(n_head / ncols)
    fig = Figure(figsize=(5.2 * ncols, 4.8 * nrows))
    for h, ax in enumerate(fig.subplots(nrows, ncols, squeeze=False).flat):
        if h < n_head:
            plot_attention(weights[h], tokens, title=f"layer {layer}, head {h}", ax=ax)
        else:
            ax.axis("off")
    fig.tight_layout()
    return fig


def attention_figure(attention: list[torch.Tensor], tokens: Sequence[str], layer: int = 0, head: int = 0,
                     position: int | None = None) -> Figure:
    """One head's pattern on a text, with the row of query `position` outlined, and that row as bars
    (the attention explorer's picture).

    `attention`: one (1, n_head, T, T) or (n_head, T, T) tensor per layer, as `interpret.capture` returns.
    """
    pattern = attention[layer].reshape(-1, *attention[layer].shape[-3:])[0, head].float().cpu()
    T = pattern.size(-1)
    position = T - 1 if position is None else position
    labels = [show_token(t) for t in tokens]
    fig = Figure(figsize=(11, 4.6))
    ax, ax_row = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1, 1.25]})
    plot_attention(pattern, tokens, title=f"layer {layer}, head {head}", ax=ax)
    ax.add_patch(Rectangle((-0.5, position - 0.5), position + 1, 1, fill=False, edgecolor="tab:red", lw=1.5))
    row = pattern[position, : position + 1].numpy()
    ax_row.bar(np.arange(position + 1), row, color="tab:red")
    ax_row.set_xticks(np.arange(position + 1), labels[: position + 1], fontsize=7)
    ax_row.set_xlim(-0.5, T - 0.5)
    best = row.argsort()[::-1][:3]
    reads = ", ".join(f"{labels[s]!r}@{s} {row[s]:.2f}" for s in best)
    ax_row.set(ylim=(0, 1), ylabel="attention", title=f"position {position} ({labels[position]!r}) reads: {reads}")
    ax_row.title.set_fontsize(9)
    ax_row.grid(alpha=0.3, axis="y")
    fig.subplots_adjust(left=0.05, right=0.98, top=0.92, bottom=0.14, wspace=0.3)
    return fig
