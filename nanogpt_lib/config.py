"""Training configuration: one dataclass, named presets, and override parsing.

A preset is a plain dict of overrides over the `TrainConfig` defaults; every field can be overridden
again (`get_config("cpu", max_iters=500)`, or `--max_iters 500` on the command line).
"""

from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields

from .model import GPTConfig

# Fields that fix the shape of the network: a checkpoint can only be resumed with the same values.
MODEL_FIELDS = ("n_layer", "n_head", "n_embd", "block_size", "bias")

# The seed project's names, accepted at the CLI edge only.
ALIASES = {
    "n_transformers": "n_layer",
    "n_embed": "n_embd",
    "context_size": "block_size",
    "n_iters": "max_iters",
}


@dataclass
class TrainConfig:
    """Everything a training run needs: model shape, data, optimisation, schedule, logging, hardware."""

    # model shape (GPT-2 vocabulary names); vocab_size comes from the tokenizer
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    block_size: int = 64
    dropout: float = 0.0
    bias: bool = False
    init_from: str = "scratch"  # "scratch", a GPT-2 name ("gpt2", ...) or a Hugging Face folder
    # data
    tokenizer: str = "char"
    data_dir: str = ""  # "" = data/shakespeare_<tokenizer> under the project
    vocab_size_target: int = 0  # for trainable tokenizers (bpe, sentencepiece); 0 = their default
    # optimisation
    batch_size: int = 32
    grad_accum_steps: int = 1
    max_iters: int = 2000
    learning_rate: float = 1e-3
    lr_schedule: str = "cosine"  # "cosine" (linear warmup, then cosine to min_lr) or "constant"
    warmup_iters: int = 100
    lr_decay_iters: int = 0  # 0 = max_iters
    min_lr: float = 1e-4
    weight_decay: float = 0.1
    beta1: float = 0.9
    beta2: float = 0.99
    grad_clip: float = 1.0  # 0 = no clipping
    # evaluation, logging, checkpoints
    eval_interval: int = 250
    eval_iters: int = 20
    log_interval: int = 50
    sample_tokens: int = 0  # tokens of sample text printed with each log line; 0 = none
    checkpoint_interval: int = 0  # 0 = only at evaluations and at the end
    # reproducibility and hardware
    seed: int = 1337
    device: str = "auto"  # auto = cuda, then mps, then cpu
    dtype: str = "float32"  # float32 | bfloat16 | float16 (autocast; master weights stay float32)
    compile: bool = False

    def __post_init__(self) -> None:
        positive = ("batch_size", "grad_accum_steps", "max_iters", "eval_iters", "log_interval", "eval_interval")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("learning_rate",):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_lr", "weight_decay", "grad_clip", "warmup_iters", "lr_decay_iters", "sample_tokens",
                     "checkpoint_interval", "vocab_size_target"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be >= 0, got {getattr(self, name)}")
        if self.min_lr > self.learning_rate:
            raise ValueError(f"TrainConfig.min_lr ({self.min_lr}) must not exceed learning_rate ({self.learning_rate})")
        if self.lr_schedule not in ("cosine", "constant"):
            raise ValueError(f"TrainConfig.lr_schedule must be 'cosine' or 'constant', got {self.lr_schedule!r}")
        if self.dtype not in ("float32", "bfloat16", "float16"):
            raise ValueError(f"TrainConfig.dtype must be float32, bfloat16 or float16, got {self.dtype!r}")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"TrainConfig.beta1/beta2 must be in [0, 1), got {self.beta1}, {self.beta2}")
        # The shape fields obey GPTConfig's rules (n_embd % n_head == 0, positive sizes): check them now,
        # before any data is loaded, with a vocabulary size that is always valid.
        self.model_config(vocab_size=1)

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The `GPTConfig` for this run, given the tokenizer's vocabulary size."""
        return GPTConfig(vocab_size=vocab_size, dropout=self.dropout, **{k: getattr(self, k) for k in MODEL_FIELDS})

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size * self.grad_accum_steps

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        return cls(**check_overrides(d))


PRESETS: dict[str, dict] = {
    # The seed project's README table: Adam at a constant 1e-3, a sample at every log line.
    "seed": dict(
        batch_size=32, block_size=256, n_embd=512, n_layer=16, n_head=8, max_iters=15000, learning_rate=1e-3,
        lr_schedule="constant", warmup_iters=0, weight_decay=0.0, beta2=0.999, grad_clip=0.0, dropout=0.0,
        log_interval=100, sample_tokens=200, eval_interval=1000, bias=True,
    ),
    # The well-known single-GPU character-level recipe (about 10M parameters).
    "shakespeare_char": dict(
        n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, dropout=0.2, learning_rate=1e-3,
        min_lr=1e-4, max_iters=5000, lr_decay_iters=5000, warmup_iters=100, beta2=0.99, eval_interval=250,
        eval_iters=200, log_interval=50, sample_tokens=200,
    ),
    # The best we found for 2 CPU cores in about 10 minutes (see README, "Measured results").
    "cpu": dict(
        n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, dropout=0.0, learning_rate=2e-3,
        min_lr=2e-4, max_iters=3000, warmup_iters=100, eval_interval=250, eval_iters=20, log_interval=100,
        sample_tokens=100,
    ),
    # Fine-tune GPT-2 (124M) on Tiny Shakespeare: pretrained weights and tokenizer, a small LR, few steps.
    "finetune_shakespeare": dict(
        init_from="gpt2", tokenizer="gpt2", bias=True, block_size=256, batch_size=8, grad_accum_steps=4,
        dropout=0.1, max_iters=200, learning_rate=3e-5, min_lr=3e-6, warmup_iters=10, weight_decay=0.0,
        eval_interval=50, eval_iters=20, log_interval=10, sample_tokens=0,
    ),
    # GPT-2 small's shape (124M) for GPU benchmarks and GPU training: use with --tokenizer gpt2 data; the
    # benchmark pads the vocabulary to 50304 (a multiple of 64) for fast matmuls.
    "gpt2": dict(
        n_layer=12, n_head=12, n_embd=768, block_size=1024, batch_size=16, dropout=0.0, bias=True,
        tokenizer="gpt2", learning_rate=6e-4, min_lr=6e-5, max_iters=5000, warmup_iters=200, beta2=0.95,
        weight_decay=0.1, eval_interval=500, eval_iters=50, log_interval=10, dtype="bfloat16",
    ),
    # Seconds long: for tests and the notebooks' fast mode.
    "tiny": dict(
        n_layer=2, n_head=2, n_embd=32, block_size=32, batch_size=8, max_iters=40, learning_rate=3e-3,
        min_lr=3e-4, warmup_iters=5, eval_interval=20, eval_iters=4, log_interval=10, sample_tokens=0,
    ),
}


def check_overrides(overrides: dict) -> dict:
    """Reject unknown field names with the closest valid names; return the overrides unchanged."""
    valid = [f.name for f in fields(TrainConfig)]
    unknown = [k for k in overrides if k not in valid]
    if unknown:
        hints = []
        for k in unknown:
            close = difflib.get_close_matches(k, valid + list(ALIASES), n=1)
            hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        raise ValueError(f"unknown config field(s): {', '.join(hints)}. Valid fields: {', '.join(valid)}")
    return overrides


def get_config(preset: str = "cpu", **overrides) -> TrainConfig:
    """The named preset with `overrides` applied on top; unknown presets and fields are refused."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    return TrainConfig(**{**PRESETS[preset], **check_overrides(overrides)})
