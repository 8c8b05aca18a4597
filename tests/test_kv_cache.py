"""The KV cache must not change what is generated: greedy decoding with and without it gives the same
tokens, also past block_size where the window slides."""

import pytest
import torch

from nanogpt_lib import GPT, GPTConfig, KVCache


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=50, block_size=16, n_layer=2, n_head=2, n_embd=32)).eval()


@pytest.mark.parametrize("prompt_len,new_tokens", [(1, 10), (5, 11), (5, 40), (16, 20), (30, 8)])
def test_cached_equals_uncached_greedy(model, prompt_len, new_tokens):
    prompt = torch.randint(50, (2, prompt_len), generator=torch.Generator().manual_seed(prompt_len))
    with pytest.warns(UserWarning) if prompt_len > 16 else _no_warning():
        cached = model.generate(prompt, new_tokens, temperature=0, use_cache=True)
    with pytest.warns(UserWarning) if prompt_len > 16 else _no_warning():
        plain = model.generate(prompt, new_tokens, temperature=0, use_cache=False)
    assert cached.shape == (2, prompt_len + new_tokens)
    assert torch.equal(cached, plain)


def test_cached_equals_uncached_when_sampling(model):
    prompt = torch.randint(50, (1, 4))
    runs = [model.generate(prompt, 30, temperature=1.0, top_k=10, use_cache=c,
                           generator=torch.Generator().manual_seed(7)) for c in (True, False)]
    assert torch.equal(*runs)


def test_incremental_logits_equal_full_forward(model):
    x = torch.randint(50, (1, 12))
    full = model(x)[0]
    cache = KVCache(model.config, 1, x.device, torch.float32)
    with torch.no_grad():
        first = model.lm_head(model.last_hidden_state(x[:, :7], cache))
        rest = [model.lm_head(model.last_hidden_state(x[:, t : t + 1], cache)) for t in range(7, 12)]
    torch.testing.assert_close(torch.cat([first, *rest], dim=1), full, atol=1e-5, rtol=0)
    assert cache.pos == 12


class _no_warning:
    def __enter__(self):
        import warnings

        self._ctx = warnings.catch_warnings()
        self._ctx.__enter__()
        warnings.simplefilter("error")

    def __exit__(self, *exc):
        return self._ctx.__exit__(*exc)
