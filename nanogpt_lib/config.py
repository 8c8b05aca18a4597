"""Configuration: the model's shape (`GPTConfig`), a training run (`TrainConfig`), presets, overrides.

The shape fields (`block_size`, `n_layer`, `n_head`, `n_embd`, `dropout`, `bias`, and notebook 08's
architecture variants `pos_emb`, `norm`, `qk_norm`, `mlp`, `tie_embeddings`) are declared once, in
`ModelShape`; `GPTConfig` adds the vocabulary size and `TrainConfig` adds everything about training. A
preset is a plain dict of overrides over the `TrainConfig` defaults; every field can be overridden again
(`get_config("cpu", max_iters=500)`, `--max_iters 500` on the command line, or `max_iters=500` strings
parsed by `parse_overrides`: the one parser the CLI and the benchmarks share).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import asdict, dataclass, fields

# The seed project's names, accepted at the CLI edge only.
ALIASES = {
    "n_transformers": "n_layer",
    "n_embed": "n_embd",
    "context_size": "block_size",
    "n_iters": "max_iters",
}


def divisors(n: int) -> list[int]:
    """All divisors of n, for error messages that suggest valid head counts."""
    return [d for d in range(1, n + 1) if n % d == 0]


# Each variant field's allowed values; the first is GPT-2's (and the default).
VARIANTS: dict[str, tuple] = {
    "pos_emb": ("learned", "rope"),
    "norm": ("layernorm", "rmsnorm"),
    "qk_norm": (False, True),
    "mlp": ("gelu", "relu2", "swiglu"),
    "tie_embeddings": (True, False),
}


# The ModelShape fields that say how big a model is (the others choose its parts) ...
SIZE_FIELDS = ("block_size", "n_layer", "n_head", "n_embd")
# ... and the TrainConfig fields that say how long a run is and how often it reports.
LENGTH_FIELDS = ("batch_size", "max_iters", "warmup_iters", "eval_interval", "eval_iters", "log_interval",
                 "sample_tokens", "checkpoint_interval")


@dataclass
class ModelShape:
    """The fields that fix a GPT's architecture. Defaults are GPT-2 small (124M), as in nanoGPT."""

    block_size: int = 1024
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768
    dropout: float = 0.0
    bias: bool = True  # biases in Linear and LayerNorm, like GPT-2; False is slightly faster and as good
    # Notebook 08's changes since GPT-2, each off by default (= GPT-2, so its weights still load):
    pos_emb: str = "learned"  # "learned" (a table of positions, GPT-2) or "rope" (rotary, no table)
    norm: str = "layernorm"  # "layernorm" (GPT-2) or "rmsnorm"
    qk_norm: bool = False  # RMSNorm on each head's queries and keys before attention
    mlp: str = "gelu"  # "gelu" (GPT-2), "relu2" (ReLU squared) or "swiglu" (gated, 8/3 as wide)
    tie_embeddings: bool = True  # the LM head reuses the token embedding matrix (GPT-2)

    def __post_init__(self) -> None:
        name = type(self).__name__
        for key, allowed in VARIANTS.items():
            if getattr(self, key) not in allowed:
                raise ValueError(f"{name}.{key} must be one of {', '.join(map(repr, allowed))}, "
                                 f"got {getattr(self, key)!r}")
        for key in SIZE_FIELDS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}.{key} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"{name}: n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}) so every head "
                f"gets n_embd // n_head dimensions; try n_head in {divisors(self.n_embd)}"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"{name}.dropout must be in [0, 1), got {self.dropout}")
        if self.pos_emb == "rope" and self.head_size % 2:
            raise ValueError(f"{name}: pos_emb='rope' rotates pairs of dimensions, so the head size "
                             f"n_embd // n_head ({self.head_size}) must be even")

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    def shape(self) -> dict:
        """Just the `ModelShape` fields of this config, as a dict."""
        return {f.name: getattr(self, f.name) for f in fields(ModelShape)}

    def non_gpt2_fields(self) -> list[str]:
        """The variant fields GPT-2's architecture cannot express, as `name=value` (empty for GPT-2 itself)."""
        return [f"{key}={getattr(self, key)!r}" for key, allowed in VARIANTS.items()
                if getattr(self, key) != allowed[0]]


# Fields a checkpoint can only be resumed with (dropout may change between runs).
SHAPE_FIELDS = tuple(f.name for f in fields(ModelShape) if f.name != "dropout")


@dataclass
class GPTConfig(ModelShape):
    """Everything `GPT(config)` needs: the shape plus the tokenizer's vocabulary size."""

    vocab_size: int = 50257

    def __post_init__(self) -> None:
        if not isinstance(self.vocab_size, int) or isinstance(self.vocab_size, bool) or self.vocab_size <= 0:
            raise ValueError(f"GPTConfig.vocab_size must be a positive integer, got {self.vocab_size!r}")
        super().__post_init__()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GPTConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass
class TrainConfig(ModelShape):
    """Everything a training run needs beyond the model's shape: data, optimisation, schedule, logging."""

    init_from: str = "scratch"  # "scratch", a GPT-2 name ("gpt2", ...) or a Hugging Face folder
    # data
    tokenizer: str = "char"
    data_dir: str = ""  # "" = data/<corpus>_<tokenizer> under the project
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
    optimizer: str = "adamw"  # "adamw", or "muon": Muon for hidden matrices, AdamW for the rest (optim.py)
    muon_lr: float = 0.02  # Muon's peak learning rate; the schedule scales it like learning_rate
    muon_momentum: float = 0.95
    muon_weight_decay: float = 0.0  # decoupled decay of Muon's matrices, scaled by Muon's learning rate
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
        super().__post_init__()
        positive = ("batch_size", "grad_accum_steps", "max_iters", "eval_iters", "log_interval", "eval_interval")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"TrainConfig.{name} must be > 0, got {getattr(self, name)}")
        if not self.learning_rate > 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        for name in ("min_lr", "weight_decay", "grad_clip", "warmup_iters", "lr_decay_iters", "sample_tokens",
                     "checkpoint_interval", "vocab_size_target", "muon_weight_decay"):
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
        if self.optimizer not in ("adamw", "muon"):
            raise ValueError(f"TrainConfig.optimizer must be 'adamw' or 'muon', got {self.optimizer!r}")
        if not self.muon_lr > 0:
            raise ValueError(f"TrainConfig.muon_lr must be > 0, got {self.muon_lr}")
        if not 0.0 <= self.muon_momentum < 1.0:
            raise ValueError(f"TrainConfig.muon_momentum must be in [0, 1), got {self.muon_momentum}")
        if self.init_from != "scratch" and self.non_gpt2_fields():
            raise ValueError(f"init_from={self.init_from!r} loads GPT-2 weights, which have none of "
                             f"{', '.join(self.non_gpt2_fields())}; drop those overrides or train from scratch")

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The `GPTConfig` for this run, given the tokenizer's vocabulary size."""
        return GPTConfig(vocab_size=vocab_size, **self.shape())

    @property
    def tokens_per_step(self) -> int:
        return self.batch_size * self.block_size * self.grad_accum_steps

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        return cls(**check_overrides(d))


# Every preset names its whole shape: TrainConfig's own defaults are GPT-2 small's.
PRESETS: dict[str, dict] = {
    # The seed project's README table: Adam at a constant 1e-3, a sample at every log line.
    "seed": dict(
        batch_size=32, block_size=256, n_embd=512, n_layer=16, n_head=8, max_iters=15000, learning_rate=1e-3,
        lr_schedule="constant", warmup_iters=0, weight_decay=0.0, beta2=0.999, grad_clip=0.0, dropout=0.0,
        log_interval=100, sample_tokens=200, eval_interval=1000, bias=True,
    ),
    # The well-known single-GPU character-level recipe (about 10M parameters).
    "shakespeare_char": dict(
        n_layer=6, n_head=6, n_embd=384, block_size=256, batch_size=64, dropout=0.2, bias=False, learning_rate=1e-3,
        min_lr=1e-4, max_iters=5000, lr_decay_iters=5000, warmup_iters=100, beta2=0.99, eval_interval=250,
        eval_iters=200, log_interval=50, sample_tokens=200,
    ),
    # The best we found for 2 CPU cores in about 10 minutes (see docs/results.md).
    "cpu": dict(
        n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=32, dropout=0.0, bias=False, learning_rate=2e-3,
        min_lr=2e-4, max_iters=3000, warmup_iters=100, eval_interval=250, eval_iters=20, log_interval=100,
        sample_tokens=100,
    ),
    # Notebook 08's changes for 2 CPU cores: Muon, RoPE and QK-norm (the three that pay), ReLU² and untied
    # embeddings (free), batch 16; LayerNorm stays, as PyTorch fuses it and not RMSNorm. 1800 steps, about 7
    # minutes on 2 cores: val 1.87 after 200 steps, 1.60 after 900, 1.49 at the end (benchmarks/RESULTS.md).
    "modern": dict(
        n_layer=4, n_head=4, n_embd=128, block_size=128, batch_size=16, dropout=0.0, bias=False, pos_emb="rope",
        norm="layernorm", qk_norm=True, mlp="relu2", tie_embeddings=False, optimizer="muon", muon_lr=0.02,
        muon_momentum=0.95, learning_rate=2e-3, min_lr=2e-4, max_iters=1800, warmup_iters=50, eval_interval=100,
        eval_iters=10, log_interval=50, sample_tokens=0,
    ),
    # `modern` made to reach nanoGPT's GPU result (val 1.47) on 2 CPU cores: weight decay on Muon's matrices
    # (without it a longer run memorises), 6 layers, 256-token windows, batches of 16 × 256 and torch.compile
    # (both faster per token on a CPU). One evaluation, at the end, on enough windows for a standard error under 0.005
    # (notebook 08 section 9, benchmarks/speedrun_exploration.md; timings in benchmarks/RESULTS.md).
    "speedrun": dict(
        n_layer=6, n_head=4, n_embd=128, block_size=256, batch_size=16, dropout=0.0, bias=False, pos_emb="rope",
        norm="layernorm", qk_norm=True, mlp="relu2", tie_embeddings=False, optimizer="muon", muon_lr=0.02,
        muon_momentum=0.95, muon_weight_decay=0.4, learning_rate=2e-3, min_lr=2e-4, max_iters=2500,
        warmup_iters=50, eval_interval=2500, eval_iters=200, log_interval=100, sample_tokens=0, compile=True,
    ),
    # Fine-tune GPT-2 (124M) on Tiny Shakespeare: pretrained weights and tokenizer, a small LR, few steps.
    "finetune_shakespeare": dict(
        init_from="gpt2", tokenizer="gpt2", n_layer=12, n_head=12, n_embd=768, bias=True, block_size=256,
        batch_size=8, grad_accum_steps=4, dropout=0.1, max_iters=200, learning_rate=3e-5, min_lr=3e-6,
        warmup_iters=10, weight_decay=0.0, eval_interval=50, eval_iters=20, log_interval=10, sample_tokens=0,
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
        n_layer=2, n_head=2, n_embd=32, block_size=32, dropout=0.0, bias=False, batch_size=8, max_iters=40,
        learning_rate=3e-3, min_lr=3e-4, warmup_iters=5, eval_interval=20, eval_iters=4, log_interval=10,
        sample_tokens=0,
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


TRUE_WORDS, FALSE_WORDS = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def env_flag(name: str) -> bool:
    """An on/off environment variable (`NANOGPT_FAST`, `CI`): off when unset, empty or one of 0/false/no/off,
    on for anything else (CI services set CI=true, others CI=1)."""
    return os.environ.get(name, "").strip().lower() not in ("", *FALSE_WORDS)


def field_type(name: str) -> type:
    """The Python type of TrainConfig field `name` (bool, int, float or str), read from its default."""
    check_overrides({name: None})
    return type(TrainConfig.__dataclass_fields__[name].default)


def parse_value(name: str, text: str):
    """The typed value of `name=text`: the one parser behind every `--field VALUE` and `key=value` override.

    Booleans take 1/true/yes/on or 0/false/no/off; anything else is refused with a message.
    """
    kind = field_type(name)
    if kind is bool:
        word = str(text).strip().lower()
        if word in TRUE_WORDS or word in FALSE_WORDS:
            return word in TRUE_WORDS
        raise ValueError(f"{name} takes true or false (1/0, yes/no, on/off), got {text!r}")
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} takes a value of type {kind.__name__}, got {text!r}") from None


def parse_overrides(items: list[str]) -> dict:
    """`["n_layer=2", "bias=on"]` → `{"n_layer": 2, "bias": True}`, typed and checked like the CLI's options."""
    out = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"override {item!r} must look like key=value (e.g. n_layer=2)")
        out[ALIASES.get(key, key)] = parse_value(ALIASES.get(key, key), text)
    return out


def get_config(preset: str = "cpu", **overrides) -> TrainConfig:
    """The named preset with `overrides` applied on top; unknown presets and fields are refused."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; valid presets: {', '.join(PRESETS)}")
    return TrainConfig(**{**PRESETS[preset], **check_overrides(overrides)})
