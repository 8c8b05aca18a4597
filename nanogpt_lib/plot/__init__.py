"""Every picture the library draws. Importing this package sets matplotlib up, once for all its modules:
headless (Agg) in a terminal or CI, the notebook's own backend in a notebook.

- `curves`: measurements of training: loss curves, the learning-rate schedule, runs side by side (over seeds
  too), a loss curve that redraws itself during training;
- `attention`: attention maps, all drawn by `plot_attention`: one head, every head of a layer (`nanogpt
  report`'s picture), one head with one query's row (the attention explorer's picture);
- `diagrams`: the notebooks' explanatory figures (a batch, a causal mask, a Transformer block, ...);
- `widgets`: ipywidgets controls that redraw these pictures live (a sampler, the attention explorer); it needs
  the model code, so it is imported on its own: `from nanogpt_lib.plot.widgets import sampler_widget`;
- `labels`: `show_token`, how every picture writes a token (newline ⏎, space ␣, tab ⇥).
"""

from __future__ import annotations

import matplotlib

__all__ = ["LiveLossPlot", "attention_figure", "attention_heads_figure", "plot_attention", "plot_losses", "plot_lr",
           "plot_runs", "plot_seed_bands", "show_token"]

if not matplotlib.get_backend().lower().startswith(("module://", "nbagg", "widget", "ipympl")):
    matplotlib.use("Agg")  # headless (terminal, CI); notebooks keep their inline backend

from .attention import attention_figure, attention_heads_figure, plot_attention  # noqa: E402 (after the backend)
from .curves import LiveLossPlot, plot_losses, plot_lr, plot_runs, plot_seed_bands  # noqa: E402
from .labels import show_token  # noqa: E402
