"""Sliding-window evaluation: every target scored exactly once, stride = block size equals plain chunked
loss, bits per character are consistent, a memory-mapped token file scores like a tensor, and the
benchmarks return their fields."""

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from nanogpt_lib import GPT, GPTConfig
from nanogpt_lib.evaluate import EvalResult, evaluate_text_ids, sliding_window_nats, window_starts
from nanogpt_lib.tokenizers import CharTokenizer


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=20, block_size=8, n_layer=1, n_head=2, n_embd=16)).eval()


@pytest.mark.parametrize("n,block,stride", [(9, 8, 8), (50, 8, 8), (50, 8, 3), (53, 8, 1), (5, 8, 8)])
def test_every_target_scored_once(model, n, block, stride):
    ids = torch.randint(20, (n,))
    _, count = sliding_window_nats(model, ids, block, stride)
    assert count == n - 1
    starts = window_starts(n, min(block, n - 1), stride)
    assert starts[-1] + min(block, n - 1) == n - 1


def test_stride_equal_block_is_plain_chunked_loss(model):
    ids = torch.randint(20, (8 * 6 + 1,))
    nats, count = sliding_window_nats(model, ids, 8, 8, batch_size=4)
    x, y = ids[:-1].view(6, 8), ids[1:].view(6, 8)
    with torch.no_grad():
        expected = F.cross_entropy(model(x)[0].flatten(0, 1), y.flatten(), reduction="sum").item()
    assert nats == pytest.approx(expected, rel=1e-5) and count == 48


def test_smaller_stride_uses_more_context(model):
    # With stride 1 every target after the first window gets a full window of context; the totals differ
    # from the non-overlapping evaluation but score the same number of targets.
    ids = torch.randint(20, (40,))
    a, b = sliding_window_nats(model, ids, 8, 8), sliding_window_nats(model, ids, 8, 1)
    assert a[1] == b[1] and a[0] != pytest.approx(b[0], rel=1e-7)


def test_bits_per_char(model):
    tok = CharTokenizer("abcdefghijklmnopqrst")
    ids = torch.tensor(tok.encode("abcdefghijklmnopqrst" * 3))
    r = evaluate_text_ids(model, ids, tok)
    assert r.chars == len(ids) - 1
    assert r.bits_per_char == pytest.approx(r.loss / math.log(2))
    assert EvalResult(nats=10.0, tokens=5, chars=20).bits_per_char == pytest.approx(10 / math.log(2) / 20)


def test_bad_stride(model):
    with pytest.raises(ValueError, match="stride"):
        sliding_window_nats(model, torch.randint(20, (30,)), 8, 9)


def test_bench_generate_fields():
    from nanogpt_lib.cli.bench import bench_generate

    r = bench_generate(preset="tiny", prompt_tokens=4, new_tokens=12, repeats=1)
    assert r["identical_greedy_tokens"] is True
    assert r["tokens_per_sec_kv_cache"] > 0 and r["tokens_per_sec_no_cache"] > 0 and r["new_tokens"] == 12


def reference_nats(model, ids: torch.Tensor, block: int, stride: int) -> float:
    """Each window on its own, scoring only the targets after the end of the window before it."""
    total, scored_until = 0.0, 0
    for s in window_starts(len(ids), block, stride):
        x, y = ids[s : s + block], ids[s + 1 : s + block + 1].clone()
        y[: max(0, scored_until - s)] = -1
        with torch.no_grad():
            total += F.cross_entropy(model(x[None])[0][0], y, ignore_index=-1, reduction="sum").item()
        scored_until = s + block
    return total


@pytest.mark.parametrize("n,stride,batch_size", [(50, 3, 4), (53, 8, 2), (40, 1, 8), (9, 5, 3)])
def test_memmap_ids_score_like_a_tensor_and_like_each_window_alone(model, tmp_path, n, stride, batch_size):
    ids = torch.randint(20, (n,))
    path = tmp_path / "val.bin"
    ids.numpy().astype(np.uint16).tofile(path)
    on_disk = np.memmap(path, dtype=np.uint16, mode="r")  # what `load_prepared` gives as corpus.val
    block = min(8, n - 1)
    tensor = sliding_window_nats(model, ids, 8, stride, batch_size)
    assert sliding_window_nats(model, on_disk, 8, stride, batch_size) == tensor
    assert tensor[0] == pytest.approx(reference_nats(model, ids, block, min(stride, block)), rel=1e-5)
    tok = CharTokenizer("abcdefghijklmnopqrst")
    assert evaluate_text_ids(model, on_disk, tok, 8, stride).to_dict() == evaluate_text_ids(model, ids, tok, 8,
                                                                                           stride).to_dict()
