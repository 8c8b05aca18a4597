"""Explanatory figures for the notebooks: pictures of an idea, drawn with matplotlib so they can be changed.

Each function draws one figure and returns it, closed: a notebook shows it once, as the value of the cell
(`diagrams.causal_mask(scores)` on a cell's last line), and a script saves it with `fig.savefig(...)`.
They take the numbers to show as arguments (a batch, a score matrix, tensor sizes), so a figure always
matches the code next to it. Measurements (loss curves, attention maps) are drawn by the other modules of
`nanogpt_lib.plot`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Rectangle
from numpy.typing import ArrayLike

from .labels import show_token

__all__ = ["attention_flow", "attention_masks", "batch_windows", "bigram_table", "bpe_merge_tree", "causal_mask",
           "chat_pipeline", "gpt_architecture", "grpo_group", "loss_mask", "one_hot_lookup", "sliding_windows",
           "training_step", "transformer_block"]

# Colours shared by the figures: context, target, masked.
CONTEXT, TARGET, MASKED, NEUTRAL = "#9ecae1", "#fdae6b", "#d9d9d9", "#f7f7f7"


# ------------------------------------------------------------------------------------------------ helpers
def _array(values: ArrayLike) -> np.ndarray:
    """A NumPy array from a tensor (any device, with or without grad), an array or nested lists."""
    if hasattr(values, "detach"):
        values = values.detach().cpu().numpy()
    return np.asarray(values, dtype=float)


def _cell(ax, x: float, y: float, text: str, color: str = NEUTRAL, size: float = 1.0, fontsize: int = 10):
    """A square cell with its lower-left corner at (x, y) and `text` in the middle."""
    ax.add_patch(Rectangle((x, y), size, size, facecolor=color, edgecolor="#636363", lw=0.8))
    ax.text(x + size / 2, y + size / 2, text, ha="center", va="center", fontsize=fontsize, family="monospace")


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str = NEUTRAL, fontsize: int = 9):
    """A rounded box centred on (x, y) with `text` inside."""
    ax.add_patch(FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor="#404040", lw=1.0))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start: tuple[float, float], end: tuple[float, float], text: str = "", color: str = "#404040",
           lw: float = 1.2, fontsize: int = 8, connectionstyle: str = "arc3"):
    """An arrow from `start` to `end`, with an optional label beside its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color, lw=lw,
                                 shrinkA=0, shrinkB=0, connectionstyle=connectionstyle))
    if text:
        ax.text((start[0] + end[0]) / 2 + 0.08, (start[1] + end[1]) / 2, text, fontsize=fontsize, va="center",
                color=color)


def _finish(fig: Figure) -> Figure:
    """Lay out `fig` and detach it from pyplot, so a notebook shows it once: as the cell's returned value."""
    fig.tight_layout()
    plt.close(fig)
    return fig


def _blank(ax, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    """An axis used as a drawing canvas: fixed limits, equal aspect, no ticks or frame."""
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")


# ---------------------------------------------------------------------------------- 00: batches of windows
def batch_windows(xs: Sequence[str], ys: Sequence[str], row: int = 0, t: int = 3) -> Figure:
    """A batch as two (B, T) grids of characters, inputs `xs` and targets `ys` (one string per row).

    Row `row` of x is coloured up to position `t` (a context) and y[row, t] (its target), to show that
    y[b, t] is the character that follows x[b, :t+1]; y is x shifted left by one.
    """
    B, T = len(xs), len(xs[0])
    if len(ys) != B or any(len(s) != T for s in list(xs) + list(ys)):
        raise ValueError("xs and ys must be B strings of the same length T")
    if not (0 <= row < B and 0 <= t < T):
        raise ValueError(f"row must be in [0, {B}) and t in [0, {T})")
    fig, ax = plt.subplots(figsize=(max(7.0, 1.0 * (2 * T + 3) * 0.55), 0.55 * (B + 3.2)))
    gap = 2.0
    for b in range(B):
        y0 = B - 1 - b
        for i in range(T):
            ctx = b == row and i <= t
            _cell(ax, i, y0, show_token(xs[b][i]), CONTEXT if ctx else NEUTRAL)
            _cell(ax, T + gap + i, y0, show_token(ys[b][i]), TARGET if (b == row and i == t) else NEUTRAL)
        ax.text(-0.3, y0 + 0.5, f"b={b}", ha="right", va="center", fontsize=9)
    for i in range(T):
        ax.text(i + 0.5, B + 0.25, str(i), ha="center", fontsize=8, color="#636363")
        ax.text(T + gap + i + 0.5, B + 0.25, str(i), ha="center", fontsize=8, color="#636363")
    ax.text(T / 2, B + 0.9, f"x: inputs, shape (B, T) = ({B}, {T})", ha="center", fontsize=10, weight="bold")
    ax.text(T + gap + T / 2, B + 0.9, f"y: targets, shape ({B}, {T})", ha="center", fontsize=10, weight="bold")
    y_row = B - 1 - row + 0.5
    _arrow(ax, (t + 1.0, y_row), (T + gap + t, y_row), connectionstyle="arc3,rad=-0.25", color="#d94801")
    context = "".join(xs[row][: t + 1])
    ax.text(T + gap / 2, -0.7,
            f"context x[{row}, :{t + 1}] = {context!r}  →  target y[{row}, {t}] = {ys[row][t]!r}"
            "   (y is x shifted left by one)", ha="center", fontsize=9)
    _blank(ax, (-1.3, 2 * T + gap + 0.3), (-1.2, B + 1.3))
    return _finish(fig)


# -------------------------------------------------------------------------------- 01: embeddings, bigrams
def one_hot_lookup(weight: ArrayLike, index: int, labels: Sequence[str]) -> Figure:
    """one_hot(index) @ weight = weight[index]: an embedding lookup is a matrix product that picks a row.

    `weight` is a small (V, D) matrix and `labels` names its V rows (the vocabulary).
    """
    W = _array(weight)
    V, D = W.shape
    if len(labels) != V or not 0 <= index < V:
        raise ValueError(f"need {V} labels and 0 <= index < {V}")
    fig, ax = plt.subplots(figsize=(0.55 * (V + 2 * D + 5), 0.55 * (V + 2.5)))
    top, y_vec = V - 1, (V - 1) / 2  # matrix row 0 is drawn at the top; the vectors sit at mid-height
    for v in range(V):  # the one-hot row vector (1, V): a 1 at the character's id
        hot = v == index
        _cell(ax, v, y_vec, "1" if hot else "0", TARGET if hot else NEUTRAL)
        ax.text(v + 0.5, y_vec + 1.15, show_token(labels[v]), ha="center", fontsize=9, family="monospace")
    ax.text(V / 2, y_vec - 0.6, f"one_hot({show_token(labels[index])}): (1, {V})", ha="center", fontsize=9)
    ax.text(V + 0.6, y_vec + 0.5, "@", ha="center", va="center", fontsize=15)
    x0 = V + 1.2
    for v in range(V):
        ax.text(x0 - 0.15, top - v + 0.5, show_token(labels[v]), ha="right", va="center", fontsize=9,
                family="monospace")
        for d in range(D):
            _cell(ax, x0 + d, top - v, f"{W[v, d]:.1f}", TARGET if v == index else NEUTRAL, fontsize=8)
    ax.text(x0 + D / 2, V + 0.2, f"weight: ({V}, {D})", ha="center", fontsize=9)
    ax.text(x0 + D + 0.6, y_vec + 0.5, "=", ha="center", va="center", fontsize=15)
    x1 = x0 + D + 1.2
    for d in range(D):
        _cell(ax, x1 + d, y_vec, f"{W[index, d]:.1f}", TARGET, fontsize=8)
    ax.text(x1 + D / 2, y_vec - 0.6, f"weight[{index}]: (1, {D})", ha="center", fontsize=9)
    _blank(ax, (-0.3, x1 + D + 0.3), (-0.3, V + 0.7))
    return _finish(fig)


def bigram_table(probs: ArrayLike, chars: Sequence[str], show: str, title: str = "P(next | current)") -> Figure:
    """Heat map of the bigram probabilities `probs` (V, V), restricted to the characters in `show`.

    Row = current character, column = next character; `chars[i]` is the character of id i.
    """
    P = _array(probs)
    ids = [list(chars).index(c) for c in show]
    sub = P[np.ix_(ids, ids)]
    n = len(ids)
    fig, ax = plt.subplots(figsize=(0.32 * n + 2.2, 0.32 * n + 1.2))
    im = ax.imshow(sub, cmap="Blues", vmin=0.0)
    names = [show_token(c) for c in show]
    ax.set_xticks(range(n), names, fontsize=8, family="monospace")
    ax.set_yticks(range(n), names, fontsize=8, family="monospace")
    ax.set(xlabel="next character", ylabel="current character", title=title)
    fig.colorbar(im, ax=ax, fraction=0.046, label="probability")
    return _finish(fig)


# ------------------------------------------------------------------------------------- 02: attention
def causal_mask(scores: ArrayLike) -> Figure:
    """Three steps of masked attention on a (T, T) score matrix: the scores, the future set to −∞, softmax."""
    S = _array(scores)
    T = S.shape[0]
    if S.shape != (T, T):
        raise ValueError(f"scores must be square, got {S.shape}")
    future = np.triu(np.ones((T, T), dtype=bool), k=1)
    masked = np.where(future, -np.inf, S)
    weights = np.exp(masked - masked.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    fig, axes = plt.subplots(1, 3, figsize=(3.3 * 3, 3.6))
    panels = [("scores  q·k / √d", S, lambda r, c: f"{S[r, c]:.1f}", lambda r, c: NEUTRAL),
              ("future (s > t) set to −∞", masked,
               lambda r, c: "−∞" if future[r, c] else f"{S[r, c]:.1f}",
               lambda r, c: MASKED if future[r, c] else NEUTRAL),
              ("softmax per row: weights", weights, lambda r, c: f"{weights[r, c]:.2f}",
               lambda r, c: MASKED if future[r, c] else CONTEXT)]
    for ax, (title, _, text, color) in zip(axes, panels):
        for r in range(T):
            for c in range(T):
                _cell(ax, c, T - 1 - r, text(r, c), color(r, c), fontsize=8)
        for i in range(T):
            ax.text(i + 0.5, T + 0.15, str(i), ha="center", fontsize=7, color="#636363")
            ax.text(-0.15, T - 1 - i + 0.5, str(i), ha="right", va="center", fontsize=7, color="#636363")
        ax.set_title(title, fontsize=10)
        ax.text(T / 2, -0.5, "key position s", ha="center", fontsize=8)
        ax.text(-0.8, T / 2, "query position t", rotation=90, ha="center", va="center", fontsize=8)
        _blank(ax, (-1.1, T + 0.1), (-0.8, T + 0.6))
    return _finish(fig)


def attention_flow(B: int, T: int, C: int, head_size: int) -> Figure:
    """The data flow of one causal attention head, with the shape of every tensor."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    y_mid, x_in = 2.0, 0.8
    _box(ax, x_in, y_mid, 1.3, 0.8, f"x\n({B}, {T}, {C})", CONTEXT)
    rows = {"q": 3.3, "k": 2.0, "v": 0.7}
    for name, y in rows.items():
        _arrow(ax, (x_in + 0.65, y_mid), (2.6, y), "")
        _box(ax, 3.3, y, 1.4, 0.75, f"{name} = x W_{name}\n({B}, {T}, {head_size})", NEUTRAL)
    ax.text(2.0, 3.75, f"3 × Linear({C}, {head_size})", fontsize=8, ha="center")
    _arrow(ax, (4.0, rows["q"]), (5.2, 2.75))
    _arrow(ax, (4.0, rows["k"]), (5.2, 2.55))
    _box(ax, 6.0, 2.65, 1.6, 0.8, f"q kᵀ / √{head_size}\n({B}, {T}, {T})", NEUTRAL)
    _arrow(ax, (6.8, 2.65), (7.4, 2.65))
    _box(ax, 8.2, 2.65, 1.6, 0.8, f"mask future → −∞\nsoftmax rows\n({B}, {T}, {T})", TARGET)
    _arrow(ax, (8.9, 2.25), (9.95, 1.8))
    _arrow(ax, (4.0, rows["v"]), (9.55, 1.2))
    _box(ax, 10.2, 1.4, 1.3, 0.8, f"weights @ v\n({B}, {T}, {head_size})", CONTEXT)
    ax.text(6.0, 0.25, "every query row t mixes the values of positions s ≤ t", fontsize=9, ha="center",
            style="italic")
    _blank(ax, (0, 11.0), (0, 4.0))
    return _finish(fig)


# ------------------------------------------------------------------------------------------ 03: blocks
def _block_panel(ax, kind: str) -> None:
    """One Transformer block with its residual stream, `kind` "pre" (GPT-2) or "post" (2017) LayerNorm."""
    xs, xb = 1.0, 2.7  # the residual stream runs up x = xs; the sub-layers sit on a branch at x = xb
    ax.add_patch(FancyArrowPatch((xs, 0.0), (xs, 7.7), arrowstyle="-|>", mutation_scale=14, color="#3182bd",
                                 lw=3.0, shrinkA=0, shrinkB=0, zorder=1))
    ax.text(xs, -0.2, "x  (B, T, C)", ha="center", va="top", fontsize=9)
    ax.text(xs - 0.25, 1.6, "residual stream", rotation=90, ha="right", va="center", fontsize=9, color="#3182bd")
    for y0, label in ((0.5, "causal\nself-attention"), (3.9, "MLP\n(4C, GELU)")):
        if kind == "pre":
            _arrow(ax, (xs, y0), (xb - 0.58, y0 + 0.6), connectionstyle="arc3,rad=-0.25")
            _box(ax, xb, y0 + 0.6, 1.15, 0.45, "LayerNorm", TARGET, fontsize=8)
            _arrow(ax, (xb, y0 + 0.83), (xb, y0 + 1.45))
            _box(ax, xb, y0 + 1.85, 1.4, 0.8, label, CONTEXT, fontsize=8)
            y_plus = y0 + 2.9
        else:
            _arrow(ax, (xs, y0), (xb - 0.7, y0 + 1.0), connectionstyle="arc3,rad=-0.25")
            _box(ax, xb, y0 + 1.0, 1.4, 0.8, label, CONTEXT, fontsize=8)
            y_plus = y0 + 2.0
            _box(ax, xs, y0 + 2.65, 1.15, 0.45, "LayerNorm", TARGET, fontsize=8)
        top = y0 + 2.25 if kind == "pre" else y0 + 1.4
        _arrow(ax, (xb, top), (xs + 0.17, y_plus), connectionstyle="arc3,rad=0.3")
        ax.add_patch(plt.Circle((xs, y_plus), 0.17, facecolor="white", edgecolor="#404040", zorder=3))
        ax.text(xs, y_plus, "+", ha="center", va="center", fontsize=11, zorder=4)
    ax.text(xs, 7.85, "to the next block", ha="center", va="bottom", fontsize=9)
    title = "pre-LN (GPT-2): x + f(LN(x))" if kind == "pre" else "post-LN (2017): LN(x + f(x))"
    ax.set_title(title, fontsize=10)
    _blank(ax, (-0.6, 3.8), (-0.7, 8.4))


def transformer_block(kinds: Sequence[str] = ("pre",)) -> Figure:
    """A Transformer block drawn around its residual stream, once per entry of `kinds` ("pre", "post")."""
    for kind in kinds:
        if kind not in ("pre", "post"):
            raise ValueError(f"kind must be 'pre' or 'post', got {kind!r}")
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.4 * len(kinds), 5.6), squeeze=False)
    for ax, kind in zip(axes[0], kinds):
        _block_panel(ax, kind)
    return _finish(fig)


def attention_masks(T: int = 5, T_source: int = 7) -> Figure:
    """Which position may read which: encoder self-attention, decoder (causal) self-attention, cross-attention.

    Each panel is a grid of (query, key) pairs; a coloured cell means the query may attend to that key.
    """
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.9), gridspec_kw={"width_ratios": [T + 1, T + 1, T_source + 1]})
    panels = [("encoder self-attention\n(every token sees all)", np.ones((T, T)), "key: same sequence"),
              ("decoder self-attention\n(causal: only the past)", np.tril(np.ones((T, T))), "key: same sequence"),
              ("cross-attention\n(decoder reads the encoder)", np.ones((T, T_source)), "key: source sequence")]
    for ax, (title, allowed, xlabel) in zip(axes, panels):
        rows, cols = allowed.shape
        for r in range(rows):
            for c in range(cols):
                _cell(ax, c, rows - 1 - r, "", CONTEXT if allowed[r, c] else MASKED)
        ax.set_title(title, fontsize=10)
        ax.text(cols / 2, -0.5, xlabel, ha="center", fontsize=9)
        ax.text(-0.4, rows / 2, "query", rotation=90, ha="center", va="center", fontsize=9)
        _blank(ax, (-0.8, cols + 0.1), (-0.9, rows + 0.1))
    return _finish(fig)


# ------------------------------------------------------------------------------------------- 04: the GPT
def gpt_architecture(B: int, T: int, vocab_size: int, n_layer: int, n_head: int, n_embd: int) -> Figure:
    """The whole GPT from token ids to loss, with the shape of every tensor and the tied embedding matrix."""
    C, V, hs = n_embd, vocab_size, n_embd // n_head
    fig, ax = plt.subplots(figsize=(10, 8.4))
    x = 3.2  # the main column
    steps = [  # (y, text, colour): from the ids at the bottom to the loss at the top
        (0.6, f"idx: token ids\n({B}, {T})", CONTEXT),
        (2.1, f"wte(idx) + wpe(0..{T - 1})\n({B}, {T}, {C}) + ({T}, {C}) → ({B}, {T}, {C})", NEUTRAL),
        (5.2, "", NEUTRAL),  # the blocks, drawn below
        (8.2, f"ln_f: LayerNorm\n({B}, {T}, {C})", NEUTRAL),
        (9.6, f"lm_head: x Wₑᵀ\nlogits ({B}, {T}, {V})", NEUTRAL),
        (11.0, f"cross-entropy with targets ({B}, {T})\nloss: one number", TARGET),
    ]
    for (y0, *_), (y1, *_) in zip(steps, steps[1:]):
        _arrow(ax, (x, y0 + (1.2 if y0 == 5.2 else 0.45)), (x, y1 - (1.2 if y1 == 5.2 else 0.45)))
    for y, text, color in steps:
        if text:
            _box(ax, x, y, 4.4, 0.8, text, color, fontsize=9)
    # the stack of blocks, with one block opened up on the right
    ax.add_patch(FancyBboxPatch((x - 2.2, 4.0), 4.4, 2.4, boxstyle="round,pad=0.02,rounding_size=0.1",
                                facecolor="#eef4fa", edgecolor="#404040", lw=1.0))
    ax.text(x, 6.1, f"{n_layer} × Block   ({B}, {T}, {C}) → ({B}, {T}, {C})", ha="center", fontsize=9, weight="bold")
    _box(ax, x, 4.55, 3.9, 0.55, f"x + attn(LN(x)):  {n_head} heads × ({B}, {T}, {hs})", CONTEXT, fontsize=8.5)
    _box(ax, x, 5.3, 3.9, 0.55, f"x + mlp(LN(x)):  hidden ({B}, {T}, {4 * C})", CONTEXT, fontsize=8.5)
    # the parameters beside the flow
    px = 8.4
    _box(ax, px, 2.6, 2.6, 0.7, f"wte = Wₑ: ({V}, {C})", TARGET, fontsize=9)
    _box(ax, px, 1.6, 2.6, 0.7, f"wpe: ({T}, {C})", NEUTRAL, fontsize=9)
    _box(ax, px, 5.2, 3.0, 1.3, f"per block:\nqkv ({C}, {3 * C}), proj ({C}, {C})\n"
                                f"fc ({C}, {4 * C}), proj ({4 * C}, {C})\n2 LayerNorms", NEUTRAL, fontsize=8)
    _arrow(ax, (px - 1.3, 2.4), (x + 2.2, 2.1), color="#808080", lw=0.8)
    _arrow(ax, (px - 1.3, 1.6), (x + 2.2, 2.0), color="#808080", lw=0.8)
    _arrow(ax, (px - 1.5, 5.2), (x + 2.2, 5.2), color="#808080", lw=0.8)
    # weight tying: the head reads the embedding matrix (a path around the right of the parameters)
    edge = px + 1.8
    ax.plot([px + 1.3, edge, edge], [2.6, 2.6, 9.6], color="#d94801", lw=1.6)
    _arrow(ax, (edge, 9.6), (x + 2.2, 9.6), color="#d94801", lw=1.6)
    ax.text(px + 0.1, 9.95, "tied: the head reuses Wₑ", ha="center", fontsize=9, color="#d94801")
    _blank(ax, (0.6, 10.6), (0.0, 12.2))
    return _finish(fig)


# ------------------------------------------------------------------------------------------ 05: training
def training_step(world_size: int = 2, accum_steps: int = 4) -> Figure:
    """One optimizer step under data parallelism: each rank accumulates `accum_steps` micro-batches, the
    gradients are averaged across ranks (all-reduce), and every rank takes the same AdamW step."""
    if world_size < 1 or accum_steps < 1:
        raise ValueError("world_size and accum_steps must be at least 1")
    width = 3.4
    fig, ax = plt.subplots(figsize=(max(7.5, 2.0 + width * world_size), 6.6))
    for r in range(world_size):
        cx = 1.5 + width * r + width / 2
        _box(ax, cx, 7.4, width - 0.5, 0.6, f"rank {r}: sampler (seed + {r})", CONTEXT, fontsize=9)
        mw = (width - 0.6) / accum_steps
        for k in range(accum_steps):
            mx = cx - (width - 0.6) / 2 + mw * (k + 0.5)
            last = k == accum_steps - 1
            _box(ax, mx, 6.2, mw - 0.08, 0.9, f"micro\n{k + 1}", TARGET if last else NEUTRAL, fontsize=7.5)
            _arrow(ax, (mx, 7.1), (mx, 6.65), lw=0.8)
            _arrow(ax, (mx, 5.75), (mx, 5.05), lw=0.8)
        _box(ax, cx, 4.7, width - 0.5, 0.6, f"grad += ∇(loss / {accum_steps})", NEUTRAL, fontsize=9)
        _arrow(ax, (cx, 4.4), (cx, 3.75))
        _box(ax, cx, 1.6, width - 0.5, 0.6, "clip, AdamW step", NEUTRAL, fontsize=9)
        _arrow(ax, (cx, 2.85), (cx, 1.9))
        _box(ax, cx, 0.5, width - 0.5, 0.55, "weights: the same on every rank", CONTEXT, fontsize=8.5)
        _arrow(ax, (cx, 1.3), (cx, 0.78))
    left, right = 1.5 + 0.25, 1.5 + width * world_size - 0.25
    ax.add_patch(FancyBboxPatch((left, 2.85), right - left, 0.9, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor="#fde0c5", edgecolor="#404040", lw=1.0))
    reduce_text = (f"all-reduce: every rank gets the mean of the {world_size} gradients"
                   if world_size > 1 else "one process: no all-reduce")
    ax.text((left + right) / 2, 3.3, reduce_text, ha="center", va="center", fontsize=9)
    ax.text(0.2, 6.2, f"{accum_steps} micro-\nbatches;\nbackward\nsyncs only\nthe last", fontsize=8, va="center")
    _blank(ax, (0.0, 1.7 + width * world_size), (0.0, 7.9))
    return _finish(fig)


# ----------------------------------------------------------------------------------------------- 06: BPE
def bpe_merge_tree(merges: Sequence[tuple[int, int]], vocab: Sequence[bytes], token_ids: Sequence[int]) -> Figure:
    """How BPE built each token of `token_ids`: a binary tree from its bytes (leaves) up to the token.

    `merges[i]` is the pair merged into id 256 + i and `vocab[id]` its bytes (a `BPETokenizer`'s `merges`
    and `vocab`). Every node shows its text and its id; a higher node is a later merge.
    """
    if any(not 0 <= int(t) < len(vocab) for t in token_ids):
        raise ValueError(f"token ids must be in [0, {len(vocab)})")

    def height(t: int) -> int:
        return 0 if t < 256 else 1 + max(height(c) for c in merges[t - 256])

    def leaves(t: int) -> int:
        return 1 if t < 256 else sum(leaves(c) for c in merges[t - 256])

    widths = [leaves(int(t)) for t in token_ids]
    fig, axes = plt.subplots(1, len(token_ids), figsize=(max(4.0, 0.8 * sum(widths) + 1.2 * len(widths)),
                                                         0.9 * max(height(int(t)) for t in token_ids) + 2.0),
                             gridspec_kw={"width_ratios": widths}, squeeze=False)
    for ax, token in zip(axes[0], token_ids):
        token = int(token)
        slot = iter(range(leaves(token)))

        def draw(t: int, ax=ax, slot=slot, token=token) -> tuple[float, float]:
            """Draw the subtree of t in this token's panel; return the position of its node."""
            if t < 256:
                pos = (float(next(slot)), 0.0)
            else:
                children = [draw(c) for c in merges[t - 256]]
                pos = (sum(p[0] for p in children) / 2, float(height(t)))
                for cx, cy in children:
                    ax.plot([pos[0], cx], [pos[1] - 0.22, cy + 0.22], color="#808080", lw=1.0, zorder=1)
            color = NEUTRAL if t < 256 else (TARGET if t == token else CONTEXT)
            ax.text(pos[0], pos[1], show_token(vocab[t]), ha="center", va="center", fontsize=9,
                    family="monospace", zorder=2,
                    bbox={"boxstyle": "round,pad=0.25", "facecolor": color, "edgecolor": "#404040"})
            ax.text(pos[0], pos[1] - 0.38, str(t), ha="center", va="center", fontsize=7, color="#636363")
            return pos

        draw(token)
        ax.set_title(f"{show_token(vocab[token])!r} = token {token}", fontsize=10)
        _blank(ax, (-0.7, leaves(token) - 0.3), (-0.7, height(token) + 0.5))
        ax.set_aspect("auto")
    return _finish(fig)


# ------------------------------------------------------------------------------------ 07: sliding windows
def sliding_windows(n_tokens: int, block_size: int, starts: dict[int, Sequence[int]]) -> Figure:
    """Which tokens each evaluation window reads and which targets it scores, one panel per stride.

    `starts[stride]` are the first positions of the windows (`evaluate.window_starts(n_tokens, block_size,
    stride)`). A window reads tokens s..s+block_size-1 and predicts s+1..s+block_size; it scores only the
    targets no earlier window scored, so each target is counted once.
    """
    fig, axes = plt.subplots(len(starts), 1, figsize=(max(7.0, 0.42 * n_tokens + 1.8),
                                                      sum(0.42 * len(s) + 1.2 for s in starts.values())),
                             gridspec_kw={"height_ratios": [len(s) + 1.5 for s in starts.values()]}, squeeze=False)
    for ax, (stride, window_starts) in zip(axes[:, 0], starts.items()):
        scored_until = 0
        rows = len(window_starts)
        for k, s in enumerate(window_starts):
            y = rows - 1 - k
            for pos in range(s, s + block_size + 1):
                if pos >= n_tokens:
                    break
                scored = pos > s and pos > scored_until
                read = pos < s + block_size
                color = TARGET if scored else (CONTEXT if read else NEUTRAL)
                _cell(ax, pos, y, "", color, size=0.9)
            ax.text(-0.4, y + 0.45, f"window {k}", ha="right", va="center", fontsize=8)
            scored_until = s + block_size
        for pos in range(n_tokens):
            ax.text(pos + 0.45, rows + 0.2, str(pos), ha="center", fontsize=7, color="#636363")
        ax.set_title(f"block size {block_size}, stride {stride}: {rows} windows "
                     "(blue: read as context only, orange: the targets it scores)", fontsize=10)
        _blank(ax, (-2.6, n_tokens + 0.2), (-0.2, rows + 0.7))
    return _finish(fig)


# ------------------------------------------------------------------------------------------------ 10: chat
def chat_pipeline() -> Figure:
    """From a base GPT to a chat model: grow the vocabulary, supervised fine-tuning, reinforcement learning."""
    fig, ax = plt.subplots(figsize=(11, 2.6))
    stages = [
        ("base GPT\ncontinues Shakespeare", NEUTRAL, "pretraining\n(notebook 08)"),
        ("+ 3 chat tokens\n<|user|> <|assistant|> <|end|>\n(new rows: mean of the old)", CONTEXT, "grow_vocab"),
        ("SFT model\nimitates correct replies\n(loss on the assistant's tokens)", TARGET, "sft"),
        ("GRPO model\nreplies that score better\nthan their group, pushed up", "#a1d99b", "grpo + KL to SFT"),
    ]
    for i, (text, color, label) in enumerate(stages):
        x = 1.4 + 2.9 * i
        _box(ax, x, 1.0, 2.4, 1.15, text, color, fontsize=8.5)
        ax.text(x, 0.12, label, ha="center", va="center", fontsize=8, color="#636363", family="monospace")
        if i:
            _arrow(ax, (x - 2.9 + 1.2, 1.0), (x - 1.2, 1.0))
    _blank(ax, (0.0, 11.9), (-0.15, 1.75))
    return _finish(fig)


def loss_mask(reads: Sequence[str], targets: Sequence[str | None]) -> Figure:
    """Which positions of a conversation the SFT loss counts: position t reads `reads[t]` and is trained to
    predict `targets[t]` (None where the target is -1: no loss). Counted targets are coloured."""
    if len(reads) != len(targets):
        raise ValueError("reads and targets must have one entry per position")
    T = len(reads)
    short = {"<|user|>": "U", "<|assistant|>": "A", "<|end|>": "E"}
    fig, ax = plt.subplots(figsize=(max(7.0, 0.36 * T + 1.6), 1.9))
    for t, (r, y) in enumerate(zip(reads, targets)):
        _cell(ax, t, 1.0, short.get(r, show_token(r)), CONTEXT if r in short else NEUTRAL, fontsize=8)
        _cell(ax, t, 0.0, "·" if y is None else short.get(y, show_token(y)), MASKED if y is None else TARGET,
              fontsize=8)
    ax.text(-0.3, 1.5, "reads x", ha="right", va="center", fontsize=9)
    ax.text(-0.3, 0.5, "predicts y", ha="right", va="center", fontsize=9)
    counted = sum(y is not None for y in targets)
    ax.text(T / 2, -0.45, f"U, A, E: <|user|>, <|assistant|>, <|end|>.  Loss on {counted} of {T} positions "
            "(orange): the assistant's reply and its <|end|>; grey: target -1, ignored", ha="center", va="center",
            fontsize=8.5)
    _blank(ax, (-2.6, T + 0.2), (-0.8, 2.1))
    return _finish(fig)


def grpo_group(prompt: str, replies: Sequence[str], rewards: Sequence[float], advantages: Sequence[float]) -> Figure:
    """One GRPO group: G sampled replies to one prompt, each with its reward and its advantage, reward minus
    the group's mean (green: pushed up, red: pushed down, grey: zero, no push)."""
    if not len(replies) == len(rewards) == len(advantages):
        raise ValueError("one reward and one advantage per reply")
    G = len(replies)
    fig, ax = plt.subplots(figsize=(8.5, 0.42 * G + 1.3))
    mean = sum(rewards) / G
    ax.text(0.0, G + 0.35, f"user: {prompt}", fontsize=9, family="monospace", va="center", weight="bold")
    ax.text(7.1, G + 0.35, "reward", fontsize=8.5, ha="center", va="center")
    ax.text(8.5, G + 0.35, "advantage", fontsize=8.5, ha="center", va="center")
    for i, (reply, r, a) in enumerate(zip(replies, rewards, advantages)):
        y = G - 1 - i
        color = "#a1d99b" if a > 1e-9 else "#fc9272" if a < -1e-9 else MASKED
        ax.text(0.2, y + 0.5, f"reply {i + 1}: {reply!r}", fontsize=8.5, family="monospace", va="center")
        _cell(ax, 6.6, y + 0.05, f"{r:g}", NEUTRAL, size=0.9, fontsize=8)
        ax.add_patch(Rectangle((7.8, y + 0.05), 1.4, 0.9, facecolor=color, edgecolor="#636363", lw=0.8))
        ax.text(8.5, y + 0.5, f"{a:+.3f}", ha="center", va="center", fontsize=8, family="monospace")
    ax.text(4.6, -0.45, f"group mean reward {mean:.3f}; advantage = reward - mean", ha="center", fontsize=8.5)
    _blank(ax, (0.0, 9.4), (-0.8, G + 0.7))
    ax.set_aspect("auto")
    return _finish(fig)
