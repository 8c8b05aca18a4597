"""The training loop: learning, determinism, accumulation, optimizer groups, history."""

import math

import pytest
import torch

from nanogpt_lib import GPT, Corpus, History, estimate_loss, get_config, train
from nanogpt_lib.train import make_optimizer


def test_training_lowers_the_loss(small_corpus):
    result = train(get_config("tiny", max_iters=60, eval_interval=30), small_corpus, progress=False, verbose=False)
    h = result.history
    assert len(h.train_loss) == len(h.lr) == len(h.tokens_per_sec) == 60 and h.step == list(range(60))
    assert h.eval_step == [30, 60]
    assert h.eval_val_loss[-1] < math.log(small_corpus.vocab_size) - 0.7  # well below uniform guessing
    assert all(t > 0 for t in h.tokens_per_sec)


def test_same_seed_same_curve_other_seed_other_curve(small_corpus):
    def run(seed):
        return train(get_config("tiny", max_iters=8, seed=seed, dropout=0.1), small_corpus,
                     progress=False, verbose=False).history.train_loss

    a, b, c = run(1), run(1), run(2)
    assert a == b and a != c


def test_gradient_accumulation_matches_a_bigger_batch(small_corpus):
    """Two micro-batches of 4 with accumulation == one batch of 8 (same windows: the sampler draws 8 starts
    as 4 + 4 from the same generator)."""
    big = train(get_config("tiny", max_iters=3, batch_size=8, grad_clip=0.0), small_corpus, progress=False,
                verbose=False)
    acc = train(get_config("tiny", max_iters=3, batch_size=4, grad_accum_steps=2, grad_clip=0.0), small_corpus,
                progress=False, verbose=False)
    # Adam divides by sqrt(v), so float rounding in near-zero gradients (summed in another order) moves a
    # weight by up to ~1e-6 after 3 steps of lr 3e-3; a wrong accumulation moves them by ~lr, and shows in the loss.
    for (name, p), q in zip(big.model.named_parameters(), acc.model.parameters()):
        torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-5, msg=name)
    assert big.history.train_loss == pytest.approx(acc.history.train_loss, abs=1e-6)


def test_weight_decay_only_on_matrices():
    model = GPT(get_config("tiny").model_config(65))
    decay, no_decay = make_optimizer(model, get_config("tiny", weight_decay=0.1), "cpu").param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_block_size_larger_than_data_is_refused():
    tiny = Corpus.from_text("to be or not to be " * 3)
    with pytest.raises(ValueError, match="block_size \\(32\\) must be smaller than the val split"):
        train(get_config("tiny"), tiny, progress=False)


def test_callbacks_and_history_roundtrip(tmp_path, small_corpus):
    seen = []
    result = train(get_config("tiny", max_iters=20, log_interval=5), small_corpus, progress=False, verbose=False,
                   callbacks=(lambda step, h: seen.append((step, len(h.train_loss))),))
    assert seen == [(5, 5), (10, 10), (15, 15), (20, 20)]
    result.history.save(tmp_path / "h.json")
    assert History.load(tmp_path / "h.json") == result.history


def test_log_lines_follow_the_seed_format(small_corpus, capsys):
    train(get_config("tiny", max_iters=10, log_interval=5, sample_tokens=20), small_corpus, progress=False)
    out = capsys.readouterr().out
    assert "[5/10] loss=" in out and "[10/10] loss=" in out and "time=" in out
    between = out.split("[5/10]")[1].split("\n", 1)[1].split("[10/10]")[0]
    assert len(between.replace("\n", "")) >= 15  # the 20-token sample follows the log line


def test_estimate_loss_is_repeatable(small_corpus):
    cfg = get_config("tiny")
    model = GPT(cfg.model_config(small_corpus.vocab_size))
    assert estimate_loss(model, small_corpus, cfg, "cpu") == estimate_loss(model, small_corpus, cfg, "cpu")


def test_window_losses_are_the_windows_estimate_loss_averages(small_corpus):
    from nanogpt_lib.train import window_losses

    cfg = get_config("tiny", eval_iters=3)
    model = GPT(cfg.model_config(small_corpus.vocab_size))
    est = estimate_loss(model, small_corpus, cfg, "cpu")
    for split in ("train", "val"):
        losses = window_losses(model, small_corpus, cfg, "cpu", split)
        assert losses.shape == (cfg.eval_iters * cfg.batch_size,)
        assert losses.mean().item() == pytest.approx(est[split], abs=1e-5)
        assert losses.std() > 0  # one number per window, not the batch mean repeated
