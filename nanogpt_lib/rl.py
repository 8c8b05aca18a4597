r"""The second stage: reinforcement learning with verifiable rewards (GRPO), and DPO, on top of SFT (notebook 10).

**GRPO** (Shao et al., 2024, DeepSeekMath), one step:

1. draw P prompts; sample a group of G replies to each from the current policy π (temperature 1, KV cache,
   stop at `<|end|>`, at most `max_new_tokens`);
2. reward each reply with the exact checker: r = 1 if correct, else 0;
3. advantage of reply i in its group: A_i = r_i − mean(r_group) (optionally / std(r_group)): better than
   its siblings → pushed up, worse → pushed down; a group whose replies all score the same teaches nothing;
4. loss, averaged over every reply token t of every reply i:

       L = mean_{i,t} [ −A_i · log π(a_t | prompt, a_<t)  +  β · k3_t ]
       k3_t = ρ_t − log ρ_t − 1,   ρ_t = π_ref(a_t) / π(a_t)

   The first term is the policy gradient (REINFORCE with the group mean as baseline). The replies are used for
   one optimizer step only, so they are on-policy and PPO's ratio clipping would never act: it is left out.
   The second is a KL penalty towards the SFT model π_ref, with Schulman's k3 estimator (as GRPO uses): from
   the sampled token alone it estimates KL(π‖π_ref) without bias, and is never negative. Each step also logs
   the exact KL over the whole vocabulary at the same positions, which the small vocabulary makes cheap.

**What can go wrong, and how it shows:** KL drift (`kl` grows), forgetting (`finetune.text_loss` on
Shakespeare before/after), and reward hacking: the exact checker gives nothing for a near miss, so it cannot
be gamed, but a looser reward can (`prefix_reward`, kept here as the cautionary example: an empty reply is
a prefix of every answer, and replies shrink to nothing; watch `length`).

**DPO** (Rafailov et al., 2023) learns from pairs instead, with no sampling during training:
L = −log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]) for a preferred reply y_w
(correct) and a rejected one y_l (wrong), built from the SFT model's own samples (`preference_pairs`).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from .chat import ChatTokenizer, generate_replies
from .finetune import pad_batch
from .model import GPT
from .tasks import Example, check

Reward = Callable[[Example, str, bool], float]


def exact_reward(example: Example, reply: str, finished: bool) -> float:
    """1 for a finished reply that the exact checker accepts, else 0."""
    return float(finished and check(example, reply))


def prefix_reward(example: Example, reply: str, finished: bool) -> float:
    """A FLAWED reward, for demonstrating reward hacking: 1 when the reply is a prefix of the answer ("partial
    credit for a correct start"). The empty reply is a prefix of every answer, so a policy that stops at once
    collects full reward while solving nothing."""
    return float(finished and example.answer.startswith(reply))


def group_advantages(rewards: torch.Tensor, scale: bool = False, eps: float = 1e-4) -> torch.Tensor:
    """A = r − mean(r) within each group (row) of `rewards` (P, G); with `scale`, divided by the group's standard
    deviation (GRPO's original form; without it, Dr. GRPO's, which does not favour groups that are almost all
    right or almost all wrong)."""
    adv = rewards - rewards.mean(dim=1, keepdim=True)
    if scale:
        adv = adv / (rewards.std(dim=1, keepdim=True) + eps)
    return adv


def kl_k3(logp: torch.Tensor, ref_logp: torch.Tensor) -> torch.Tensor:
    """Schulman's k3 estimate of KL(π‖π_ref) from log-probabilities of tokens sampled from π:
    ρ − log ρ − 1 with ρ = π_ref/π. Unbiased (E_π[ρ] = 1) and ≥ 0 for every sample."""
    log_ratio = ref_logp - logp
    return log_ratio.exp() - log_ratio - 1


def reply_batch(tokenizer: ChatTokenizer, prompts: Sequence[Sequence[int]],
                replies: Sequence[tuple[Sequence[int], bool]], block_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Teacher-forcing tensors for prompt + reply (+ `<|end|>` when the reply finished): targets are the reply's
    tokens, -1 on the prompt and padding, as in SFT."""
    pairs = []
    for prompt, (reply, finished) in zip(prompts, replies):
        written = list(reply) + ([tokenizer.end_id] if finished else [])
        ids = list(prompt) + written
        x = torch.tensor(ids[:-1])
        y = torch.tensor([-1] * (len(prompt) - 1) + written)
        pairs.append((x, y))
    return pad_batch(pairs, tokenizer.end_id, block_size)


def target_logprobs(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """log p(y_t) at every position (0 where y = -1) and the full log-distribution (B, T, vocab)."""
    logp_all = F.log_softmax(model(x)[0].float(), dim=-1)
    logp = logp_all.gather(-1, y.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return logp * (y >= 0), logp_all


@dataclass
class RLConfig:
    """Settings of a GRPO run."""

    steps: int = 100
    prompts_per_step: int = 8  # P
    group_size: int = 8  # G replies per prompt
    temperature: float = 1.0  # 1: the samples come from π itself, which the policy gradient assumes
    max_new_tokens: int = 16
    learning_rate: float = 1e-4
    kl_coef: float = 0.05  # β
    scale_advantage: bool = False  # divide A by the group's std (GRPO) or not (Dr. GRPO)
    grad_clip: float = 1.0
    seed: int = 0
    log_interval: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def frozen_copy(model: nn.Module) -> nn.Module:
    """A copy of `model` in eval mode with no gradients: the reference π_ref."""
    ref = copy.deepcopy(model).eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def grpo_step(policy: GPT, reference: nn.Module, optimizer: torch.optim.Optimizer, tokenizer: ChatTokenizer,
              examples: Sequence[Example], cfg: RLConfig, generator: torch.Generator,
              reward_fn: Reward = exact_reward) -> dict:
    """One GRPO step on `examples` (the step's P prompts); returns what it measured."""
    device = next(policy.parameters()).device
    one_each = [tokenizer.render_prompt(e.conversation(with_answer=False)) for e in examples]
    prompts = [p for p in one_each for _ in range(cfg.group_size)]
    group_of = [e for e in examples for _ in range(cfg.group_size)]
    replies = generate_replies(policy, tokenizer, prompts, cfg.max_new_tokens, cfg.temperature, generator=generator)
    texts = [tokenizer.decode(ids) for ids, _ in replies]
    rewards = torch.tensor([reward_fn(e, t, done) for e, t, (_, done) in zip(group_of, texts, replies)])
    correct = torch.tensor([float(done and check(e, t)) for e, t, (_, done) in zip(group_of, texts, replies)])
    grouped = rewards.view(len(examples), cfg.group_size)
    adv = group_advantages(grouped, cfg.scale_advantage).flatten().to(device)

    x, y = reply_batch(tokenizer, prompts, replies, policy.config.block_size)
    x, y = x.to(device), y.to(device)
    mask = (y >= 0).float()
    policy.train()
    logp, logp_all = target_logprobs(policy, x, y)
    with torch.no_grad():
        ref_logp, ref_all = target_logprobs(reference, x, y)
    k3 = kl_k3(logp, ref_logp)
    per_token = -adv[:, None] * logp + cfg.kl_coef * k3
    n_tokens = mask.sum().clamp(min=1)
    loss = (per_token * mask).sum() / n_tokens
    loss.backward()
    if cfg.grad_clip > 0:
        nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        kl_exact = (logp_all.exp() * (logp_all - ref_all)).sum(-1)  # Σ_v π(v) log(π(v)/π_ref(v)) per position
        return {
            "loss": loss.item(), "reward": rewards.mean().item(), "correct": correct.mean().item(),
            "kl": ((kl_exact * mask).sum() / n_tokens).item(), "kl_k3": ((k3 * mask).sum() / n_tokens).item(),
            "length": sum(len(ids) for ids, _ in replies) / len(replies),
            "finished": sum(done for _, done in replies) / len(replies),
            "flat_groups": (grouped.std(dim=1) == 0).float().mean().item(),  # groups with no signal
        }


def grpo(policy: GPT, tokenizer: ChatTokenizer, examples: Sequence[Example], cfg: RLConfig,
         reference: nn.Module | None = None, reward_fn: Reward = exact_reward,
         callback: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train `policy` in place with GRPO on prompts drawn from `examples`; return one dict of measurements per
    step (`loss`, `reward`, `correct`, `kl`, `kl_k3`, `length`, `finished`, `flat_groups`).

    `reference` defaults to a frozen copy of `policy` as it is now (the SFT model). The optimizer is AdamW
    with a constant learning rate and no weight decay. Prompts are drawn with a generator seeded by `cfg.seed`
    and sampling uses another, so a run is reproducible on CPU. `callback(step, log)` runs every
    `log_interval` steps and at the end.
    """
    if cfg.temperature <= 0:
        raise ValueError("GRPO samples its groups: temperature must be > 0 (1 samples from the policy itself)")
    if cfg.group_size < 2:
        raise ValueError("GRPO compares replies within a group: group_size must be at least 2")
    reference = reference if reference is not None else frozen_copy(policy)
    device = next(policy.parameters()).device
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99), weight_decay=0.0)
    rng, examples = random.Random(cfg.seed), list(examples)
    sample_gen = torch.Generator(device=device).manual_seed(cfg.seed)
    logs = []
    for step in range(cfg.steps):
        batch = rng.sample(examples, min(cfg.prompts_per_step, len(examples)))
        logs.append(grpo_step(policy, reference, optimizer, tokenizer, batch, cfg, sample_gen, reward_fn))
        if callback and ((step + 1) % cfg.log_interval == 0 or step + 1 == cfg.steps):
            callback(step + 1, logs[-1])
    policy.eval()
    return logs


# ---------------------------------------------------------------------------------------------------------
# DPO: preferences instead of rewards.


def dpo_loss(logp_chosen: torch.Tensor, logp_rejected: torch.Tensor, ref_chosen: torch.Tensor,
             ref_rejected: torch.Tensor, beta: float = 0.1) -> torch.Tensor:
    """−log σ(β[(log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))]), averaged over pairs; the
    arguments are log-probabilities of whole replies (sums over their tokens)."""
    margin = (logp_chosen - ref_chosen) - (logp_rejected - ref_rejected)
    return -F.logsigmoid(beta * margin).mean()


@torch.no_grad()
def preference_pairs(model: GPT, tokenizer: ChatTokenizer, examples: Sequence[Example], samples: int = 8,
                     temperature: float = 1.0, max_new_tokens: int = 16,
                     seed: int = 0) -> list[tuple[Example, list[int], list[int]]]:
    """(example, chosen reply ids, rejected reply ids) from `samples` replies of `model` to each example: the
    chosen one is a correct sample (the reference answer when none is), the rejected one a wrong sample that
    ended with `<|end|>`. Examples with no such wrong sample give no pair. Replies are ids without `<|end|>`."""
    gen = torch.Generator(device=next(model.parameters()).device).manual_seed(seed)
    prompts = [tokenizer.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(samples)]
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens, temperature, generator=gen)
    pairs = []
    for i, e in enumerate(examples):
        group = replies[i * samples : (i + 1) * samples]
        right = [ids for ids, done in group if done and check(e, tokenizer.decode(ids))]
        wrong = [ids for ids, done in group if done and not check(e, tokenizer.decode(ids))]
        if wrong:
            pairs.append((e, right[0] if right else tokenizer.encode(e.answer), wrong[0]))
    return pairs


def reply_logprob(model: nn.Module, tokenizer: ChatTokenizer, examples: Sequence[Example],
                  replies: Sequence[Sequence[int]]) -> torch.Tensor:
    """log π(reply + <|end|> | prompt) of each finished reply: the sum over its tokens."""
    prompts = [tokenizer.render_prompt(e.conversation(with_answer=False)) for e in examples]
    x, y = reply_batch(tokenizer, prompts, [(r, True) for r in replies], model.config.block_size)
    device = next(model.parameters()).device
    logp, _ = target_logprobs(model, x.to(device), y.to(device))
    return logp.sum(dim=1)


@dataclass
class DPOConfig:
    """Settings of a DPO run over fixed preference pairs."""

    steps: int = 100
    batch_size: int = 16  # pairs per step
    learning_rate: float = 1e-4
    beta: float = 0.1
    grad_clip: float = 1.0
    seed: int = 0
    log_interval: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def dpo(policy: GPT, tokenizer: ChatTokenizer, pairs: Sequence[tuple[Example, list[int], list[int]]],
        cfg: DPOConfig, reference: nn.Module | None = None,
        callback: Callable[[int, dict], None] | None = None) -> list[dict]:
    """Train `policy` in place with the DPO loss on `pairs` (from `preference_pairs`); one dict per step:
    `loss`, and `margin`, the mean of (log π(y_w) − log π_ref(y_w)) − (log π(y_l) − log π_ref(y_l))."""
    if not pairs:
        raise ValueError("dpo needs at least one preference pair")
    reference = reference if reference is not None else frozen_copy(policy)
    optimizer = torch.optim.AdamW(policy.parameters(), lr=cfg.learning_rate, betas=(0.9, 0.99), weight_decay=0.0)
    rng, pairs = random.Random(cfg.seed), list(pairs)
    logs = []
    policy.train()
    for step in range(cfg.steps):
        batch = rng.sample(pairs, min(cfg.batch_size, len(pairs)))
        exs, chosen, rejected = [b[0] for b in batch], [b[1] for b in batch], [b[2] for b in batch]
        lc = reply_logprob(policy, tokenizer, exs, chosen)
        lr_ = reply_logprob(policy, tokenizer, exs, rejected)
        with torch.no_grad():
            rc = reply_logprob(reference, tokenizer, exs, chosen)
            rr = reply_logprob(reference, tokenizer, exs, rejected)
        loss = dpo_loss(lc, lr_, rc, rr, cfg.beta)
        loss.backward()
        if cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(policy.parameters(), cfg.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        logs.append({"loss": loss.item(), "margin": ((lc - rc) - (lr_ - rr)).mean().item()})
        if callback and ((step + 1) % cfg.log_interval == 0 or step + 1 == cfg.steps):
            callback(step + 1, logs[-1])
    policy.eval()
    return logs
