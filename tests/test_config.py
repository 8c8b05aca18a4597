"""Presets, overrides and validation of TrainConfig; the learning-rate schedule."""

import pytest

from nanogpt_lib import PRESETS, TrainConfig, get_config, lr_at


def test_seed_preset_matches_the_seed_readme():
    cfg = get_config("seed")
    assert (cfg.batch_size, cfg.block_size, cfg.n_embd, cfg.n_layer, cfg.n_head) == (32, 256, 512, 16, 8)
    assert (cfg.max_iters, cfg.learning_rate, cfg.lr_schedule, cfg.log_interval) == (15000, 1e-3, "constant", 100)
    assert cfg.weight_decay == 0.0 and cfg.sample_tokens > 0  # plain Adam; a sample at every log line


def test_shakespeare_char_preset():
    c = get_config("shakespeare_char")
    assert (c.n_layer, c.n_head, c.n_embd, c.block_size, c.batch_size, c.dropout) == (6, 6, 384, 256, 64, 0.2)
    assert (c.learning_rate, c.min_lr, c.max_iters, c.warmup_iters, c.beta2) == (1e-3, 1e-4, 5000, 100, 0.99)


def test_every_preset_is_valid():
    for name in PRESETS:
        assert isinstance(get_config(name), TrainConfig)


def test_unknown_preset_lists_the_valid_ones():
    with pytest.raises(ValueError) as e:
        get_config("gpu")
    assert str(e.value) == f"unknown preset 'gpu'; valid presets: {', '.join(PRESETS)}"
    assert {"seed", "shakespeare_char", "cpu", "tiny"} <= set(PRESETS)


def test_unknown_field_suggests_the_closest():
    with pytest.raises(ValueError, match="'n_layers' \\(did you mean 'n_layer'\\?\\)"):
        get_config("tiny", n_layers=3)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("batch_size", 0, "batch_size must be > 0"),
        ("learning_rate", 0.0, "learning_rate must be > 0"),
        ("learning_rate", -1e-3, "learning_rate must be > 0"),
        ("n_head", 3, "n_embd \\(32\\) must be divisible by n_head \\(3\\)"),
        ("n_layer", 0, "n_layer must be a positive integer"),
        ("block_size", 0, "block_size must be a positive integer"),
        ("dtype", "float8", "dtype must be float32, bfloat16 or float16"),
        ("lr_schedule", "linear", "lr_schedule must be 'cosine' or 'constant'"),
        ("max_iters", -5, "max_iters must be > 0"),
    ],
)
def test_validation_names_field_and_rule(field, value, message):
    with pytest.raises(ValueError, match=message):
        get_config("tiny", **{field: value})


def test_cosine_schedule_with_warmup():
    cfg = get_config("tiny", learning_rate=1.0, min_lr=0.1, warmup_iters=10, max_iters=110)
    lrs = [lr_at(s, cfg) for s in range(120)]
    assert lrs[0] == pytest.approx(1 / 11) and lrs[9] == pytest.approx(10 / 11)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))  # warmup rises
    assert lrs[10] == pytest.approx(1.0)
    assert lrs[60] == pytest.approx(0.55)  # halfway through the cosine: midpoint of lr and min_lr
    assert all(a >= b for a, b in zip(lrs[10:110], lrs[11:110]))  # decay never rises
    assert lrs[110] == lrs[119] == 0.1


def test_constant_schedule():
    cfg = get_config("tiny", lr_schedule="constant", warmup_iters=0, learning_rate=0.01)
    assert {lr_at(s, cfg) for s in range(100)} == {0.01}


def test_speedrun_preset_is_modern_plus_its_changes():
    """`speedrun` is `modern` with the changes benchmarks/speedrun_exploration.md measured, and it evaluates
    once, at the end, on enough windows for the record rule's standard error (per-window std up to 0.28 on
    these runs: 0.28 / sqrt(3200) = 0.0049 <= 0.005)."""
    from nanogpt_lib.cli.time_to_loss import RECORD_MAX_SE

    modern, speedrun = get_config("modern"), get_config("speedrun")
    changed = {k for k in PRESETS["speedrun"] if PRESETS["speedrun"][k] != PRESETS["modern"].get(k)}
    assert changed == {"n_layer", "block_size", "muon_weight_decay", "max_iters", "eval_interval", "eval_iters",
                       "log_interval", "compile"}
    assert modern.muon_weight_decay == 0.0 and speedrun.muon_weight_decay > 0
    assert speedrun.batch_size == modern.batch_size and speedrun.tokens_per_step == 2 * modern.tokens_per_step
    assert speedrun.eval_interval == speedrun.max_iters
    assert 0.28 / (speedrun.eval_iters * speedrun.batch_size) ** 0.5 <= RECORD_MAX_SE
