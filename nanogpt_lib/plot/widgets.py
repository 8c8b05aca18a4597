"""Interactive controls for the notebooks: a sampler with temperature, top-k and top-p sliders, and an
attention explorer (layer, head, position). They are ipywidgets, which Jupyter, VS Code and Colab run.

A widget needs a live kernel, so each control also draws its current state as a plain matplotlib picture
(`figure()`: `sampler_figure` below, `attention_figure` from `attention`). Displayed in a notebook, a control
sends both: the widget, which a live front-end shows, and the picture as a PNG, which is what a saved
notebook shows on GitHub and on the course website (notebooks/build.py drops the dead widget view).

    sampler_widget(model, tokenizer, "ROMEO:\\n")          # last line of a cell
    attention_explorer(model, tokenizer, "ROMEO:\\nBut soft!")
"""

from __future__ import annotations

import base64
import html
import io
import textwrap

import matplotlib
import numpy as np
import torch
from matplotlib.figure import Figure

from ..interpret import capture
from ..sampling import eval_mode, next_token_probs, sample_text
from ..tokenizers import Tokenizer
from .attention import attention_figure
from .labels import show_token


def _ipywidgets():
    try:
        import ipywidgets
    except ImportError as e:  # Colab and the notebooks extra have it; a bare `pip install` does not
        raise ImportError("the interactive controls need ipywidgets: pip install ipywidgets "
                          "(or pip install -e '.[notebooks]'); figure() works without it") from e
    return ipywidgets


def png_bytes(fig: Figure, dpi: int = 80) -> bytes:
    """The figure as PNG bytes (small: notebooks are saved with their outputs)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


class _Control:
    """A widget with a static picture of its state; in a notebook both are sent (see the module docstring)."""

    widget = None  # the ipywidgets box, built by subclasses

    def figure(self) -> Figure:
        raise NotImplementedError

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        data = dict(self.widget._repr_mimebundle_())
        data["image/png"] = base64.b64encode(png_bytes(self.figure())).decode("ascii")
        data["text/plain"] = (f"<{type(self).__name__}: interactive in a running notebook; "
                              "the picture shows its current state>")
        return data


# --------------------------------------------------------------------------------------------- sampler
@torch.no_grad()
def last_logits(model: torch.nn.Module, tokenizer: Tokenizer, prompt: str) -> torch.Tensor:
    """The model's next-token logits after `prompt` (its last `context_length` tokens), shape (vocab,)."""
    ids = tokenizer.encode(prompt) or [tokenizer.eot_id or 0]
    ids = ids[-getattr(model, "context_length", len(ids)):]
    device = next(model.parameters()).device
    with eval_mode(model):
        logits = model(torch.tensor([ids], device=device))[0][0, -1].float().cpu()
    return logits


def sampler_figure(model: torch.nn.Module, tokenizer: Tokenizer, prompt: str, temperature: float = 1.0,
                   top_k: int | None = None, top_p: float | None = None, max_new_tokens: int = 200, seed: int = 0,
                   top: int = 20, logits: torch.Tensor | None = None, sample: str | None = None,
                   show_sample: bool = True) -> Figure:
    """The next-token distribution after `prompt` at these settings, and (`show_sample`) a sample drawn with them.

    Light bars: the distribution at this temperature alone; dark bars: what top-k and top-p leave of it
    (what `sample_next_token` draws from). `logits`/`sample` skip recomputing them when already known.
    """
    logits = last_logits(model, tokenizer, prompt) if logits is None else logits
    kept = next_token_probs(logits[None], temperature, top_k, top_p)[0]
    tempered = next_token_probs(logits[None], temperature)[0]
    order = tempered.argsort(descending=True)[:top]
    labels = [show_token(tokenizer.decode([i])) for i in order.tolist()]

    # Fixed margins instead of tight_layout: a slider redraws this picture, and every layout pass costs a draw.
    fig = Figure(figsize=(9, 5.4 if show_sample else 3.0))
    if show_sample:
        ax, ax_text = fig.subplots(2, 1, gridspec_kw={"height_ratios": [1.2, 1]})
        fig.subplots_adjust(left=0.08, right=0.98, top=0.93, bottom=0.02, hspace=0.3)
    else:
        ax = fig.subplots()
        fig.subplots_adjust(left=0.08, right=0.98, top=0.88, bottom=0.12)
    x = np.arange(len(order))
    ax.bar(x, tempered[order].numpy(), color="tab:blue", alpha=0.25, label=f"temperature {temperature:g}")
    ax.bar(x, kept[order].numpy(), color="tab:blue", width=0.5, label="after top-k / top-p (sampled from)")
    ax.set_xticks(x, labels, fontsize=9)
    n_kept = int((kept > 0).sum())
    ax.set(ylabel="probability", title=f"next token after {prompt[-30:]!r}: {n_kept} of {len(kept)} tokens can be "
           f"drawn (top_k={top_k}, top_p={top_p})")
    ax.title.set_fontsize(10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    if show_sample:
        if sample is None:
            sample = sample_text(model, tokenizer, prompt, max_new_tokens, temperature, top_k, top_p, seed)
        lines = [wrapped for line in sample.split("\n") for wrapped in textwrap.wrap(line, 110) or [""]]
        ax_text.axis("off")
        ax_text.text(0, 1, "\n".join(lines[:14]), va="top", family="monospace", fontsize=8,
                     transform=ax_text.transAxes, parse_math=False)  # Shakespeare's "$" is no formula
        ax_text.set_title(f"a sample (seed {seed}, {max_new_tokens} tokens)", fontsize=9, loc="left")
    return fig


class SamplerWidget(_Control):
    """Sliders for temperature, top-k (0 = off) and top-p (1 = off), a prompt box and a "new sample" button;
    shows the next-token distribution they give and a fresh sample. `probs` and `sample` hold what is shown."""

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, prompt: str = "\n", max_new_tokens: int = 200,
                 top: int = 20, seed: int = 0) -> None:
        w = _ipywidgets()
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.top, self.seed = max_new_tokens, top, seed
        style, layout = {"description_width": "90px"}, w.Layout(width="420px")
        self.temperature = w.FloatSlider(value=1.0, min=0.0, max=2.0, step=0.05, description="temperature",
                                         continuous_update=False, style=style, layout=layout)
        self.top_k = w.IntSlider(value=0, min=0, max=min(tokenizer.vocab_size, 100), description="top-k (0 off)",
                                 continuous_update=False, style=style, layout=layout)
        self.top_p = w.FloatSlider(value=1.0, min=0.05, max=1.0, step=0.05, description="top-p (1 off)",
                                   continuous_update=False, style=style, layout=layout)
        self.prompt = w.Textarea(value=prompt, description="prompt", continuous_update=False, style=style,
                                 layout=w.Layout(width="420px"))
        self.button = w.Button(description="new sample", icon="refresh")
        self.image = w.Image(format="png")
        self.text = w.HTML()
        for control in (self.temperature, self.top_k, self.top_p, self.prompt):
            control.observe(lambda change: self.update(), names="value")
        self.button.on_click(self._new_sample)
        controls = w.HBox([w.VBox([self.temperature, self.top_k, self.top_p]), w.VBox([self.prompt, self.button])])
        self.widget = w.VBox([controls, w.VBox([self.image, self.text])])
        self.update()

    def settings(self) -> dict:
        """The sampling arguments the sliders stand for (0 and 1 mean "off")."""
        return {"temperature": self.temperature.value, "top_k": self.top_k.value or None,
                "top_p": self.top_p.value if self.top_p.value < 1.0 else None}

    def update(self) -> None:
        """Recompute the distribution and a sample for the current settings, and redraw."""
        prompt = self.prompt.value
        self.logits = last_logits(self.model, self.tokenizer, prompt)
        s = self.settings()
        self.probs = next_token_probs(self.logits[None], **s)[0]
        self.sample = sample_text(self.model, self.tokenizer, prompt, self.max_new_tokens, seed=self.seed, **s)
        self.image.value = png_bytes(self._figure(show_sample=False))  # the sample is shown as text below
        self.text.value = (f"<pre style='white-space: pre-wrap'><b>{html.escape(prompt)}</b>"
                           f"{html.escape(self.sample[len(prompt):])}</pre>")

    def _new_sample(self, button=None) -> None:
        self.seed += 1
        self.update()

    def figure(self) -> Figure:
        """The distribution and the sample, as one picture."""
        return self._figure(show_sample=True)

    def _figure(self, show_sample: bool) -> Figure:
        return sampler_figure(self.model, self.tokenizer, self.prompt.value, max_new_tokens=self.max_new_tokens,
                              seed=self.seed, top=self.top, logits=self.logits, sample=self.sample,
                              show_sample=show_sample, **self.settings())


def sampler_widget(model: torch.nn.Module, tokenizer: Tokenizer, prompt: str = "\n", max_new_tokens: int = 200,
                   top: int = 20, seed: int = 0) -> SamplerWidget:
    """Temperature / top-k / top-p sliders over `model`'s next-token distribution after `prompt`, with a sample."""
    return SamplerWidget(model, tokenizer, prompt, max_new_tokens, top, seed)


# --------------------------------------------------------------------------------- attention explorer
class AttentionExplorer(_Control):
    """Sliders for layer, head and query position over one text; shows the head's whole pattern, the chosen
    position's row, and the text shaded by how much that position attends to each character."""

    def __init__(self, model: torch.nn.Module, tokenizer: Tokenizer, text: str, layer: int = 0, head: int = 0,
                 position: int | None = None) -> None:
        w = _ipywidgets()
        ids = tokenizer.encode(text)[: getattr(model, "context_length", None)]
        device = next(model.parameters()).device
        self.attention = [a[0].cpu() for a in capture(model, torch.tensor([ids], device=device)).attention]
        self.tokens = [tokenizer.decode([i]) for i in ids]
        n_layer, n_head, T = len(self.attention), self.attention[0].size(0), len(ids)
        style, layout = {"description_width": "70px"}, w.Layout(width="360px")
        self.layer = w.IntSlider(value=layer, min=0, max=n_layer - 1, description="layer", style=style, layout=layout)
        self.head = w.IntSlider(value=head, min=0, max=n_head - 1, description="head", style=style, layout=layout)
        self.position = w.IntSlider(value=T - 1 if position is None else position, min=0, max=T - 1,
                                    description="position", style=style, layout=layout)
        self.image = w.Image(format="png")
        self.text = w.HTML()
        for control in (self.layer, self.head, self.position):
            control.observe(lambda change: self.update(), names="value")
        self.widget = w.VBox([w.HBox([self.layer, self.head, self.position]), w.VBox([self.text, self.image])])
        self.update()

    def row(self) -> torch.Tensor:
        """The attention of the chosen position to every position, (T,)."""
        return self.attention[self.layer.value][self.head.value, self.position.value]

    def update(self) -> None:
        """Redraw the picture and the shaded text for the current sliders."""
        self.image.value = png_bytes(self.figure())
        row, t = self.row(), self.position.value
        spans = []
        for s, token in enumerate(self.tokens):
            rgba = matplotlib.colormaps["Reds"](float(row[s]) * 0.9)
            border = "outline: 2px solid #1f77b4;" if s == t else ""
            shown = html.escape(show_token(token)) + ("<br>" if token.endswith("\n") else "")
            spans.append(f"<span title='{float(row[s]):.3f}' style='background: rgba({int(rgba[0] * 255)}, "
                         f"{int(rgba[1] * 255)}, {int(rgba[2] * 255)}, 1); {border}'>{shown}</span>")
        style = "font-family: monospace; font-size: 15px; line-height: 1.8"
        self.text.value = f"<div style='{style}'>{''.join(spans)}</div>"

    def figure(self) -> Figure:
        return attention_figure(self.attention, self.tokens, self.layer.value, self.head.value, self.position.value)


def attention_explorer(model: torch.nn.Module, tokenizer: Tokenizer, text: str, layer: int = 0, head: int = 0,
                       position: int | None = None) -> AttentionExplorer:
    """Layer / head / position sliders over the attention of `model` on `text` (cut to its context)."""
    return AttentionExplorer(model, tokenizer, text, layer, head, position)


# ------------------------------------------------------------------------------------------------- chat
class ChatWidget:
    """A text box to talk to a chat model (notebook 10): each message is a new conversation, as in fine-tuning,
    answered greedily (or at `temperature`) until `<|end|>`. `transcript` holds (message, reply) pairs.

    Its static form is the transcript itself, as HTML and plain text: a saved notebook shows the exchanges asked
    in code (`ask`) where the live widget cannot run.
    """

    def __init__(self, model: torch.nn.Module, tokenizer, messages=(), max_new_tokens: int = 32,
                 temperature: float = 0.0, seed: int = 0) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_new_tokens, self.temperature = max_new_tokens, temperature
        self.generator = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
        self.transcript: list[tuple[str, str]] = []
        self.widget = None
        try:
            w = _ipywidgets()
        except ImportError:
            w = None
        if w is not None:
            self.box = w.Text(placeholder="type a message and press Enter", continuous_update=False,
                              layout=w.Layout(width="600px"))
            self.view = w.HTML()
            self.box.observe(self._submitted, names="value")
            self.widget = w.VBox([self.view, self.box])
        for message in messages:
            self.ask(message)

    def ask(self, message: str) -> str:
        """The model's reply to `message` (a new conversation), added to the transcript."""
        from ..chat import Message, generate_replies, one_line

        try:
            prompt = self.tokenizer.render_prompt([Message("user", message)])
            ids, finished = generate_replies(self.model, self.tokenizer, [prompt], self.max_new_tokens,
                                             self.temperature, generator=self.generator)[0]
            reply = one_line(self.tokenizer.decode(ids)) + ("" if finished else " [no <|end|>]")
        except (KeyError, ValueError) as e:  # a character outside the vocabulary, a message too long
            reply = f"[error: {e}]"
        self.transcript.append((message, reply))
        if self.widget is not None:
            self.view.value = self.html()
        return reply

    def _submitted(self, change) -> None:
        if change["new"].strip():
            self.ask(change["new"])
            self.box.value = ""

    def text(self) -> str:
        return "\n".join(f"you> {m}\nbot> {r}" for m, r in self.transcript)

    def html(self) -> str:
        rows = "".join(f"<div><b>you</b>&gt; {html.escape(m)}<br><b>bot</b>&gt; {html.escape(r)}</div>"
                       for m, r in self.transcript)
        return f"<div style='font-family: monospace; line-height: 1.6'>{rows}</div>"

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        data = dict(self.widget._repr_mimebundle_()) if self.widget is not None else {}
        data["text/html"] = self.html()
        data["text/plain"] = self.text()
        return data


def chat_widget(model: torch.nn.Module, tokenizer, messages=(), max_new_tokens: int = 32,
                temperature: float = 0.0, seed: int = 0) -> ChatWidget:
    """A chat box over a fine-tuned `model`, with `messages` already asked (they are what a saved notebook shows)."""
    return ChatWidget(model, tokenizer, messages, max_new_tokens, temperature, seed)
