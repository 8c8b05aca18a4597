"""Mixed precision on CPU: autocast really runs in the low dtype, weights stay float32, the loss falls."""

from __future__ import annotations

import random

import pytest
import torch

from nanogpt_lib import GPT, Corpus, get_config, load_checkpoint, train
from nanogpt_lib.device import autocast, resolve_dtype

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    rng = random.Random(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler", "mind"]
    return Corpus.from_text("\n".join(" ".join(rng.choice(words) for _ in range(12)) for _ in range(400)))


def train_recording_dtypes(dtype: str, corpus: Corpus, tmp_path) -> tuple[GPT, list[float], set, dict]:
    """Train the tiny preset in `dtype`; return the model, its losses, the LM head's output dtypes, the checkpoint."""
    cfg = get_config("tiny", dtype=dtype, max_iters=30, log_interval=1)
    torch.manual_seed(cfg.seed)
    model = GPT(cfg.model_config(corpus.vocab_size))
    seen = set()
    model.lm_head.register_forward_hook(lambda module, inputs, output: seen.add(output.dtype))
    result = train(cfg, corpus, model=model, out_dir=tmp_path / dtype, progress=False, verbose=False)
    return result.model, result.history.train_loss, seen, load_checkpoint(tmp_path / dtype / "ckpt.pt")


def assert_learned_in_float32(model: GPT, losses: list[float], ckpt: dict) -> None:
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(t.dtype == torch.float32 for t in ckpt["model"].values() if t.is_floating_point())


def test_float32_uses_no_autocast():
    assert resolve_dtype("float32", CPU) == torch.float32
    with autocast(CPU, torch.float32):
        assert (torch.ones(2, 2) @ torch.ones(2, 2)).dtype == torch.float32


def test_bfloat16_trains_with_float32_master_weights(corpus, tmp_path):
    if resolve_dtype("bfloat16", CPU) != torch.bfloat16:
        pytest.skip("this CPU build has no bfloat16 autocast")
    model, losses, seen, ckpt = train_recording_dtypes("bfloat16", corpus, tmp_path)
    assert torch.bfloat16 in seen  # the matmuls ran in bfloat16 under autocast
    assert_learned_in_float32(model, losses, ckpt)
    assert ckpt["scaler"] == {}  # bfloat16 has float32's range: no loss scaling


def test_float16_on_cpu_trains_with_a_grad_scaler_or_is_refused_clearly(corpus, tmp_path):
    try:
        resolved = resolve_dtype("float16", CPU)
    except ValueError as e:  # older PyTorch: no float16 autocast on CPU
        assert "float16 autocast is not supported on cpu" in str(e) and "bfloat16 or float32" in str(e)
        with pytest.raises(ValueError, match="float16 autocast is not supported"):
            train_recording_dtypes("float16", corpus, tmp_path)
        return
    assert resolved == torch.float16
    model, losses, seen, ckpt = train_recording_dtypes("float16", corpus, tmp_path)
    assert torch.float16 in seen
    assert_learned_in_float32(model, losses, ckpt)
    assert ckpt["scaler"]["scale"] > 0  # the GradScaler was on and its state is checkpointed


def test_unsupported_bfloat16_falls_back_to_float32_with_a_message(monkeypatch):
    def no_autocast(*args, **kwargs):
        raise RuntimeError("bfloat16 is not supported here")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    with pytest.warns(UserWarning, match="bfloat16 autocast is not supported on cpu.*training in float32"):
        assert resolve_dtype("bfloat16", CPU) == torch.float32


def test_unsupported_float16_is_refused_with_a_message(monkeypatch):
    def no_autocast(*args, **kwargs):
        raise RuntimeError("float16 is not supported here")

    monkeypatch.setattr(torch, "autocast", no_autocast)
    with pytest.raises(ValueError, match="use --dtype bfloat16 or float32"):
        resolve_dtype("float16", CPU)
