"""Benchmarks: the JSON they print is complete and self-consistent (their numbers are never asserted)."""

from __future__ import annotations

import json

import pytest

from nanogpt_lib import GPT, GPTConfig
from nanogpt_lib.cli import main
from nanogpt_lib.cli.bench import bench_attention, bench_train, flops_per_token
from nanogpt_lib.config import parse_overrides


def test_flops_per_token_counts_weights_and_attention():
    config = GPTConfig(vocab_size=50, block_size=16, n_layer=3, n_head=2, n_embd=24, bias=False)
    model = GPT(config)
    # weights: 2 embeddings (the LM head shares wte), per layer 2 LayerNorms + qkv + proj + MLP, final LayerNorm
    per_layer = 2 * 24 + 24 * 72 + 24 * 24 + 24 * 96 + 96 * 24
    weights = 50 * 24 + 3 * per_layer + 24  # the position table (16 × 24) is not multiplied, so left out
    assert flops_per_token(model) == 6 * weights + 12 * 3 * 2 * 12 * 16


def test_bench_train_reports_consistent_numbers():
    r = bench_train("tiny", iters=3, warmup=1, peak=1e12)
    assert r["timed_iters"] == 3 and r["tokens_per_iter"] == 8 * 32
    assert r["ms_per_iter"] == pytest.approx(1000 * r["tokens_per_iter"] / r["tokens_per_sec"])
    assert r["achieved_flops"] == pytest.approx(r["flops_per_token"] * r["tokens_per_sec"])
    assert r["peak_flops"] == 1e12 and r["peak_flops_source"] == "given with --peak-flops"
    assert r["mfu"] == pytest.approx(r["achieved_flops"] / 1e12)
    assert r["dtype_used"] == "float32" and r["peak_memory_bytes"] > 0 and r["first_iter_seconds"] > 0


def test_bench_train_measures_the_cpu_peak_in_the_training_dtype():
    r = bench_train("tiny", iters=2, warmup=1, dtype="bfloat16")
    assert r["device"] == "cpu" and r["peak_flops"] > 0
    assert r["peak_flops_source"] == "measured: best bfloat16 1024x1024 matmul on this CPU"


def test_bench_attention_times_both_implementations():
    r = bench_attention("tiny", iters=3, warmup=1)
    ms = r["forward_backward_ms"]
    assert set(ms) == {"heads_loop", "fused_sdpa"} and all(v > 0 for v in ms.values())
    assert r["speedup_fused_over_heads_loop"] == pytest.approx(ms["heads_loop"] / ms["fused_sdpa"])
    assert r["shape"] == {"batch_size": 8, "block_size": 32, "n_embd": 32, "n_head": 2}


def test_cli_prints_json_and_writes_the_file(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "train", "--preset", "tiny", "--iters", "2", "--warmup", "1", "--set", "n_layer=1",
                 "--json", str(path)]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == json.loads(path.read_text())
    assert printed["benchmark"] == "train" and printed["overrides"] == {"n_layer": 1}


def test_override_pairs_are_typed_and_checked():
    assert parse_overrides(["n_layer=2", "compile=true", "learning_rate=0.01"]) == {
        "n_layer": 2, "compile": True, "learning_rate": 0.01}
    with pytest.raises(ValueError, match="must look like key=value"):
        parse_overrides(["n_layer"])
    with pytest.raises(ValueError, match="unknown config field.*'n_layers' \\(did you mean 'n_layer'"):
        parse_overrides(["n_layers=2"])


@pytest.mark.parametrize("text, value", [("on", True), ("yes", True), ("1", True), ("off", False), ("False", False)])
def test_bench_and_train_parse_booleans_alike(text, value, tmp_path):
    """One parser: `--set bias=on` and `train --bias on` agree (the bench once read `on` as False)."""
    from nanogpt_lib.cli.main import build_parser

    assert parse_overrides([f"bias={text}"]) == {"bias": value}
    parser, _ = build_parser()
    assert parser.parse_args(["train", "--bias", text]).bias is value


@pytest.mark.parametrize("item, message", [("bias=maybe", "bias takes true or false"),
                                           ("n_layer=two", "n_layer takes a value of type int")])
def test_malformed_override_values_are_errors(item, message):
    with pytest.raises(ValueError, match=message):
        parse_overrides([item])

