"""Model pieces: equivalence of the teaching and fast attention, causality, init, generation, errors."""

import math
import warnings

import pytest
import torch

from nanogpt_lib import (
    GPT,
    BigramLanguageModel,
    Block,
    CausalSelfAttention,
    FeedForward,
    GPTConfig,
    Head,
    MultiHeadAttention,
    sample_next_token,
)


def small_config(**kw) -> GPTConfig:
    return GPTConfig(**{**dict(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32, dropout=0.0), **kw})


def copy_mha_into_csa(mha: MultiHeadAttention, csa: CausalSelfAttention) -> None:
    """Stack the per-head q, k, v matrices into the fused projection (q of all heads, then k, then v)."""
    with torch.no_grad():
        for part, name in enumerate(("query", "key", "value")):
            rows = torch.cat([getattr(h, name).weight for h in mha.heads], dim=0)
            csa.c_attn.weight[part * rows.size(0) : (part + 1) * rows.size(0)] = rows
        csa.c_proj.weight.copy_(mha.proj.weight)


def test_multihead_equals_fused_attention():
    cfg = small_config(bias=False)
    mha = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.block_size, bias=False)
    csa = CausalSelfAttention(cfg)
    copy_mha_into_csa(mha, csa)
    x = torch.randn(3, cfg.block_size, cfg.n_embd)
    torch.testing.assert_close(csa(x), mha(x), atol=1e-5, rtol=0)
    # and the copy really mattered: a fresh module disagrees
    assert not torch.allclose(CausalSelfAttention(cfg)(x), mha(x), atol=1e-3)


def test_fused_attention_weights_equal_the_heads_weights():
    cfg = small_config(bias=False)
    mha = MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.block_size, bias=False)
    csa = CausalSelfAttention(cfg)
    copy_mha_into_csa(mha, csa)
    x = torch.randn(2, 10, cfg.n_embd)
    expected = torch.stack([h.attention_weights(x) for h in mha.heads], dim=1)  # (B, n_head, T, T)
    torch.testing.assert_close(csa.attention_weights(x), expected)


def test_head_attention_is_causal_and_normalised():
    head = Head(n_embd=16, head_size=8, block_size=10)
    w = head.attention_weights(torch.randn(2, 10, 16))
    torch.testing.assert_close(w.sum(-1), torch.ones(2, 10))
    assert torch.all(w.triu(diagonal=1) == 0)


@pytest.mark.parametrize("module", ["gpt", "block", "mha"])
def test_causality(module):
    """Changing token t+1 never changes the outputs at positions <= t."""
    cfg = small_config()
    torch.manual_seed(1)
    if module == "gpt":
        model = GPT(cfg).eval()
        x = torch.randint(cfg.vocab_size, (1, cfg.block_size))

        def out(inp):
            return model(inp)[0]

        x2 = x.clone()
        x2[0, 9] = (x[0, 9] + 1) % cfg.vocab_size
    else:
        model = Block(cfg) if module == "block" else MultiHeadAttention(cfg.n_embd, cfg.n_head, cfg.block_size)
        x = torch.randn(1, cfg.block_size, cfg.n_embd)
        out = model
        x2 = x.clone()
        x2[0, 9] += 1.0
    a, b = out(x), out(x2)
    torch.testing.assert_close(a[:, :9], b[:, :9])
    assert not torch.allclose(a[:, 9:], b[:, 9:])


def test_one_batch_overfit():
    torch.manual_seed(0)
    cfg = small_config()
    model = GPT(cfg)
    x = torch.randint(cfg.vocab_size, (4, cfg.block_size))
    y = torch.roll(x, -1, dims=1)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    first = None
    for _ in range(150):
        _, loss = model(x, y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert first == pytest.approx(math.log(cfg.vocab_size), rel=0.1)  # GPT-2 init: uniform-ish predictions
    assert loss.item() < 0.2 * first


def test_init_and_weight_tying():
    cfg = small_config(n_layer=8, n_embd=128, n_head=4)
    model = GPT(cfg)
    assert model.lm_head.weight is model.transformer.wte.weight
    proj = torch.cat([b.attn.c_proj.weight.flatten() for b in model.transformer.h])
    fc = torch.cat([b.mlp.c_fc.weight.flatten() for b in model.transformer.h])
    assert proj.std().item() == pytest.approx(0.02 / math.sqrt(2 * cfg.n_layer), rel=0.05)
    assert fc.std().item() == pytest.approx(0.02, rel=0.05)
    expected = sum(p.numel() for p in model.parameters())
    assert model.num_params() == expected
    assert model.num_params(exclude_embeddings=True) == expected - cfg.block_size * cfg.n_embd


def test_bias_false_has_no_biases_and_trains():
    model = GPT(small_config(bias=False))
    assert not [n for n, _ in model.named_parameters() if n.endswith("bias")]
    x = torch.randint(50, (2, 16))
    _, loss = model(x, x)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_sequence_longer_than_block_size_is_refused():
    model = GPT(small_config())
    with pytest.raises(ValueError, match="exceeds block_size 16"):
        model(torch.zeros(1, 17, dtype=torch.long))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(n_embd=30, n_head=4), "n_embd \\(30\\) must be divisible by n_head \\(4\\)"),
        (dict(n_layer=0), "n_layer must be a positive integer"),
        (dict(block_size=-1), "block_size must be a positive integer"),
        (dict(dropout=1.5), "dropout must be in"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        small_config(**kwargs)


def test_generate_shape_determinism_and_cropping():
    model = GPT(small_config()).eval()
    idx = torch.zeros(2, 3, dtype=torch.long)
    a = model.generate(idx, 30, generator=torch.Generator().manual_seed(7))
    b = model.generate(idx, 30, generator=torch.Generator().manual_seed(7))
    c = model.generate(idx, 30, generator=torch.Generator().manual_seed(8))
    assert a.shape == (2, 33) and torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(a[:, :3], idx)


def test_long_prompt_is_cropped_with_one_warning():
    model = GPT(small_config()).eval()
    with pytest.warns(UserWarning, match="only the last 16") as record:
        out = model.generate(torch.zeros(1, 40, dtype=torch.long), 5, use_cache=False)
    assert out.shape == (1, 45)
    assert len([w for w in record if "only the last" in str(w.message)]) == 1


def test_sampling_filters():
    logits = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert sample_next_token(logits, temperature=0).item() == 3
    gen = torch.Generator().manual_seed(0)
    picks = {sample_next_token(logits, top_k=2, generator=gen).item() for _ in range(200)}
    assert picks == {2, 3}
    # softmax([0,1,2,3]) = [.03, .09, .24, .64]: top_p=0.7 keeps {3, 2}; top_p=0.5 keeps {3}
    picks = {sample_next_token(logits, top_p=0.7, generator=gen).item() for _ in range(200)}
    assert picks == {2, 3}
    assert {sample_next_token(logits, top_p=0.5, generator=gen).item() for _ in range(50)} == {3}


def test_bigram_model_uses_only_last_token():
    model = BigramLanguageModel(10)
    logits, loss = model(torch.tensor([[1, 2, 3]]), torch.tensor([[2, 3, 4]]))
    torch.testing.assert_close(logits[0, 1], model.token_embedding_table.weight[2])
    assert loss.ndim == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # reading only the last token is what a bigram model does: no warning
        out = model.generate(torch.tensor([[1, 2, 3]]), 5, generator=torch.Generator().manual_seed(0))
    assert out.shape == (1, 8)


def test_feedforward_and_block_shapes():
    cfg = small_config()
    x = torch.randn(2, 5, cfg.n_embd)
    assert FeedForward(cfg.n_embd)(x).shape == x.shape
    assert Block(cfg)(x).shape == x.shape
