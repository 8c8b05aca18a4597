"""nanogpt_lib.plot.widgets: the controls build without a front-end, follow their sliders, and draw a static picture."""

import base64

import pytest
import torch
from matplotlib.figure import Figure

from nanogpt_lib import GPT, CharTokenizer, GPTConfig
from nanogpt_lib.interpret import capture
from nanogpt_lib.plot.widgets import (
    attention_explorer,
    png_bytes,
    sampler_figure,
    sampler_widget,
)
from nanogpt_lib.sampling import next_token_probs, sample_next_token

pytest.importorskip("ipywidgets")

PNG = b"\x89PNG\r\n\x1a\n"
TOKENIZER = CharTokenizer.from_text("ROMEO:\nBut soft! what light abcdefg")


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=TOKENIZER.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=16)).eval()


def test_the_distribution_shown_is_the_one_sampled_from():
    logits = torch.randn(2, 10, generator=torch.Generator().manual_seed(0))
    settings = {"temperature": 0.7, "top_k": 6, "top_p": 0.8}
    probs = next_token_probs(logits, **settings)
    torch.testing.assert_close(probs.sum(-1), torch.ones(2))
    gen = torch.Generator().manual_seed(1)
    draws = torch.cat([sample_next_token(logits, generator=gen, **settings) for _ in range(4000)], dim=1)  # (2, 4000)
    for row in range(2):
        counts = torch.bincount(draws[row], minlength=10) / draws.size(1)
        assert (counts[probs[row] == 0] == 0).all(), "a token filtered out must never be drawn"
        torch.testing.assert_close(counts, probs[row], atol=0.03, rtol=0)
    greedy = next_token_probs(logits, temperature=0)
    assert greedy.sum().item() == 2 and torch.equal(greedy.argmax(-1), logits.argmax(-1))


def test_sampler_follows_its_sliders(model):
    w = sampler_widget(model, TOKENIZER, "ROMEO:\n", max_new_tokens=20)
    logits = model(torch.tensor([TOKENIZER.encode("ROMEO:\n")]))[0][0, -1]
    torch.testing.assert_close(w.probs, next_token_probs(logits[None])[0])
    picture, sample = bytes(w.image.value), w.sample
    assert picture.startswith(PNG) and sample.startswith("ROMEO:\n") and len(sample) == len("ROMEO:\n") + 20

    w.temperature.value = 0.5
    torch.testing.assert_close(w.probs, next_token_probs(logits[None], temperature=0.5)[0])
    assert bytes(w.image.value) != picture, "the picture must follow the slider"
    w.top_k.value = 3
    assert int((w.probs > 0).sum()) == 3
    w.top_k.value, w.top_p.value = 0, 0.3
    torch.testing.assert_close(w.probs, next_token_probs(logits[None], temperature=0.5, top_p=0.3)[0])
    assert w.settings() == {"temperature": 0.5, "top_k": None, "top_p": 0.3}
    w.temperature.value = 0.0
    assert w.probs.max() == 1.0, "temperature 0 is greedy"

    before = w.seed
    w.button.click()
    assert w.seed == before + 1
    w.prompt.value = "But"
    assert w.sample.startswith("But") and "But" in w.text.value


def test_explorer_follows_its_sliders(model):
    text = "ROMEO:\nBut soft! what light"
    e = attention_explorer(model, TOKENIZER, text, layer=1, head=1)
    expected = capture(model, torch.tensor([TOKENIZER.encode(text)])).attention
    assert (e.layer.max, e.head.max, e.position.max) == (1, 1, len(text) - 1)
    torch.testing.assert_close(e.row(), expected[1][0, 1, -1])
    picture, shading = bytes(e.image.value), e.text.value
    e.position.value = 4
    torch.testing.assert_close(e.row(), expected[1][0, 1, 4])
    assert bytes(e.image.value) != picture and e.text.value != shading
    e.layer.value, e.head.value = 0, 0
    torch.testing.assert_close(e.row(), expected[0][0, 0, 4])


def test_explorer_cuts_the_text_to_the_context(model):
    e = attention_explorer(model, TOKENIZER, "abcdefg " * 10)
    assert len(e.tokens) == model.context_length and e.position.value == model.context_length - 1


def test_a_displayed_control_carries_its_static_picture(model):
    e = attention_explorer(model, TOKENIZER, "ROMEO:\nBut")
    bundle = e._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert base64.b64decode(bundle["image/png"]).startswith(PNG)
    assert "interactive" in bundle["text/plain"]


def test_static_pictures_render_without_widgets(model):
    fig = sampler_figure(model, TOKENIZER, "ROMEO:", temperature=0.8, top_k=5, max_new_tokens=10, top=8)
    assert isinstance(fig, Figure) and len(fig.axes) == 2
    assert len(fig.axes[0].patches) == 16, "8 bars before and 8 after filtering"
    assert png_bytes(fig).startswith(PNG)
