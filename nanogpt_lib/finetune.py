"""Supervised fine-tuning (SFT) of a pretrained GPT into a chat model: grow its vocabulary for the chat tokens,
train on conversations with the loss on the assistant's tokens only, and measure what it forgot (notebook 10).

    base GPT (65 characters) → grow_vocab (+3 rows) → sft on rendered conversations → chat model

**The masked loss.** A conversation is rendered to ids `s_0 … s_n` (`ChatTokenizer.render_with_mask`), the
inputs are `x = s_0 … s_{n-1}` and position t is trained to predict `s_{t+1}`, exactly as in pretraining.
But only the tokens the assistant writes count: `y_t = s_{t+1}` where the assistant wrote `s_{t+1}`, else
`y_t = -1`, which the cross-entropy ignores (`ignore_index=-1`, as in `model.lm_loss`). So the loss is the mean
of `-log p(s_{t+1} | s_≤t)` over the assistant's tokens: the model learns to answer, not to imitate the user's
questions. `show_loss_mask` prints which positions count. Conversations of different lengths are padded on
the right (`pad_batch`), in micro-batches of similar length (`sft_backward`).

Optimisation reuses `train.py`: AdamW (`make_optimizer`), warmup + cosine (`lr_at`), `autocast`, clipping.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .chat import ChatTokenizer, Message
from .checkpoint import build_checkpoint, rng_state
from .config import TrainConfig
from .device import DTYPES, autocast
from .evaluate import sliding_window_nats
from .history import History
from .model import GPT
from .sampling import eval_mode
from .tokenizers import Tokenizer
from .train import lr_at, make_optimizer

Conversation = Sequence[Message]


# ---------------------------------------------------------------------------------------------------------
# New tokens need new rows.


def new_rows(weight: torch.Tensor, n: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    """`n` rows for `weight` (vocab, n_embd): the mean of its rows, plus `noise` times their spread per feature.

    Mean: a new input row reads like an average token, a vector the layers above already handle; a new output
    row gives a logit h·mean(w) = mean_v(h·w_v), the average of the old logits, so the new tokens start neither
    impossible nor dominant, and the grown model predicts old text almost as before (Hewitt, 2021). The noise
    tells the new tokens apart from the first step (identical rows give identical logits).
    """
    spread = weight.std(dim=0)
    z = torch.randn(n, weight.size(1), generator=generator).to(weight.device, weight.dtype)
    return weight.mean(dim=0) + noise * spread * z


@torch.no_grad()
def grow_vocab(model: GPT, vocab_size: int, noise: float = 0.1, seed: int = 0) -> GPT:
    """A copy of `model` whose vocabulary has `vocab_size` tokens: the token embedding and the LM head get new
    rows (`new_rows`); every old row, and so every old token's logit, is unchanged.

    With tied embeddings (GPT-2) the LM head *is* the embedding matrix, so it grows once and stays tied; with
    untied ones (the `modern` preset) each matrix gets its own new rows. `model` itself is not changed.
    """
    old = model.config.vocab_size
    if vocab_size < old:
        raise ValueError(f"grow_vocab cannot shrink a vocabulary of {old} tokens to {vocab_size}")
    grown = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed)
    wte, head = grown.transformer.wte, grown.lm_head
    tied = head.weight is wte.weight
    wte.weight = nn.Parameter(torch.cat([wte.weight, new_rows(wte.weight, vocab_size - old, noise, gen)]))
    head.weight = wte.weight if tied else nn.Parameter(
        torch.cat([head.weight, new_rows(head.weight, vocab_size - old, noise, gen)]))
    wte.num_embeddings = head.out_features = vocab_size
    grown.config = replace(model.config, vocab_size=vocab_size)
    grown.vocab_size = vocab_size
    return grown


def chat_model(model: GPT, base: Tokenizer, seed: int = 0) -> tuple[GPT, ChatTokenizer]:
    """The chat tokenizer over `base` (a base tokenizer, or already a ChatTokenizer) and `model` grown to fit it."""
    tokenizer = base if isinstance(base, ChatTokenizer) else ChatTokenizer(base)
    if model.config.vocab_size == tokenizer.vocab_size:
        return model, tokenizer
    return grow_vocab(model, tokenizer.vocab_size, seed=seed), tokenizer


# ---------------------------------------------------------------------------------------------------------
# Conversations → (inputs, masked targets) → padded batches.


def conversation_tensors(tokenizer: ChatTokenizer, messages: Conversation) -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs `x = s[:-1]` and targets `y = s[1:]` of one rendered conversation `s`, with `y_t = -1` wherever
    the token to predict, `s_{t+1}`, was not written by the assistant."""
    ids, written = tokenizer.render_with_mask(messages)
    x = torch.tensor(ids[:-1])
    y = torch.tensor([t if by_assistant else -1 for t, by_assistant in zip(ids[1:], written[1:])])
    return x, y


def check_fits(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], block_size: int) -> None:
    """Refuse conversations longer than the model's window (+1: the last token is only ever a target)."""
    longest = max(len(x) for x, _ in pairs)
    if longest > block_size:
        raise ValueError(f"a conversation of {longest + 1} tokens does not fit the model's window of {block_size}: "
                         "use shorter tasks or a model with a larger block_size")


def pad_batch(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int,
              block_size: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length `(x, y)` pairs into `(B, T)` tensors, padding on the right: inputs with `pad_id`,
    targets with -1. Attention is causal, so padding after a sequence never changes what its real positions
    compute, and its targets are ignored: the loss is exactly that of the unpadded sequences."""
    T = max(len(x) for x, _ in pairs)
    if block_size is not None:
        check_fits(pairs, block_size)
    x = torch.full((len(pairs), T), pad_id, dtype=torch.long)
    y = torch.full((len(pairs), T), -1, dtype=torch.long)
    for i, (xi, yi) in enumerate(pairs):
        x[i, : len(xi)], y[i, : len(yi)] = xi, yi
    return x, y


def show_loss_mask(tokenizer: ChatTokenizer, x: torch.Tensor, y: torch.Tensor) -> str:
    """Two aligned lines for one row of a batch: what each position reads, and what it is trained to predict
    (`·` where the target is -1: no loss there). Padding at the end is left out."""
    reads, learns = [], []
    for xi, yi in zip(x.tolist(), y.tolist()):
        a = tokenizer.decode([xi]).replace("\n", "⏎")
        b = tokenizer.decode([yi]).replace("\n", "⏎") if yi >= 0 else "·"
        width = max(len(a), len(b))
        reads.append(a.ljust(width))
        learns.append(b.ljust(width))
    last = max((i for i, yi in enumerate(y.tolist()) if yi >= 0), default=len(reads) - 1)
    return f"reads   : {''.join(reads[: last + 1]).rstrip()}\npredicts: {''.join(learns[: last + 1]).rstrip()}"


@torch.no_grad()
def assistant_loss(model: nn.Module, tokenizer: ChatTokenizer, conversations: Sequence[Conversation],
                   batch_size: int = 64) -> float:
    """Mean cross-entropy over the assistant's tokens of `conversations` (the SFT objective), in eval mode."""
    device = next(model.parameters()).device
    pairs = [conversation_tensors(tokenizer, c) for c in conversations]
    nats, count = 0.0, 0
    with eval_mode(model):
        for i in range(0, len(pairs), batch_size):
            x, y = pad_batch(pairs[i : i + batch_size], tokenizer.end_id, model.config.block_size)
            logits, _ = model(x.to(device))
            nats += F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), ignore_index=-1,
                                    reduction="sum").item()
            count += int((y >= 0).sum())
    return nats / count


def text_loss(model: nn.Module, ids: torch.Tensor | np.ndarray, max_tokens: int = 20_000) -> float:
    """Mean next-token loss on the first `max_tokens` of `ids` (e.g. `corpus.val`, the Shakespeare the base
    model was validated on), in non-overlapping windows: measured before and after fine-tuning, it says how
    much of its pretraining the model forgot. A grown model also spends a little probability on its new tokens."""
    ids = torch.as_tensor(np.asarray(ids[:max_tokens], dtype=np.int64))
    nats, count = sliding_window_nats(model, ids)
    return nats / count


# ---------------------------------------------------------------------------------------------------------
# The SFT loop.


@dataclass
class SFTConfig:
    """Settings of a supervised fine-tuning run (AdamW, warmup then cosine decay to `min_lr`)."""

    steps: int = 600
    batch_size: int = 32  # conversations per step
    learning_rate: float = 1e-3
    min_lr: float = 1e-4
    warmup_steps: int = 20
    weight_decay: float = 0.0  # a short fine-tune: no pull of the pretrained weights towards zero
    grad_clip: float = 1.0
    seed: int = 0
    dtype: str = "float32"
    micro_batches: int = 4  # each step's conversations in this many groups of similar length (`sft_backward`)
    log_interval: int = 50
    optimizer: str = "adamw"  # or "muon": Muon (at muon_lr) for the blocks' matrices, AdamW for the rest
    muon_lr: float = 0.02

    def train_config(self) -> TrainConfig:
        """The `TrainConfig` that `train.make_optimizer` and `train.lr_at` read (its model fields are unused)."""
        return TrainConfig(optimizer=self.optimizer, muon_lr=self.muon_lr, learning_rate=self.learning_rate,
                           min_lr=self.min_lr, warmup_iters=self.warmup_steps, max_iters=self.steps,
                           weight_decay=self.weight_decay, grad_clip=self.grad_clip, seed=self.seed, dtype=self.dtype)

    def to_dict(self) -> dict:
        return asdict(self)


def sft_backward(model: GPT, batch: Sequence[tuple[torch.Tensor, torch.Tensor]], pad_id: int, groups: int = 1,
                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Forward and backward for one step's `(x, y)` pairs; returns the loss: the mean over the assistant's tokens.

    Padding is wasted work, and the tasks' conversations differ in length (a speaker line is three times as long
    as a word), so the pairs are sorted by length and cut into `groups` micro-batches, each padded only to its
    own longest. Each group's summed loss is divided by the whole batch's number of assistant tokens, so the
    gradients add up to exactly those of one padded batch.
    """
    device = next(model.parameters()).device
    batch = sorted(batch, key=lambda pair: len(pair[0]))
    n_targets = sum(int((y >= 0).sum()) for _, y in batch)
    size = math.ceil(len(batch) / groups)
    loss = torch.zeros((), device=device)
    for i in range(0, len(batch), size):
        x, y = pad_batch(batch[i : i + size], pad_id)
        with autocast(device, dtype):
            logits, _ = model(x.to(device))
        part = F.cross_entropy(logits.flatten(0, 1).float(), y.to(device).flatten(), ignore_index=-1,
                               reduction="sum") / n_targets
        part.backward()
        loss += part.detach()
    return loss


def sft(model: GPT, tokenizer: ChatTokenizer, conversations: Sequence[Conversation], cfg: SFTConfig,
        callback: Callable[[int, History], None] | None = None) -> History:
    """Fine-tune `model` in place on `conversations` with the loss on the assistant's tokens; return the history.

    Each step draws `batch_size` conversations (with replacement, from a generator seeded by `cfg.seed`), runs
    them forward and backward (`sft_backward`) and takes one AdamW step. Seeded and reproducible on CPU: the
    same inputs give the same weights. `callback(step, history)` runs every `log_interval` steps and at the end.
    """
    if not conversations:
        raise ValueError("sft needs at least one conversation")
    device = next(model.parameters()).device
    dtype = DTYPES[cfg.dtype]
    tcfg = cfg.train_config()
    pairs = [conversation_tensors(tokenizer, c) for c in conversations]  # rendered once, drawn many times
    check_fits(pairs, model.config.block_size)  # refuse conversations that do not fit now, not at step 1000
    optimizer = make_optimizer(model, tcfg, device.type)
    gen = torch.Generator().manual_seed(cfg.seed)
    torch.manual_seed(cfg.seed)  # dropout masks, if the model has dropout
    history, pending = History(), []
    model.train()
    for step in range(cfg.steps):
        lr = lr_at(step, tcfg)
        for group in optimizer.param_groups:
            group["lr"] = lr
        pick = torch.randint(len(pairs), (cfg.batch_size,), generator=gen).tolist()
        loss = sft_backward(model, [pairs[i] for i in pick], tokenizer.end_id, cfg.micro_batches, dtype)
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        history.step.append(step)
        history.lr.append(lr)
        pending.append(loss.detach())
        if (step + 1) % cfg.log_interval == 0 or step + 1 == cfg.steps:
            history.train_loss += torch.stack(pending).float().tolist()  # one device→host copy per log step
            pending.clear()
            if not math.isfinite(history.train_loss[-1]):
                raise ValueError(f"the SFT loss became {history.train_loss[-1]} at step {step + 1}; "
                                 "try a lower learning_rate")
            if callback:
                callback(step + 1, history)
    model.eval()
    return history


def chat_checkpoint(model: GPT, tokenizer: ChatTokenizer, history: History, config: dict, info: dict) -> dict:
    """A fine-tuned model as a `checkpoint.build_checkpoint` dict, loadable by `checkpoint.load_model`.

    Fine-tuning runs are short and start over rather than resume, so no optimizer state is kept (and the random
    states are there only because the format asks for them); `config` is the stage's settings (as
    `train_config`) and `info` says what the run was (stage, source run, tasks, held-out scores), under `data`.
    """
    return build_checkpoint(
        step=len(history.step), model=model.state_dict(), model_config=model.config.to_dict(), train_config=config,
        optimizer={}, scaler={}, best_val_loss=math.inf, tokenizer=tokenizer, history=history,
        rng=[rng_state({"generator": torch.Generator().get_state()})], data=info,
    )


def save_chat_run(out_dir, model: GPT, tokenizer: ChatTokenizer, history: History, config: dict, info: dict,
                  force: bool = False) -> None:
    """Write a fine-tuned model as a run folder (`ckpt.pt` = `best.pt`, `config.json`, `tokenizer.json`,
    `data.json`, `history.json`) through `checkpoint.RunFolder`, as `nanogpt finetune` does: `nanogpt chat
    --out-dir` then talks to it. An existing run is refused unless `force`."""
    from .checkpoint import RunFolder

    with RunFolder(out_dir) as run:
        run.open(resume=False, force=force)
        run.describe_run(config, tokenizer, info)
        run.save(chat_checkpoint(model, tokenizer, history, config, info), improved=True)
        history.save(run.path / "history.json")
