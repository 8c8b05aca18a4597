"""nanogpt_lib.interpret: what the hooks capture is what the model computes, and the hooks never stay behind."""

import pytest
import torch

from nanogpt_lib import GPT, GPTConfig, Head
from nanogpt_lib.interpret import (
    ablate_heads,
    attention_layers,
    attention_score,
    capture,
    first_token_keys,
    head_ablation_losses,
    head_scores,
    induction_keys,
    induction_scores,
    logit_lens,
    previous_token_keys,
    removing_hooks,
    repeated_random_tokens,
    same_token_keys,
    token_keys,
)

CONFIG = GPTConfig(vocab_size=13, block_size=16, n_layer=3, n_head=4, n_embd=32, bias=True)


@pytest.fixture
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(CONFIG).eval()


@pytest.fixture
def idx() -> torch.Tensor:
    return torch.randint(0, CONFIG.vocab_size, (2, 11), generator=torch.Generator().manual_seed(1))


def no_hooks_left(model: torch.nn.Module) -> bool:
    return all(not m._forward_pre_hooks and not m._forward_hooks for m in model.modules())


def test_captured_attention_is_the_teaching_heads(model, idx):
    """Each head's captured pattern is notebook 02's `Head` with that head's slice of the fused weights,
    reading the block's LayerNorm of the captured residual stream."""
    cap = capture(model, idx)
    C, hs = CONFIG.n_embd, CONFIG.head_size
    assert len(cap.attention) == CONFIG.n_layer and len(cap.residual) == CONFIG.n_layer + 1
    for layer, block in enumerate(model.transformer.h):
        assert cap.attention[layer].shape == (2, CONFIG.n_head, 11, 11)
        x = block.ln_1(cap.residual[layer])
        for h in range(CONFIG.n_head):
            head = Head(C, hs, CONFIG.block_size, bias=True)
            rows = slice(h * hs, (h + 1) * hs)
            with torch.no_grad():
                for i, part in enumerate((head.query, head.key, head.value)):
                    part.weight.copy_(block.attn.c_attn.weight[i * C:(i + 1) * C][rows])
                    part.bias.copy_(block.attn.c_attn.bias[i * C:(i + 1) * C][rows])
                expected = head.attention_weights(x)
            torch.testing.assert_close(cap.attention[layer][:, h], expected)
    assert no_hooks_left(model)


def test_captured_attention_is_what_the_fused_layer_multiplies_its_values_by(model, idx):
    """The fused kernel never returns its weights: what `capture` records must still be what it applies."""
    weights = capture(model, idx).attention[1]
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, CONFIG.n_head, 11))
    assert torch.all(weights.triu(diagonal=1) == 0), "a position must not attend to later positions"
    attn, seen = model.transformer.h[1].attn, {}
    with removing_hooks() as handles, torch.no_grad():
        handles.append(attn.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0])))
        handles.append(attn.c_proj.register_forward_pre_hook(lambda m, a: seen.setdefault("y", a[0])))
        model(idx)
    C, hs = CONFIG.n_embd, CONFIG.head_size
    v = attn.c_attn(seen["x"]).split(C, dim=2)[2].view(2, 11, CONFIG.n_head, hs).transpose(1, 2)
    torch.testing.assert_close((weights @ v).transpose(1, 2).reshape(2, 11, C), seen["y"])


def test_residual_stream_runs_from_the_embeddings_to_the_final_layernorm(model, idx):
    cap = capture(model, idx)
    with torch.no_grad():
        embeddings = model.transformer.wte(idx) + model.transformer.wpe(torch.arange(idx.size(1)))
        torch.testing.assert_close(cap.residual[0], embeddings)
        torch.testing.assert_close(model.transformer.ln_f(cap.residual[-1]), model.last_hidden_state(idx))
        torch.testing.assert_close(cap.logits, model(idx)[0])


def test_the_last_logit_lens_layer_is_the_models_logits(model, idx):
    cap = capture(model, idx)
    lens = logit_lens(model, cap.residual)
    assert lens.shape == (CONFIG.n_layer + 1, 2, 11, CONFIG.vocab_size)
    torch.testing.assert_close(lens[-1], cap.logits)
    assert not torch.allclose(lens[0], lens[-1])


def test_capture_works_with_rotary_positions_and_qk_norm(idx):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=13, block_size=16, n_layer=2, n_head=2, n_embd=16, pos_emb="rope",
                          qk_norm=True))
    cap = capture(model, idx)
    attn = model.transformer.h[1].attn
    with torch.no_grad():
        layer_input = model.transformer.h[1].ln_1(cap.residual[1])
        torch.testing.assert_close(cap.attention[1], attn.attention_weights(layer_input))
    assert model.training, "capture must give the model back in the mode it found it"


def test_ablating_nothing_changes_nothing(model, idx):
    with torch.no_grad():
        before = model(idx)[0]
        with ablate_heads(model, []):
            during = model(idx)[0]
    torch.testing.assert_close(before, during, rtol=0, atol=0)


def test_ablating_a_head_is_zeroing_its_columns_of_the_output_projection(model, idx):
    layer, head, hs = 1, 2, CONFIG.head_size
    with torch.no_grad():
        with ablate_heads(model, [(layer, head)]):
            ablated = model(idx)[0]
        assert no_hooks_left(model)
        model.transformer.h[layer].attn.c_proj.weight[:, head * hs:(head + 1) * hs] = 0
        torch.testing.assert_close(ablated, model(idx)[0])


def test_head_ablation_losses(model, idx):
    targets = torch.roll(idx, -1, dims=1)
    rise = head_ablation_losses(model, idx, targets)
    assert rise.shape == (CONFIG.n_layer, CONFIG.n_head)
    assert (rise != 0).all(), "zeroing any head of a random model changes its loss"
    with torch.no_grad(), ablate_heads(model, [(2, 3)]):
        loss = model(idx, targets)[1]
    torch.testing.assert_close(rise[2, 3], loss - model(idx, targets)[1])
    assert no_hooks_left(model)


def test_hooks_are_removed_even_when_the_forward_pass_fails(model):
    too_long = torch.zeros(1, CONFIG.block_size + 1, dtype=torch.long)
    with pytest.raises(ValueError, match="exceeds block_size"):
        capture(model, too_long)
    assert no_hooks_left(model)
    with pytest.raises(ValueError, match="exceeds block_size"), ablate_heads(model, [(0, 0), (0, 1), (2, 0)]):
        model(too_long)
    assert no_hooks_left(model)
    with pytest.raises(ValueError, match="no head"), ablate_heads(model, [(0, 0), (5, 0)]):
        pass
    assert no_hooks_left(model)


def test_scores_of_hand_made_patterns():
    T = 6
    previous = torch.zeros(1, 1, T, T)
    previous[0, 0, 0, 0] = 1
    previous[0, 0, torch.arange(1, T), torch.arange(T - 1)] = 1
    uniform = torch.ones(T, T).tril()
    uniform = (uniform / uniform.sum(-1, keepdim=True))[None, None]
    pattern = torch.cat([previous, uniform], dim=1)  # two heads
    torch.testing.assert_close(attention_score(pattern, previous_token_keys(T)),
                               torch.tensor([1.0, sum(1 / (t + 1) for t in range(1, T)) / (T - 1)]))
    # Of the queries 1..5, only query 1 reads the first token as its previous one.
    torch.testing.assert_close(attention_score(pattern, first_token_keys(T))[0], torch.tensor(1 / (T - 1)))
    assert head_scores([pattern, pattern], previous_token_keys(T)).shape == (2, 2)

    idx = torch.tensor([[3, 1, 3, 2, 1, 3]])
    same = same_token_keys(idx)[0]
    assert same[2].tolist() == [True, False, False, False, False, False]
    assert same[5].tolist() == [True, False, True, False, False, False]
    assert token_keys(idx, [2])[0, :, 3].tolist() == [False, False, False, True, True, True]


def test_induction_keys_point_after_the_previous_occurrence():
    seq = repeated_random_tokens(3, 5, 50, torch.Generator().manual_seed(0))
    assert seq.shape == (3, 10) and torch.equal(seq[:, :5], seq[:, 5:])
    keys = induction_keys(10, 5)
    assert not keys[:5].any()
    for t in range(5, 10):
        (s,) = keys[t].nonzero()[:, 0].tolist()
        assert torch.equal(seq[:, s - 1], seq[:, t]), "the key follows the query token's previous occurrence"


def test_induction_scores_of_a_random_model_are_small(model):
    scores = induction_scores(model, length=7, batch=8, generator=torch.Generator().manual_seed(0))
    assert scores.shape == (CONFIG.n_layer, CONFIG.n_head)
    assert ((scores > 0) & (scores < 0.5)).all()
    assert len(attention_layers(model)) == CONFIG.n_layer
