"""Typical wrong answers to notebook 05's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "ex05-lr-schedule": [
        ("ignores lr_decay_iters: the cosine always ends at max_iters", """\
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if step >= cfg.max_iters:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (cfg.max_iters - cfg.warmup_iters)
    return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
""", r"lr_decay_iters"),
        ("warmup starts at 0 (step / W instead of (step + 1) / (W + 1))", """\
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * step / cfg.warmup_iters
    end = cfg.lr_decay_iters or cfg.max_iters
    if step >= end:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (end - cfg.warmup_iters)
    return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
""", r"warmup"),
        ("the cosine decays to 0 instead of min_lr", """\
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    end = cfg.lr_decay_iters or cfg.max_iters
    if step >= end:
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (end - cfg.warmup_iters)
    return cfg.learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
""", r"min_lr.*not 0"),
        ("no floor: the cosine goes back up after the decay ends", """\
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    end = cfg.lr_decay_iters or cfg.max_iters
    progress = (step - cfg.warmup_iters) / (end - cfg.warmup_iters)
    return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
""", r"stay at min_lr"),
        ("the cosine's progress counted from step 0, not from the end of the warmup", """\
def my_lr(step, cfg):
    if step < cfg.warmup_iters:
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    end = cfg.lr_decay_iters or cfg.max_iters
    if step >= end:
        return cfg.min_lr
    progress = step / end
    return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
""", r"peak.*warmup_iters"),
    ],
    "ex05-read-checkpoint": [
        ("reuses `ckpt`, loaded before the resume (the half run's checkpoint)", """\
ckpt_step, ckpt_best_val = ckpt["step"], ckpt["best_val_loss"]
""", r"half run|before the resume"),
        ("the last logged step instead of the checkpoint's step", """\
raw = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
ckpt_step, ckpt_best_val = raw["history"]["step"][-1], raw["best_val_loss"]
""", r"ckpt_step.*\"step\""),
        ("the best training loss instead of the best validation loss", """\
raw = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
ckpt_step, ckpt_best_val = raw["step"], min(raw["history"]["eval_train_loss"])
""", r"train"),
        ("the first evaluation's validation loss, not the best", """\
raw = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
ckpt_step, ckpt_best_val = raw["step"], raw["history"]["eval_val_loss"][0]
""", r"best_val_loss"),
    ],
    "ex05-round-trip-error": [
        ("signed error (no absolute value)", """\
def round_trip_error(x, dtype):
    return (x - x.to(dtype).float()) / x.abs()
""", r"absolute value"),
        ("absolute error, not divided by |x|", """\
def round_trip_error(x, dtype):
    return (x - x.to(dtype).float()).abs()
""", r"relative.*\|x\|"),
        ("divided by the stored value |x̂| instead of |x|", """\
def round_trip_error(x, dtype):
    x_hat = x.to(dtype).float()
    return (x - x_hat).abs() / x_hat.abs()
""", r"divide by \|x\|, not"),
        ("always rounds through float16, whatever dtype says", """\
def round_trip_error(x, dtype):
    return (x - x.half().float()).abs() / x.abs()
""", r"dtype"),
    ],
}
