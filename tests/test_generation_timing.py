"""`evaluate.time_generation`, the one way the project times the KV cache (notebook 07 and `nanogpt bench
generate`): warm-up runs first, both paths alternately, the best time of each counts."""

from __future__ import annotations

import pytest
import torch

from nanogpt_lib import GPT, GPTConfig
from nanogpt_lib.evaluate import GenerationTiming, time_generation


@pytest.fixture(scope="module")
def model() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=30, block_size=16, n_layer=1, n_head=2, n_embd=16)).eval()


def test_alternating_order_warmup_and_best_of(model, monkeypatch):
    calls, clock = [], iter(float(i) for i in range(1000))
    generate = model.generate

    def recording_generate(prompt, new_tokens, temperature, use_cache):
        calls.append(use_cache)
        return generate(prompt, new_tokens, temperature=temperature, use_cache=use_cache)

    monkeypatch.setattr(model, "generate", recording_generate)
    monkeypatch.setattr("nanogpt_lib.evaluate.time.perf_counter", lambda: next(clock))
    timing = time_generation(model, torch.zeros(2, 3, dtype=torch.long), 5, repeats=3, warmup=2)
    # two warm-up pairs, then rounds that alternate which path goes first
    assert calls == [False, True, False, True, False, True, True, False, False, True]
    assert timing.seconds_no_cache == timing.seconds_kv_cache == 1.0  # the fake clock ticks once per run
    assert timing.identical and timing.batch_size == 2 and timing.new_tokens == 5


def test_numbers_are_consistent(model):
    timing = time_generation(model, torch.zeros(1, 2, dtype=torch.long), 20, repeats=2, warmup=0)
    assert isinstance(timing, GenerationTiming) and timing.identical  # also past the 16-token window
    assert timing.speedup == pytest.approx(timing.seconds_no_cache / timing.seconds_kv_cache)
    assert timing.tokens_per_sec_kv_cache == pytest.approx(20 / timing.seconds_kv_cache)
    with pytest.raises(ValueError, match="repeats"):
        time_generation(model, torch.zeros(1, 2, dtype=torch.long), 3, repeats=0)
