"""Measurements of training: loss curves, learning-rate schedules, runs compared (over seeds too), a live loss curve."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from ..history import History


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Moving average, so per-step noise does not hide the trend."""
    values = np.asarray(values, dtype=float)
    if window <= 1 or len(values) < window:
        return values
    return np.convolve(values, np.ones(window) / window, mode="valid")


def _as_history(h: History | Mapping) -> History:
    return h if isinstance(h, History) else History.from_dict(dict(h))


def plot_losses(history: History | Mapping, title: str = "Training", smooth: int = 0) -> Figure:
    """Train loss per step (smoothed), train/val loss at each evaluation, and the learning rate."""
    h = _as_history(history)
    fig, (ax, ax_lr) = plt.subplots(1, 2, figsize=(11, 3.8), gridspec_kw={"width_ratios": [2.2, 1]})
    window = smooth or max(1, len(h.train_loss) // 50)
    if h.train_loss:
        steps = np.asarray(h.step[: len(h.train_loss)]) + 1
        ax.plot(steps, h.train_loss, color="tab:blue", alpha=0.25, lw=0.8, label="train (per step)")
        smoothed = _smooth(h.train_loss, window)
        ax.plot(steps[len(steps) - len(smoothed):], smoothed, color="tab:blue", lw=1.5,
                label=f"train (mean of {window})" if window > 1 else "train")
    if h.eval_step:
        ax.plot(h.eval_step, h.eval_train_loss, "o-", color="tab:green", ms=3, label="train (eval)")
        ax.plot(h.eval_step, h.eval_val_loss, "o-", color="tab:red", ms=3, label="val (eval)")
    ax.set(xlabel="step", ylabel="cross-entropy loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    plot_lr(h, ax=ax_lr)
    fig.tight_layout()
    return fig


def plot_lr(history: History | Mapping, ax: Axes | None = None) -> Figure:
    """The learning rate the schedule gave at every step."""
    h = _as_history(history)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3))
    ax.plot(np.asarray(h.step) + 1, h.lr, color="tab:purple")
    ax.set(xlabel="step", ylabel="learning rate", title="LR schedule")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    ax.grid(alpha=0.3)
    return ax.figure


def plot_runs(histories: Mapping[str, History | Mapping], title: str = "Comparison", val: bool = True) -> Figure:
    """Several runs on one chart: smoothed train loss (solid) and, if `val`, val loss at evals (dashed)."""
    fig, ax = plt.subplots(figsize=(8, 4))
    for i, (label, history) in enumerate(histories.items()):
        h, color = _as_history(history), f"C{i}"
        window = max(1, len(h.train_loss) // 50)
        smoothed = _smooth(h.train_loss, window)
        steps = np.arange(len(h.train_loss) - len(smoothed), len(h.train_loss)) + 1
        ax.plot(steps, smoothed, color=color, lw=1.5, label=f"{label} train")
        if val and h.eval_step:
            ax.plot(h.eval_step, h.eval_val_loss, "--o", color=color, ms=3, label=f"{label} val")
    ax.set(xlabel="step", ylabel="cross-entropy loss", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_seed_bands(runs: Mapping[str, Sequence[History | Mapping]], title: str = "Comparison over seeds",
                    smooth: int = 0) -> Figure:
    """Runs of several variants, each repeated with several seeds: is a difference larger than the noise?

    Left: the training loss of each variant (smoothed per seed), its mean over seeds as a line and the
    band from the lowest to the highest seed. Right: the final validation loss of every seed (dots) and
    their mean (bar), one column per variant.
    """
    fig, (ax, ax_val) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [1.7, 1]})
    for i, (label, histories) in enumerate(runs.items()):
        hs, color = [_as_history(h) for h in histories], f"C{i}"
        steps = min(len(h.train_loss) for h in hs)
        window = smooth or max(1, steps // 25)
        curves = np.stack([_smooth(h.train_loss[:steps], window) for h in hs])
        x = np.arange(steps - curves.shape[1], steps) + 1
        ax.fill_between(x, curves.min(axis=0), curves.max(axis=0), color=color, alpha=0.25, lw=0)
        ax.plot(x, curves.mean(axis=0), color=color, lw=1.5, label=f"{label} ({len(hs)} seeds)")
        finals = [h.eval_val_loss[-1] for h in hs]
        ax_val.scatter(np.full(len(finals), i), finals, color=color, s=18, zorder=3)
        ax_val.hlines(np.mean(finals), i - 0.3, i + 0.3, color=color, lw=2.5)
    ax.set(xlabel="step", ylabel="training loss (moving average)", title=title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax_val.set_xticks(range(len(runs)), list(runs), rotation=30, ha="right", fontsize=8)
    ax_val.set(ylabel="final validation loss", title="every seed (dots) and the mean (bar)")
    ax_val.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    return fig


class LiveLossPlot:
    """A training callback that redraws the loss curve in place in a notebook (and does nothing elsewhere).

    Use as `train(cfg, corpus, callbacks=(LiveLossPlot(),))` or call it yourself: `live(step, history)`.
    """

    def __init__(self, title: str = "Training (live)", every: int = 1) -> None:
        self.title, self.every, self._calls, self._handle = title, every, 0, None

    def __call__(self, step: int, history: History) -> None:
        self._calls += 1
        if self._calls % self.every:
            return
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:
            return
        if get_ipython() is None or not hasattr(get_ipython(), "kernel"):
            return  # plain Python or a terminal: the progress bar is enough
        fig = plot_losses(history, title=f"{self.title} — step {step}")
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)
        plt.close(fig)
