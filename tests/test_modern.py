"""Notebook 08's pieces: each against a hand-written formula or a property it must have, and the plumbing
around them (config checks, KV cache, checkpoints, GPT-2 export, the Muon optimizer)."""

import math

import pytest
import torch
from torch.nn import functional as F

from nanogpt_lib import GPT, CheckpointError, GPTConfig, get_config, load_model, parse_overrides, train
from nanogpt_lib.model import CausalSelfAttention, FeedForward, ReLUSquared, RMSNorm, RotaryEmbedding, SwiGLU
from nanogpt_lib.optim import Muon, make_muon, newton_schulz
from nanogpt_lib.train import make_optimizer

MODERN = dict(pos_emb="rope", norm="rmsnorm", qk_norm=True, mlp="swiglu", tie_embeddings=False)


def small_config(**kw) -> GPTConfig:
    return GPTConfig(**{**dict(vocab_size=50, block_size=16, n_layer=2, n_head=4, n_embd=32, bias=False), **kw})


def test_defaults_are_gpt2():
    model = GPT(small_config())
    assert model.lm_head.weight is model.transformer.wte.weight
    assert "transformer.wpe.weight" in model.state_dict()
    assert small_config().non_gpt2_fields() == []
    assert small_config(**MODERN).non_gpt2_fields() == [
        "pos_emb='rope'", "norm='rmsnorm'", "qk_norm=True", "mlp='swiglu'", "tie_embeddings=False"]


@pytest.mark.parametrize("field,value,message", [
    ("pos_emb", "alibi", "pos_emb must be one of 'learned', 'rope'"),
    ("norm", "batchnorm", "norm must be one of 'layernorm', 'rmsnorm'"),
    ("mlp", "relu", "mlp must be one of 'gelu', 'relu2', 'swiglu'"),
    ("qk_norm", "yes", "qk_norm must be one of False, True"),
])
def test_bad_variant_values_are_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        small_config(**{field: value})


def test_training_options_are_checked_and_parsed():
    assert parse_overrides(["pos_emb=rope", "qk_norm=on", "tie_embeddings=no", "optimizer=muon",
                            "muon_lr=0.05"]) == dict(pos_emb="rope", qk_norm=True, tie_embeddings=False,
                                                    optimizer="muon", muon_lr=0.05)
    with pytest.raises(ValueError, match="optimizer must be 'adamw' or 'muon'"):
        get_config("tiny", optimizer="sgd")
    with pytest.raises(ValueError, match="muon_momentum must be in"):
        get_config("tiny", muon_momentum=1.0)
    with pytest.raises(ValueError, match="head size n_embd // n_head \\(5\\) must be even"):
        small_config(n_embd=20, pos_emb="rope")
    with pytest.raises(ValueError, match="GPT-2 weights, which have none of pos_emb='rope'"):
        get_config("finetune_shakespeare", pos_emb="rope")


def test_rmsnorm_matches_its_formula():
    norm = RMSNorm(8)
    with torch.no_grad():
        norm.weight.copy_(torch.linspace(0.5, 2.0, 8))
    x = torch.randn(3, 5, 8) * 4 + 1
    expected = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-6) * norm.weight
    torch.testing.assert_close(norm(x), expected)
    if hasattr(F, "rms_norm"):  # PyTorch >= 2.4 has its own
        torch.testing.assert_close(norm(x), F.rms_norm(x, (8,), norm.weight, eps=1e-6))


def test_rope_is_a_rotation_by_position():
    rope = RotaryEmbedding(head_size=8, block_size=32)
    x = torch.randn(2, 3, 10, 8)
    y = rope(x, start=5)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))  # rotations keep lengths
    torch.testing.assert_close(rope(x[:, :, :1], start=0), x[:, :, :1])  # position 0: no rotation
    # the same as multiplying the complex numbers x_i + i·x_{i+d/2} by e^{i·m·θ_i}
    theta = 10000 ** (-torch.arange(0, 8, 2) / 8)
    m = torch.arange(5, 15).unsqueeze(-1)
    z = torch.complex(x[..., :4], x[..., 4:]) * torch.polar(torch.ones(10, 4), m * theta)
    torch.testing.assert_close(y, torch.cat((z.real, z.imag), dim=-1))


def test_rope_scores_depend_only_on_relative_position():
    rope = RotaryEmbedding(head_size=16, block_size=64)
    q, k = torch.randn(1, 1, 1, 16), torch.randn(1, 1, 1, 16)

    def score(m: int, n: int) -> torch.Tensor:
        return (rope(q, start=m) * rope(k, start=n)).sum()

    for m, n in [(3, 1), (10, 2), (7, 7)]:
        for shift in (1, 20, 50):
            torch.testing.assert_close(score(m, n), score(m + shift, n + shift), atol=1e-4, rtol=1e-4)
    assert not torch.allclose(score(3, 1), score(3, 2), atol=1e-3)


def test_relu_squared_mlp_by_hand():
    x = torch.randn(2, 4, 16)
    torch.testing.assert_close(ReLUSquared()(x), torch.clamp(x, min=0) ** 2)
    ff = FeedForward(16, bias=True, activation="relu2")
    hidden = torch.clamp(F.linear(x, ff.c_fc.weight, ff.c_fc.bias), min=0) ** 2
    hand = F.linear(hidden, ff.c_proj.weight, ff.c_proj.bias)
    torch.testing.assert_close(ff(x), hand)


def test_swiglu_by_hand_and_its_width():
    mlp = SwiGLU(128, bias=False)
    assert mlp.c_fc.weight.shape == (2 * 344, 128) and mlp.c_proj.weight.shape == (128, 344)  # 8/3·128 → 344
    gelu_params = sum(p.numel() for p in FeedForward(128, bias=False).parameters())
    assert abs(sum(p.numel() for p in mlp.parameters()) / gelu_params - 1) < 0.01  # the same budget
    x = torch.randn(2, 5, 128)
    w_gate, w_up = mlp.c_fc.weight[:344], mlp.c_fc.weight[344:]
    a = x @ w_gate.T
    torch.testing.assert_close(mlp(x), (a * torch.sigmoid(a) * (x @ w_up.T)) @ mlp.c_proj.weight.T)


def test_untied_head_has_its_own_weight():
    tied, untied = GPT(small_config()), GPT(small_config(tie_embeddings=False))
    assert untied.lm_head.weight is not untied.transformer.wte.weight
    assert untied.num_params() == tied.num_params() + 50 * 32
    x = torch.randint(50, (2, 8))
    untied(x, x)[1].backward()
    assert not torch.equal(untied.lm_head.weight.grad, untied.transformer.wte.weight.grad)


def test_qk_norm_makes_queries_and_keys_unit_rms():
    attn = CausalSelfAttention(small_config(qk_norm=True))
    x = torch.randn(2, 6, 32)
    q, k, _ = attn.qkv(x)
    torch.testing.assert_close(q.pow(2).mean(-1), torch.ones(2, 4, 6), atol=1e-4, rtol=0)
    torch.testing.assert_close(k.pow(2).mean(-1), torch.ones(2, 4, 6), atol=1e-4, rtol=0)
    y = attn(x)
    with torch.no_grad():  # so scaling the query/key projections changes nothing
        attn.c_attn.weight[:64] *= 10
    torch.testing.assert_close(attn(x), y, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("prompt_len,new_tokens", [(1, 10), (5, 30), (16, 8)])
def test_cached_equals_uncached_with_every_modern_piece(prompt_len, new_tokens):
    torch.manual_seed(0)
    model = GPT(small_config(**MODERN)).eval()
    prompt = torch.randint(50, (2, prompt_len), generator=torch.Generator().manual_seed(prompt_len))
    cached = model.generate(prompt, new_tokens, temperature=0, use_cache=True)
    assert torch.equal(cached, model.generate(prompt, new_tokens, temperature=0, use_cache=False))


def test_relu_squared_backward_is_autograds_bit_for_bit():
    x = torch.cat([torch.randn(3, 64), torch.zeros(1, 64), -torch.rand(1, 64)])  # zeros and negatives too
    grad = torch.randn_like(x)
    mine, ref = x.clone().requires_grad_(), x.clone().requires_grad_()
    ReLUSquared()(mine).backward(grad)
    F.relu(ref).square().backward(grad)
    assert torch.equal(mine.grad, ref.grad) and mine.grad[3:].abs().sum() == 0
    assert torch.autograd.gradcheck(ReLUSquared(), (torch.randn(4, 8, dtype=torch.float64, requires_grad=True),))


def test_newton_schulz_orthogonalises():
    G = torch.randn(96, 32) @ torch.diag(torch.logspace(-1, 1, 32))  # tall, singular values spanning ~100x
    X = newton_schulz(G)
    sv = torch.linalg.svdvals(X)
    assert sv.min() > 0.6 and sv.max() < 1.25, sv  # all near 1, not at 1: the tuned iteration ends in a band
    U, _, Vh = torch.linalg.svd(G, full_matrices=False)
    assert F.cosine_similarity(X.flatten(), (U @ Vh).flatten(), dim=0) > 0.95


def test_newton_schulz_of_a_stack_is_each_matrix_alone():
    stack = torch.randn(3, 40, 24)
    together = newton_schulz(stack)
    assert together.shape == stack.shape
    for G, X in zip(stack, together):
        torch.testing.assert_close(X, newton_schulz(G), atol=1e-6, rtol=1e-5)


def test_muon_groups_and_update():
    model = GPT(small_config(tie_embeddings=False))
    opt = make_muon(model, get_config("tiny", optimizer="muon", muon_lr=0.05, learning_rate=1e-3))
    muon, adam_matrices, adam_vectors = opt.param_groups
    hidden = [p for n, p in model.named_parameters() if n.startswith("transformer.h.") and p.dim() == 2]
    assert muon["use_muon"] and {id(p) for p in muon["params"]} == {id(p) for p in hidden}
    assert {id(p) for p in adam_matrices["params"]} == {id(model.transformer.wte.weight),
                                                         id(model.transformer.wpe.weight), id(model.lm_head.weight)}
    assert all(p.dim() == 1 for p in adam_vectors["params"]) and adam_vectors["weight_decay"] == 0.0
    assert muon["lr_scale"] == pytest.approx(50)
    # one step from zero momentum: W moves by lr · scale · NS(G + μG), an almost orthogonal matrix
    # (both layers' c_fc share one batched Newton–Schulz; each must move as if alone)
    weights = [block.mlp.c_fc.weight for block in model.transformer.h]
    before = [w.detach().clone() for w in weights]
    x = torch.randint(50, (4, 16))
    model(x, x)[1].backward()
    expected = [newton_schulz(w.grad * (1 + 0.95)) for w in weights]
    opt.step()
    for w, b, e in zip(weights, before, expected):
        torch.testing.assert_close(b - w.detach(), 0.05 * math.sqrt(128 / 32) * e)
    with pytest.raises(ValueError, match="only hold 2-D"):
        Muon([torch.nn.Parameter(torch.ones(3))], lr=0.1)


def test_muon_weight_decay():
    """muon_weight_decay shrinks Muon's matrices by (1 - lr·λ) before the update, with Muon's own rate, and
    leaves the AdamW groups' decay alone; 0 (the default) changes nothing."""
    model = GPT(small_config(tie_embeddings=False))
    cfg = get_config("tiny", optimizer="muon", muon_lr=0.05, learning_rate=1e-3, muon_weight_decay=0.5)
    opt = make_muon(model, cfg)
    assert [g["weight_decay"] for g in opt.param_groups] == [0.5, cfg.weight_decay, 0.0]
    assert make_muon(model, get_config("tiny", optimizer="muon")).param_groups[0]["weight_decay"] == 0.0
    w = model.transformer.h[0].mlp.c_fc.weight
    before = w.detach().clone()
    x = torch.randint(50, (4, 16))
    model(x, x)[1].backward()
    update = 0.05 * math.sqrt(128 / 32) * newton_schulz(w.grad * (1 + 0.95))
    opt.step()
    torch.testing.assert_close(w.detach(), before * (1 - 0.05 * 0.5) - update)
    with pytest.raises(ValueError, match="muon_weight_decay must be >= 0"):
        get_config("tiny", muon_weight_decay=-0.1)


def test_muon_lowers_the_loss(small_corpus):
    cfg = get_config("tiny", optimizer="muon", max_iters=30, eval_interval=30, **MODERN)
    result = train(cfg, small_corpus, progress=False, verbose=False)
    assert isinstance(make_optimizer(result.model, cfg, "cpu"), Muon)
    losses = result.history.train_loss
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.5


def test_checkpoint_rebuilds_the_variant_and_resume_refuses_another(tmp_path, small_corpus):
    cfg = get_config("tiny", max_iters=2, optimizer="muon", **MODERN)
    trained = train(cfg, small_corpus, out_dir=tmp_path, progress=False, verbose=False).model.eval()
    model, _, _ = load_model(tmp_path / "ckpt.pt")
    assert model.config.pos_emb == "rope" and not model.config.tie_embeddings
    x = torch.randint(small_corpus.vocab_size, (1, 8))
    torch.testing.assert_close(model(x)[0], trained(x)[0])
    resumed = train(get_config("tiny", max_iters=4, optimizer="muon", **MODERN), small_corpus, out_dir=tmp_path,
                    resume=True, progress=False, verbose=False)
    assert resumed.history.step == list(range(4))
    with pytest.raises(CheckpointError, match="pos_emb: 'rope' → 'learned'"):
        train(get_config("tiny", max_iters=6, optimizer="muon", **{**MODERN, "pos_emb": "learned"}), small_corpus,
              out_dir=tmp_path, resume=True, progress=False, verbose=False)


def test_save_pretrained_refuses_what_gpt2_cannot_express(tmp_path):
    with pytest.raises(ValueError, match="GPT-2's format cannot express pos_emb='rope', qk_norm=True"):
        GPT(small_config(pos_emb="rope", qk_norm=True)).save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
