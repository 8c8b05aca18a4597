# ---
# jupyter:
#   jupytext:
#     notebook_metadata_filter: -jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/student/10_chat_model.ipynb) (student edition: the exercises to fill in) · [teacher edition, with solutions](https://colab.research.google.com/github/nanogpt-notebooks/nanogpt-notebooks/blob/main/notebooks/10_chat_model.ipynb)
#
# # 10 · From GPT to a chat model
#
# Our GPT continues text: give it `ROMEO:` and it writes a speech. ChatGPT answers questions. The step between
# the two is not a new architecture: it is the same network, trained further on **conversations**, first by
# imitating correct replies (supervised fine-tuning, SFT), then by trying replies and being rewarded for the
# good ones (reinforcement learning). This notebook does both to the character-level GPT of notebook 08, on
# tasks generated from Tiny Shakespeare whose answers a program can check exactly, and measures every step
# on questions the model never saw.
#
# **You will learn**
# - how a chat is turned into tokens: special tokens for the roles, a template, rendering and parsing;
# - how to give an existing model new tokens without disturbing what it knows;
# - supervised fine-tuning with the loss **masked** to the assistant's tokens, and why;
# - GRPO, reinforcement learning with verifiable rewards: the loss derived from the policy gradient, the group
#   baseline, the KL penalty, built by hand;
# - how to measure a chat model honestly (held-out questions, several seeds, confidence intervals, transcripts
#   picked by a rule), and what goes wrong (KL drift, forgetting, reward hacking);
# - what carries over from this toy to the real recipe, and what does not.
#
# **You need** from 04: the `GPT` and `train`; from 07: the KV cache and fine-tuning; from 08: the `modern`
# preset.

# %%
# In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
import sys

if "google.colab" in sys.modules:
    # %pip install -q "git+https://github.com/nanogpt-notebooks/nanogpt-notebooks"

from nanogpt_lib.notebook import setup

setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)

# %%
import copy
import statistics
import subprocess
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch.nn import functional as F

from nanogpt_lib import PRESETS, get_config, load_corpus, load_model_and_tokenizer, pick, train
from nanogpt_lib.chat import ChatTokenizer, Message, generate_replies
from nanogpt_lib.finetune import (
    SFTConfig,
    assistant_loss,
    chat_model,
    conversation_tensors,
    save_chat_run,
    sft,
    text_loss,
)
from nanogpt_lib.history import History
from nanogpt_lib.plot import diagrams
from nanogpt_lib.plot.widgets import chat_widget
from nanogpt_lib.rl import RLConfig, exact_reward, frozen_copy, group_advantages, grpo, grpo_step, kl_k3, prefix_reward
from nanogpt_lib.tasks import (
    TASKS,
    answer_cap,
    check,
    dataset_stats,
    format_stats,
    format_transcript,
    grade,
    is_heldout,
    make_examples,
    task_source,
    wilson_interval,
)

corpus = load_corpus()
workdir = Path("runs") / "10_chat_model"  # this notebook's run folders, beside it (git-ignored)
diagrams.chat_pipeline()

# %% [markdown]
# The whole notebook in one picture. Every stage starts from the one before: we never train a chat model
# from scratch. The settings of every stage are in the next cell; in fast mode (the test suite) all of them
# shrink to seconds, and the numbers below then say nothing about the method.

# %%
SEEDS = (0, 1, 2)  # every fine-tuning stage runs with each seed
S = dict(
    pretrain_steps=pick(real=900, fast=60),
    train_per_task=pick(real=2000, fast=200),  # generated training examples per task
    test_per_task=pick(real=200, fast=12),  # held-out examples per task, scored after every stage
    sft_steps=pick(real=600, fast=12),
    grpo_steps=pick(real=60, fast=3),
    grpo_prompts=pick(real=8, fast=4),  # P prompts per step ...
    grpo_group=pick(real=8, fast=4),  # ... x G sampled replies to each
    hack_steps=pick(real=30, fast=3),  # the reward-hacking demonstration
)
print(", ".join(f"{k}={v}" for k, v in S.items()), f"; seeds {SEEDS}")

# %% [markdown]
# ## 1. The base model
#
# The `modern` preset of notebook 08 (4 layers, 128-wide, a 128-character window, Muon), trained on Tiny
# Shakespeare for fewer steps than the preset's 1800, to leave time for the rest. If you trained one yourself
# (`nanogpt train --preset modern --out-dir runs/modern`), put its run folder in `RUN_FOLDER`. Fast mode
# trains the `tiny` shape with a 128-character window instead (the tiny preset's own window holds only the
# shortest conversations).

# %%
RUN_FOLDER = None  # e.g. "runs/modern": a character-level model of Tiny Shakespeare with a 128-token window

if RUN_FOLDER:
    base, base_tok, source = load_model_and_tokenizer(RUN_FOLDER)
    assert base_tok.to_dict() == corpus.tokenizer.to_dict(), "this notebook reads a character-level model"
else:
    cfg = pick(real=get_config("modern", max_iters=S["pretrain_steps"], eval_interval=300, eval_iters=10),
               fast=get_config("tiny", block_size=128, max_iters=S["pretrain_steps"], eval_interval=30))
    started = time.time()
    result = train(cfg, corpus, progress=False, verbose=False)
    base, base_tok = result.model.cpu().eval(), corpus.tokenizer
    source = (f"trained here for {cfg.max_iters} steps in {time.time() - started:.0f} s, "
              f"val loss {result.history.eval_val_loss[-1]:.3f}")
c = base.config
print(f"{c.n_layer} layers, n_embd {c.n_embd}, window {c.block_size} tokens, {base.num_params():,} parameters; "
      f"{source} (the preset trains {PRESETS['modern']['max_iters']} steps)")

# %% [markdown]
# ## 2. Tasks with answers a program can check
#
# A chat model needs conversations to learn from, and we need a way to tell a right reply from a wrong one
# without a human. So the tasks are generated by code (`nanogpt_lib.tasks`), from the corpus itself, each with
# exactly one correct reply:
#
# | task | the user says | the assistant answers | what it takes |
# |---|---|---|---|
# | `reverse` | `spell backwards: romeo` | `oemor` | read the word back to front |
# | `capitals` | `capitals: romeo` | `ROMEO` | a fixed change per character |
# | `count` | `how many letters in romeo?` | `five` | count, and name the number |
# | `speaker` | `who says this, ROMEO or JULIET? <a line>` | `ROMEO` | know who speaks how |
#
# The checker is strict: the reply must equal the answer character for character and end with `<|end|>`.
# Tiny Shakespeare has no digits (but `3`), so numbers are words.
#
# **Held out by content.** The test questions must be about words the model never practised on. A hash of the
# word (or the line) decides its split, once and for all: 20% of the words and lines are test-only, in every
# task and for every seed.

# %%
src = task_source()
share = len(src.words["test"]) / (len(src.words["train"]) + len(src.words["test"]))
print(f"words (3-8 letters): {len(src.words['train']):,} train, {len(src.words['test']):,} test ({share:.1%}); "
      f"speaker lines: {len(src.lines['train']):,} train, {len(src.lines['test']):,} test, "
      f"of {len(src.speakers)} speakers")
train_set = make_examples("train", S["train_per_task"], seed=0)
test_set = make_examples("test", S["test_per_task"], seed=0)
for task in TASKS:
    e = next(e for e in train_set if e.task == task)
    print(f"{task:9} user: {e.prompt!r:60} assistant: {e.answer!r}")
print(f"digits in the corpus: {[ch for ch in base_tok.decode(range(base_tok.vocab_size)) if ch.isdigit()]}")
overlap = {e.unit for e in train_set} & {e.unit for e in test_set}
print(f"\ntraining examples: {len(train_set):,}; held-out: {len(test_set):,}; units in both: {len(overlap)}")
print("\ntraining set\n" + format_stats(dataset_stats(train_set)))
print("\nheld-out set\n" + format_stats(dataset_stats(test_set)))

# %% [markdown]
# Read the last column before any training: it is the accuracy of a model that always gives the most common
# answer, the floor every model must beat (for `speaker`, always naming the first speaker offered scores the
# share printed after it, about one half). The prompt and answer columns count characters: the loss section
# below comes back to how much longer prompts are than answers.
#
# The distribution of answer lengths, which is what the model has to produce:

# %%
fig, axes = plt.subplots(1, len(TASKS), figsize=(12, 2.6), sharey=True)
for ax, task in zip(axes, TASKS):
    for split, examples, color in (("train", train_set, "C0"), ("held out", test_set, "C1")):
        lengths = [len(e.answer) for e in examples if e.task == task]
        bins = range(min(lengths), max(lengths) + 2)
        ax.hist(lengths, bins=bins, density=True, alpha=0.5, color=color, label=split, align="left")
    ax.set(title=task, xlabel="answer length (characters)")
axes[0].set_ylabel("share of examples")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. The chat format
#
# A conversation is a list of messages, each with a role. The model reads one sequence of tokens, so a
# **template** lays the messages out, with three new tokens that mark where a turn starts and ends:
#
# ```
# <|user|>spell backwards: romeo<|end|><|assistant|>oemor<|end|>
# ```
#
# The special tokens get the ids just after the 65 characters: `<|user|>` = 65, `<|assistant|>` = 66,
# `<|end|>` = 67. They must be tokens that **no text can produce**: if a user could type `<|end|>` and get the
# token, they could end the assistant's turn or write a fake one (the chat version of an injection attack).
# Here the characters `<`, `|` and `>` are not even in Tiny Shakespeare's vocabulary; with GPT-2's tokenizer
# the text `<|end|>` would be ordinary tokens, never id 50259. By hand:

# %%
V = base_tok.vocab_size
SPECIAL = {"<|user|>": V, "<|assistant|>": V + 1, "<|end|>": V + 2}
ROLE_ID = {"user": SPECIAL["<|user|>"], "assistant": SPECIAL["<|assistant|>"]}


def render(messages: list[Message]) -> list[int]:
    """Each message as [its role's token] + its text's ids + [<|end|>]."""
    ids = []
    for m in messages:
        ids += [ROLE_ID[m.role]] + base_tok.encode(m.text) + [SPECIAL["<|end|>"]]
    return ids


def parse(ids: list[int]) -> list[Message]:
    """The inverse of render: split at the role tokens and <|end|>s, decode the text between them."""
    role_of = {v: k for k, v in ROLE_ID.items()}
    messages, i = [], 0
    while i < len(ids):
        assert ids[i] in role_of, f"token {i} should start a turn"
        end = ids.index(SPECIAL["<|end|>"], i + 1)
        messages.append(Message(role_of[ids[i]], base_tok.decode(ids[i + 1 : end])))
        i = end + 1
    return messages


conversation = train_set[0].conversation()
ids = render(conversation)
print(SPECIAL)
print(conversation)
print(ids)
print(parse(ids) == conversation)

# %% [markdown]
# The library's `ChatTokenizer` wraps the character tokenizer with the same three tokens and the same
# template (`render`, `parse`, and `render_prompt`, which ends with `<|assistant|>`: the cue for the model to
# answer). The Check section compares ours with it on every task.

# %%
tok = ChatTokenizer(base_tok)
print(tok.name, tok.vocab_size, tok.decode(tok.render(conversation)))
print("the prompt the model answers:", tok.decode(tok.render_prompt(conversation[:1])))

# %% [markdown]
# **New tokens need new rows.** The embedding matrix $W_E$ and the untied LM head $W_U$ (each $V \times C$:
# one row per token) each get three rows. Random rows would be vectors the layers have never seen, and as output rows
# they could give the new tokens logits far larger or smaller than the others'. We start every new row at the
# **mean** of the old rows (plus a little noise so that the three differ): as an input it reads like an
# average character, and as an output row its logit is the average of the old logits,
# $h \cdot \bar w = \frac{1}{V}\sum_v h \cdot w_v$, so the new tokens start neither impossible nor dominant.
# The old rows do not change, so neither do the old tokens' logits: what the model knows about Shakespeare
# survives, except that a little probability now goes to the three new tokens.

# %%
model0, tok = chat_model(base, base_tok, seed=0)  # grown copy; `base` is unchanged
x = torch.as_tensor(np.asarray(corpus.val[: c.block_size], dtype=np.int64))[None]  # a window of Shakespeare
with torch.no_grad():
    old_logits, new_logits = base(x)[0], model0(x)[0]
    new_rows = model0.lm_head.weight[V:]
    mean_row = base.lm_head.weight.mean(0)
print(f"largest change of an old token's logit: {(new_logits[..., :V] - old_logits).abs().max():.2e}")
print(f"probability on the 3 new tokens, averaged over Shakespeare positions: "
      f"{new_logits.softmax(-1)[..., V:].sum(-1).mean():.4f}")
print("new output rows: distance to the mean row / the mean row's length = "
      + ", ".join(f"{v:.3f}" for v in ((new_rows - mean_row).norm(dim=1) / mean_row.norm()).tolist()))
print(f"Shakespeare val loss: base {text_loss(base, corpus.val):.4f}, grown {text_loss(model0, corpus.val):.4f}")

# %% [markdown]
# ## 4. Supervised fine-tuning: learn from the assistant's tokens only
#
# SFT trains exactly as pretraining did: position $t$ predicts token $s_{t+1}$, with the cross-entropy. The one
# change is **which positions count**. The user's words are given, not produced: a chat model is never asked
# to write the question, so learning to predict it spends the model's capacity on the wrong thing (and the
# prompts are longer than the answers: they would dominate the loss). So a target counts only when the
# assistant wrote it:
#
# $$\mathcal{L}_{\text{SFT}} = -\frac{1}{|\mathcal{A}|} \sum_{t \in \mathcal{A}} \log p_\theta(s_{t+1} \mid s_{\le t}),
# \qquad \mathcal{A} = \{t : s_{t+1} \text{ was written by the assistant}\}.$$
#
# The assistant writes its reply **and its `<|end|>`** (that is how it learns to stop). It does not write
# `<|assistant|>`: the template puts that token there as the cue, so the first counted position is the one that
# *reads* `<|assistant|>` and predicts the reply's first character. In code, a target of $-1$ is ignored by the
# cross-entropy (`ignore_index=-1`). By hand:

# %%
def masked_example(messages: list[Message]) -> tuple[torch.Tensor, torch.Tensor]:
    ids, by_assistant = [], []
    for m in messages:
        body = base_tok.encode(m.text) + [SPECIAL["<|end|>"]]
        ids += [ROLE_ID[m.role]] + body
        by_assistant += [False] + [m.role == "assistant"] * len(body)  # the role token is the template's
    x = torch.tensor(ids[:-1])
    y = torch.tensor([s if mine else -1 for s, mine in zip(ids[1:], by_assistant[1:])])
    return x, y


conversation = next(e for e in train_set if e.task == "capitals").conversation()
x, y = masked_example(conversation)
token_text = [tok.decode([i]) for i in x.tolist()]
diagrams.loss_mask(token_text, [None if t < 0 else tok.decode([t]) for t in y.tolist()])

# %% [markdown]
# How much that matters in numbers: the share of all target positions that the mask keeps, over the training
# set, and the loss of the grown base model on both kinds of position (it has never seen the template, and it
# cannot know when to say `<|end|>`).

# %%
pairs = [masked_example(e.conversation()) for e in train_set]
kept = sum(int((y >= 0).sum()) for _, y in pairs) / sum(len(y) for _, y in pairs)
print(f"the mask keeps {kept:.1%} of the target positions")


def masked_loss(model, pairs) -> float:
    """Mean cross-entropy over the counted (y >= 0) positions, one conversation at a time."""
    nats, n = 0.0, 0
    with torch.no_grad():
        for x, y in pairs:
            logits = model(x[None])[0][0]
            nats += F.cross_entropy(logits, y, ignore_index=-1, reduction="sum").item()
            n += int((y >= 0).sum())
    return nats / n


some = pairs[:: max(1, len(pairs) // 200)]
everything = [(x, torch.cat([x[1:], y[-1:]])) for x, y in some]  # every position counts
print(f"grown base model: loss on the assistant's tokens {masked_loss(model0, some):.3f}, "
      f"on every token {masked_loss(model0, everything):.3f} nats")

# %% [markdown]
# The batches mix tasks of different lengths: `pad_batch` pads them on the right (inputs with `<|end|>`,
# targets with $-1$). Attention is causal, so padding *after* a sequence never changes what its real positions
# compute. `finetune.sft` runs AdamW with warmup and cosine decay, exactly the loop of notebook 05.
#
# **Before SFT**, the base model's replies: it has never seen the template, so it continues the prompt as
# Shakespeare and never says `<|end|>`. We grade it anyway; the grader replies greedily (temperature 0) and
# accepts only an exact answer followed by `<|end|>`.

# %%
def scores(grades) -> dict:
    """Accuracy per task and over all tasks, each with its 95% Wilson interval."""
    out = grades.scores()
    right = sum(s.correct for s in out.values())
    n = sum(s.n for s in out.values())
    out["all"] = grades.scores(key=lambda g: "all")["all"]
    assert out["all"].correct == right and out["all"].n == n
    return out


def show(name: str, table: dict) -> None:
    print(f"{name}: " + "; ".join(f"{task} {s.accuracy:.1%} [{s.low:.1%}, {s.high:.1%}]" for task, s in table.items()))


t0 = time.time()
base_grades = grade(model0, tok, test_set)
base_scores = scores(base_grades)
show("base", base_scores)
print(f"({len(test_set)} held-out questions graded in {time.time() - t0:.1f} s)")
print(format_transcript(base_grades.transcripts(per_task=1, seed=0)[0]))

# %% [markdown]
# The 95% interval is Wilson's score interval: for $k$ correct of $n$, $\hat p = k/n$ and $z = 1.96$,
#
# $$\frac{\hat p + \frac{z^2}{2n} \pm z\sqrt{\frac{\hat p(1-\hat p)}{n} + \frac{z^2}{4n^2}}}{1 + \frac{z^2}{n}},$$
#
# which, unlike $\hat p \pm z\sqrt{\hat p(1-\hat p)/n}$, is not zero-width at 0% or 100%. It measures the
# luck of *which questions* were drawn; the seeds below measure the luck of *training*.
#
# Now SFT, once per seed (the seed sets the new rows' noise and the order of the batches; the base model and
# the questions stay the same):

# %%
sft_models, sft_scores, sft_histories = {}, {}, {}
sft_cfg = {seed: SFTConfig(steps=S["sft_steps"], seed=seed, log_interval=25) for seed in SEEDS}
conversations = [e.conversation() for e in train_set]
t0 = time.time()
for seed in SEEDS:
    model, tok = chat_model(base, base_tok, seed=seed)
    sft_histories[seed] = sft(model, tok, conversations, sft_cfg[seed])
    sft_models[seed] = model
    sft_scores[seed] = scores(grade(model, tok, test_set))
    show(f"SFT seed {seed}", sft_scores[seed])
print(f"{len(SEEDS)} SFT runs of {S['sft_steps']} steps, graded: {time.time() - t0:.0f} s")

fig, ax = plt.subplots(figsize=(6, 3))
for seed, h in sft_histories.items():
    ax.plot(h.step, h.train_loss, lw=1, label=f"seed {seed}")
ax.set(xlabel="SFT step", ylabel="loss on the assistant's tokens", yscale="log", title="SFT training loss")
ax.grid(alpha=0.3)
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# ## 5. Beyond imitation: reinforcement learning with exact rewards (GRPO)
#
# SFT shows the model one correct reply per question and makes it likelier. It never sees the model's *own*
# mistakes. Reinforcement learning lets the model try: sample replies, score them with the checker, and make
# the better ones likelier. We want the policy $\pi_\theta$ (the model as a distribution over replies $y$ to a
# prompt $x$) to maximise the expected reward, without drifting far from the SFT model $\pi_{\text{ref}}$:
#
# $$J(\theta) = \mathbb{E}_{x}\, \mathbb{E}_{y \sim \pi_\theta(\cdot \mid x)} \big[ r(x, y) \big]
# - \beta\, \mathrm{KL}\big(\pi_\theta \,\|\, \pi_{\text{ref}}\big).$$
#
# **The policy gradient.** Since $\nabla_\theta \pi_\theta(y) = \pi_\theta(y) \nabla_\theta \log \pi_\theta(y)$,
#
# $$\nabla_\theta\, \mathbb{E}_{y \sim \pi_\theta}[r(y)] = \sum_y r(y)\, \nabla_\theta \pi_\theta(y)
# = \mathbb{E}_{y \sim \pi_\theta}\big[ r(y)\, \nabla_\theta \log \pi_\theta(y) \big],$$
#
# an average over samples we can draw (REINFORCE). Any baseline $b$ that does not depend on $y$ can be
# subtracted, since $\mathbb{E}[b\, \nabla \log \pi_\theta(y)] = b\, \nabla \sum_y \pi_\theta(y) = b\, \nabla 1 = 0$:
# the gradient stays unbiased and gets less noisy. **GRPO** (Shao et al., 2024) samples a *group* of $G$ replies
# to each prompt and uses the group's mean reward as the baseline: the **advantage** of reply $i$ is
#
# $$A_i = r_i - \frac{1}{G}\sum_{j=1}^{G} r_j .$$
#
# A reply better than its siblings is pushed up, a worse one down; a group whose replies all score the same
# (all right or all wrong) teaches nothing. With $\log \pi_\theta(y) = \sum_t \log \pi_\theta(a_t \mid x, a_{<t})$
# the gradient is carried by every token of the reply, so the loss we minimise, averaged over every reply
# token $t$ of every reply $i$ of the step, is
#
# $$\mathcal{L} = \operatorname{mean}_{i,t}\Big[ -A_i \log \pi_\theta(a_{i,t} \mid x, a_{i,<t})
# + \beta\, k_3(i, t) \Big], \qquad k_3 = \rho - \log \rho - 1, \quad \rho = \frac{\pi_{\text{ref}}(a_{i,t})}{\pi_\theta(a_{i,t})}.$$
#
# $k_3$ (Schulman's estimator, as in GRPO) estimates the KL from the sampled tokens alone: its mean under
# $\pi_\theta$ is $\mathbb{E}[\rho] - \mathbb{E}[\log \rho] - 1 = 1 + \mathrm{KL}(\pi_\theta\|\pi_{\text{ref}}) - 1$,
# and since $\log \rho \le \rho - 1$ it is never negative. Each batch of replies is used for one step only,
# so the replies always come from the current policy: PPO's ratio clipping would never act, and we leave it
# out. The rewards are exact (1 for a correct reply, 0 otherwise), so there is no reward model to fool.
#
# One group by hand, from the SFT model of seed 0: sample $G$ replies to a training prompt at temperature 1,
# reward them, and compute the advantages. We take the first `reverse` prompt of the training set whose group
# is not flat (some replies right, some wrong), so that the picture shows a signal.

# %%
policy = sft_models[SEEDS[0]]
G = S["grpo_group"]
gen = torch.Generator().manual_seed(0)
for example in [e for e in train_set if e.task == "reverse"][:20]:  # the first group with a signal, if any
    prompt = tok.render_prompt(example.conversation(with_answer=False))
    replies = generate_replies(policy, tok, [prompt] * G, max_new_tokens=16, temperature=1.0, generator=gen)
    rewards = torch.tensor([float(done and tok.decode(r) == example.answer) for r, done in replies])
    if 0 < rewards.sum() < G:
        break
advantages = rewards - rewards.mean()
diagrams.grpo_group(example.prompt, [tok.decode(r) + ("" if done else "…") for r, done in replies],
                    rewards.tolist(), advantages.tolist())

# %% [markdown]
# And the loss of one GRPO step by hand: teacher-force each prompt + reply through the policy and the frozen
# reference, take the log-probabilities of the reply's tokens (and of its `<|end|>`, when it has one), and
# average $-A_i \log\pi + \beta k_3$ over all of them. At the first step the policy *is* the reference, so every
# $\rho = 1$ and the penalty is 0; the Check section compares this function with the library's `grpo_step`
# on a policy that has moved.

# %%
def reply_logprobs(model, prompt: list[int], reply: list[int]) -> torch.Tensor:
    """log π(token) of each token the reply wrote, given the prompt and the reply before it."""
    ids = torch.tensor(prompt + reply)
    logp = F.log_softmax(model(ids[None, :-1])[0][0].float(), dim=-1)
    positions = torch.arange(len(prompt) - 1, len(ids) - 1)
    return logp[positions, ids[len(prompt) :]]


def grpo_loss(policy, reference, prompts, replies, advantages, beta) -> torch.Tensor:
    terms = []
    for prompt, (reply, finished), a in zip(prompts, replies, advantages):
        written = list(reply) + ([tok.end_id] if finished else [])
        logp = reply_logprobs(policy, prompt, written)
        with torch.no_grad():
            ref = reply_logprobs(reference, prompt, written)
        rho_log = ref - logp
        terms.append(-a * logp + beta * (rho_log.exp() - rho_log - 1))
    return torch.cat(terms).mean()


print(f"loss of this group: {grpo_loss(policy, policy, [prompt] * G, replies, advantages, 0.05).item():.4f}")

# %% [markdown]
# Now GRPO from each seed's SFT model, with the same seed: at every step $P$ training prompts, $G$ replies
# each, exact rewards, one AdamW step. The reference is a frozen copy of that seed's SFT model. Every step logs
# the mean reward, the exact KL to the reference (over the whole vocabulary, cheap with 68 tokens), the reply
# length and the share of flat groups.

# %%
rl_cfg = {seed: RLConfig(steps=S["grpo_steps"], prompts_per_step=S["grpo_prompts"], group_size=S["grpo_group"],
                         seed=seed) for seed in SEEDS}
rl_models, rl_scores, rl_logs = {}, {}, {}
t0 = time.time()
for seed in SEEDS:
    model = copy.deepcopy(sft_models[seed])
    rl_logs[seed] = grpo(model, tok, train_set, rl_cfg[seed])
    rl_models[seed] = model
    rl_scores[seed] = scores(grade(model, tok, test_set))
    show(f"GRPO seed {seed}", rl_scores[seed])
print(f"{len(SEEDS)} GRPO runs of {S['grpo_steps']} steps ({S['grpo_prompts']} x {S['grpo_group']} replies), "
      f"graded: {time.time() - t0:.0f} s")


def smooth(values: list[float], k: int = 10) -> list[float]:
    return [statistics.fmean(values[max(0, i - k + 1) : i + 1]) for i in range(len(values))]


fig, axes = plt.subplots(1, 4, figsize=(13, 2.8))
for seed, logs in rl_logs.items():
    for ax, key in zip(axes, ("reward", "kl", "length", "flat_groups")):
        ax.plot(smooth([m[key] for m in logs]), lw=1, label=f"seed {seed}")
for ax, title in zip(axes, ("reward of the samples", "KL(π ‖ π_SFT), nats/token", "reply length (tokens)",
                            "share of flat groups")):
    ax.set(xlabel="GRPO step", title=title)
    ax.grid(alpha=0.3)
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 6. Base, SFT, GRPO: the held-out scores
#
# Every model answers the same held-out questions, greedily. The dots are the accuracy per task (one per seed;
# one for the base model, which all seeds share), with each one's 95% interval.

# %%
STAGES = {"base": {s: base_scores for s in SEEDS}, "SFT": sft_scores, "SFT + GRPO": rl_scores}
fig, ax = plt.subplots(figsize=(10, 3.6))
columns = [*TASKS, "all"]
for k, (stage, by_seed) in enumerate(STAGES.items()):
    for j, task in enumerate(columns):
        for n, seed in enumerate(SEEDS[:1] if stage == "base" else SEEDS):  # one base model for all seeds
            s = by_seed[seed][task]
            xpos = j + (k - 1) * 0.27 + (0 if stage == "base" else (n - 1) * 0.06)
            ax.errorbar(xpos, s.accuracy, yerr=[[s.accuracy - s.low], [s.high - s.accuracy]], fmt="o", ms=3,
                        color=f"C{k}", capsize=2, lw=0.8, label=stage if j == n == 0 else None)
ax.set_xticks(range(len(columns)), columns)
ax.set(ylabel="held-out accuracy", ylim=(-0.03, 1.03),
       title=f"exact-match accuracy, {S['test_per_task']} questions per task, 95% intervals, seeds {SEEDS}")
ax.grid(alpha=0.3, axis="y")
ax.legend(fontsize=8)
plt.show()

rows = ["| task | base | " + " | ".join(f"SFT seed {s}" for s in SEEDS) + " | "
        + " | ".join(f"GRPO seed {s}" for s in SEEDS) + " |", "|---" * (2 + 2 * len(SEEDS)) + "|"]
for task in columns:
    cells = [f"{base_scores[task].accuracy:.1%}"]
    cells += [f"{sft_scores[s][task].accuracy:.1%} [{sft_scores[s][task].low:.0%}, {sft_scores[s][task].high:.0%}]"
              for s in SEEDS]
    cells += [f"{rl_scores[s][task].accuracy:.1%} [{rl_scores[s][task].low:.0%}, {rl_scores[s][task].high:.0%}]"
              for s in SEEDS]
    rows.append(f"| {task} | " + " | ".join(cells) + " |")
display(Markdown("\n".join(rows)))

# %% [markdown]
# **What the measurements say.** The next cell words the comparison from the numbers, so it stays true
# whatever this run produced. A stage *beats* the one before on a task when, for every seed, the lower end of
# its interval lies above the upper end of the earlier stage's interval (the same seed's); *is better in every
# seed* when it is higher in every seed but the intervals overlap; otherwise the seeds disagree.

# %%
def compare(new: dict, old: dict, task: str) -> str:
    pairs = [(new[s][task], old[s][task]) for s in SEEDS]
    if all(a.correct == b.correct for a, b in pairs):
        return "scores the same in every seed"
    if all(a.low > b.high for a, b in pairs):
        return "beats it (intervals apart in every seed)"
    if all(a.high < b.low for a, b in pairs):
        return "is worse (intervals apart in every seed)"
    if all(a.accuracy > b.accuracy for a, b in pairs):
        return "is higher in every seed, but the intervals overlap"
    if all(a.accuracy < b.accuracy for a, b in pairs):
        return "is lower in every seed, but the intervals overlap"
    return "is not consistently different: the seeds disagree"


def mean_accuracy(by_seed: dict, task: str) -> float:
    return statistics.fmean(by_seed[s][task].accuracy for s in SEEDS)


verdicts = {}
for new, old in (("SFT", "base"), ("SFT + GRPO", "SFT")):
    for task in columns:
        verdicts[new, task] = compare(STAGES[new], STAGES[old], task)
        print(f"{new:10} vs {old:4} on {task:8}: {mean_accuracy(STAGES[old], task):6.1%} -> "
              f"{mean_accuracy(STAGES[new], task):6.1%} (mean of seeds); {new} {verdicts[new, task]}")

# %% [markdown]
# Read those lines with the plots above. Part of SFT's jump from the base model is the **format**: the base
# model cannot answer at all, because it has never seen `<|assistant|>` and never ends a turn. The rest is
# *skill*, and the tasks differ in how much they take: a fixed change per character should be the easiest
# for attention, reading a word backwards needs every position to find its mirror, and `speaker` needs
# knowledge of the plays that a model this small, trained this briefly, has little of (compare its accuracy
# with the first-name baseline of section 2).
#
# Whether GRPO adds to SFT is the honest question, and the lines above answer it for this run. GRPO can only
# sharpen what the SFT model sometimes gets right when it samples: a group in which every sample is wrong, or
# every one is right, has zero advantage everywhere and gives no gradient (the "flat groups" plot; exercise 4
# measures, per task, how often sampling finds a right reply at all). It also ran far fewer steps than SFT, at
# a small learning rate, held near the SFT model by the KL penalty: with these settings it changes the model
# little, and a change of a few points is within what three seeds and the test sample can resolve. (A larger
# learning rate moves the model further, which is not the same as better: the reward-hacking run below uses
# one.) And what this comparison does not control: GRPO is *extra*
# training on top of SFT, so even a clear gain could partly come from training longer at all; the fair
# control would continue SFT for the same time and grade that too.
#
# ## 7. What can go wrong
#
# **KL drift.** The KL plot above shows how far each policy moved from its SFT model. The penalty $\beta$
# holds it back: set it to 0 and nothing stops the policy from forgetting everything that does not earn
# reward. **Forgetting**: fine-tuning on nothing but short answers can damage what the model knew. We measure
# the Shakespeare validation loss of each stage (the grown base model's is the reference):

# %%
forgetting = {"base (grown)": [text_loss(model0, corpus.val)]}
forgetting["SFT"] = [text_loss(sft_models[s], corpus.val) for s in SEEDS]
forgetting["SFT + GRPO"] = [text_loss(rl_models[s], corpus.val) for s in SEEDS]
for stage, losses in forgetting.items():
    print(f"{stage:12} Shakespeare val loss: " + ", ".join(f"{v:.3f}" for v in losses))
final_kl = [statistics.fmean(m["kl"] for m in rl_logs[s][-10:]) for s in SEEDS]
print("GRPO's KL to SFT over its last 10 steps, per seed: " + ", ".join(f"{v:.4f}" for v in final_kl))

# %% [markdown]
# Compare the rows. SFT here saw only conversations, short answers and no Shakespeare, for `sft_steps` steps,
# and the loss on Shakespeare shows what that cost; GRPO, held near the SFT model by its KL
# penalty, changes it much less than SFT did. Real recipes limit forgetting by mixing pretraining text into
# the fine-tuning batches (nanochat does), by lower learning rates and fewer steps, and by starting from a
# model so large that a few hundred steps barely move it. We did none of that here, to keep the pieces
# visible.

# %% [markdown]
# **Reward hacking.** An exact checker can only be satisfied by the right answer. A looser reward can be
# satisfied some other way, and the policy will find it: that is what "the model optimises the reward, not
# what you meant" looks like. `rl.prefix_reward` gives credit when the reply is a *prefix* of the answer
# ("partial credit for a correct start"). The empty reply is a prefix of every answer. We run GRPO from the
# seed-0 SFT model with this reward and watch the reward, the true accuracy and the reply length:

# %%
hacked = copy.deepcopy(sft_models[SEEDS[0]])
hack_cfg = RLConfig(steps=S["hack_steps"], prompts_per_step=S["grpo_prompts"], group_size=S["grpo_group"], seed=0,
                    learning_rate=1e-3, kl_coef=0.0)
hack_logs = grpo(hacked, tok, train_set, hack_cfg, reward_fn=prefix_reward)
hack_scores = scores(grade(hacked, tok, test_set))
fig, (ax, ax_kl) = plt.subplots(1, 2, figsize=(11, 3))
ax.plot([m["reward"] for m in hack_logs], label="prefix reward (what it optimises)")
ax.plot([m["correct"] for m in hack_logs], label="exact accuracy of the samples")
ax2 = ax.twinx()
ax2.plot([m["length"] for m in hack_logs], color="C2", ls="--", label="reply length, tokens (right axis)")
ax2.set_ylim(bottom=0)
ax.set(xlabel="GRPO step with prefix_reward", ylim=(-0.05, 1.05), title="reward hacking")
ax.legend(fontsize=8, loc="center left")
ax2.legend(fontsize=8, loc="center right")
ax_kl.plot([m["kl"] for m in hack_logs], color="C3")
ax_kl.set(xlabel="GRPO step with prefix_reward", ylabel="nats per reply token", title="KL(π ‖ π_SFT), no penalty")
ax_kl.grid(alpha=0.3)
plt.tight_layout()
plt.show()
first, last = hack_logs[: max(1, len(hack_logs) // 5)], hack_logs[-max(1, len(hack_logs) // 5) :]
change = {key: (statistics.fmean(m[key] for m in first), statistics.fmean(m[key] for m in last))
          for key in ("reward", "correct", "length")}
for key, (a, b) in change.items():
    print(f"{key:8} first fifth of the steps {a:.3f} -> last fifth {b:.3f}")
show("held out after prefix-reward GRPO", hack_scores)
hacked_it = change["length"][1] < 0.8 * change["length"][0] and change["correct"][1] < change["correct"][0]
print("the policy found the loophole: shorter replies, fewer of them right, the reward kept up" if hacked_it else
      "within these steps the replies did not shrink by a fifth while accuracy fell: no clear hack (yet)")

# %% [markdown]
# The last line says what happened in this run. The loophole is there whether or not these few steps find
# it: shorter replies are "prefixes" more often, a wrong reply that stops early scores where it would have
# scored 0, and the empty reply always scores. (We gave the policy a high learning rate and no KL penalty to
# make it quick; the penalty slows such drift, it does not remove the incentive.) Real systems meet the same thing with learned reward models: long, confident, flattering
# answers score well without being right. Exact, verifiable rewards are why tasks with checkable answers
# (maths, code with tests) are where reinforcement learning on language models works best.
#
# ## 8. Talk to it
#
# The chat box below answers each message as a new conversation, greedily, with the KV cache
# (`nanogpt_lib.chat.generate_replies`), using the GRPO model of seed 0. In a saved notebook (on GitHub, on
# the course site) the box cannot run, and you see the transcript of the messages asked in the code instead.
# Only the characters of Tiny Shakespeare can be typed.

# %%
chat_model_final = rl_models[SEEDS[0]]
chat_widget(chat_model_final, tok, ["capitals: horse", "spell backwards: stone", "how many letters in crown?",
                                    "who says this, ROMEO or JULIET? O Romeo, Romeo! wherefore art thou Romeo?",
                                    "hello, who art thou?"])

# %% [markdown]
# The last message is not one of the tasks: the model has seen nothing like it, and its reply shows it.
#
# The same model from the command line: save it as a run folder (as `nanogpt finetune` would), then pipe
# messages into `nanogpt chat`, one line each. In a terminal, `nanogpt chat --out-dir RUN` gives you a prompt.

# %%
run_dir = workdir / "chat_rl"
save_chat_run(run_dir, chat_model_final, tok, History(), rl_cfg[SEEDS[0]].to_dict(),
              {"stage": "rl", "tasks": list(TASKS), "eval": {t: vars(s) for t, s in rl_scores[SEEDS[0]].items()}},
              force=True)
command = [sys.executable, "-m", "nanogpt_lib", "chat", "--out-dir", str(run_dir)]
lines = "capitals: crown\nspell backwards: crown\n"
print(f"$ printf {lines!r} | nanogpt chat --out-dir {run_dir}")
out = subprocess.run(command, input=lines, capture_output=True, text=True, timeout=120)
print(out.stdout + out.stderr)

# %% [markdown]
# ## 9. Transcripts, picked by a rule
#
# Showing the replies that happen to look good is the easiest way to mislead, yourself first. These are
# drawn at random with a fixed seed (`Grades.transcripts(per_task=2, seed=0)`), the same rule for both models,
# and they were not chosen by looking at them: SFT and SFT + GRPO of seed 0 on the same questions.

# %%
sft_grades, rl_grades = grade(sft_models[SEEDS[0]], tok, test_set), grade(rl_models[SEEDS[0]], tok, test_set)
for g_sft, g_rl in zip(sft_grades.transcripts(per_task=2, seed=0), rl_grades.transcripts(per_task=2, seed=0)):
    assert g_sft.example == g_rl.example
    print(format_transcript(g_sft).replace("assistant:", "SFT      :"))
    print("GRPO     : " + format_transcript(g_rl).split("assistant: ", 1)[1] + "\n")

# %% [markdown]
# And where the mistakes are: accuracy on `reverse` and `count` by word length (all seeds' GRPO models pooled).

# %%
by_length = {}
for s in SEEDS:
    for g in grade(rl_models[s], tok, [e for e in test_set if e.task in ("reverse", "count")]).graded:
        by_length.setdefault((g.example.task, len(g.example.unit)), []).append(g.correct)
for task in ("reverse", "count"):
    cells = []
    for n in range(3, 9):
        right = by_length.get((task, n), [])
        if right:
            cells.append(f"{n} letters {sum(right) / len(right):.0%} (of {len(right)})")
    print(f"{task:8}: " + ", ".join(cells))

# %% [markdown]
# ## 10. What this is, and what it is not
#
# The model above has under a million parameters and reads characters. It was pretrained for minutes on one
# megabyte of Shakespeare and fine-tuned on four made-up tasks. It is **not ChatGPT**, and the transcripts
# show it: it answers the four kinds of question it was trained on, with the accuracies printed above, and
# nothing else (the last message of the chat box shows what it makes of anything outside the tasks). It
# learned a format and four narrow skills, not to follow instructions; and how much it knows about who speaks
# which line is its `speaker` accuracy measured against the first-name baseline of section 2.
#
# **What carries over to the real recipe** (nanochat, Llama, ChatGPT's published outline):
# - the pipeline itself: pretrain on raw text, then SFT on conversations, then reinforcement learning;
# - special tokens that only the template can place, a template, and a loss masked to the assistant's tokens;
# - growing a vocabulary by adding rows, initialised near the existing ones;
# - GRPO's loss as written here (DeepSeek's models use it, with verifiable rewards on maths and code), with a KL
#   penalty to the SFT model, and the same failure modes: flat groups, drift, forgetting, reward hacking;
# - the way to measure: held-out questions by content, intervals, several seeds, transcripts drawn by a rule.
#
# **What does not**:
# - scale, and what comes with it: a real base model knows facts and language, so SFT mostly teaches the
#   format and a little behaviour; here SFT has to teach the skill itself;
# - the data: real SFT uses hundreds of thousands of varied human-written or curated conversations, multi-turn,
#   and real RL mixes verifiable rewards with a learned **reward model** or preferences (RLHF, DPO) for the
#   things no program can check, such as helpfulness and tone;
# - safety training, refusals, tool use, long contexts, system prompts: none of it is here;
# - the numbers: every accuracy above belongs to these tasks, this model and these few steps, on a CPU.

# %% [markdown]
# ## Check
#
# Everything built by hand computes what the library does: the template and its inverse on every task, the
# grown rows, the masked targets and loss, the advantages, the $k_3$ estimator, and the GRPO loss of one step
# on a policy that has moved away from its reference.

# %%
for e in test_set[:: max(1, len(test_set) // 40)] + train_set[:: max(1, len(train_set) // 40)]:
    messages = e.conversation()
    assert render(messages) == tok.render(messages)
    assert parse(render(messages)) == messages == tok.parse(render(messages))
    x_ours, y_ours = masked_example(messages)
    x_lib, y_lib = conversation_tensors(tok, messages)
    assert torch.equal(x_ours, x_lib) and torch.equal(y_ours, y_lib)
assert tok.render_prompt(conversation[:1]) == render(conversation[:1]) + [SPECIAL["<|assistant|>"]]
assert [tok.user_id, tok.assistant_id, tok.end_id] == list(SPECIAL.values())
assert tok.encode("capitals: romeo") == base_tok.encode("capitals: romeo")  # text never gives a special id

torch.testing.assert_close(new_logits[..., :V], old_logits)  # growing kept every old logit
assert torch.equal(model0.transformer.wte.weight[:V], base.transformer.wte.weight)

held_out = [e.conversation() for e in test_set[:: max(1, len(test_set) // 200)]]
ours = masked_loss(sft_models[SEEDS[0]], [masked_example(m) for m in held_out])
assert abs(ours - assistant_loss(sft_models[SEEDS[0]], tok, held_out)) < 1e-4

r = torch.tensor([[1.0, 0, 0, 1], [0, 0, 0, 0], [1, 1, 1, 0]])
assert torch.allclose(group_advantages(r), r - r.mean(dim=1, keepdim=True))
assert torch.allclose(advantages, group_advantages(rewards[None])[0])
logp, ref_logp = -torch.rand(50) * 3, -torch.rand(50) * 3
assert torch.allclose(kl_k3(logp, ref_logp), (ref_logp - logp).exp() - (ref_logp - logp) - 1)
assert (kl_k3(logp, ref_logp) >= 0).all()

# One GRPO step of the library, on the seed-0 GRPO model with its SFT model as reference (so k3 is not 0),
# against our grpo_loss on the same sampled replies (the same generator seed gives the same samples).
step_cfg = RLConfig(prompts_per_step=3, group_size=4, kl_coef=0.05, seed=0)
examples = train_set[:: len(train_set) // 3][:3]
moved, reference = copy.deepcopy(rl_models[SEEDS[0]]), frozen_copy(sft_models[SEEDS[0]])
prompts = [tok.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(4)]
samples = generate_replies(moved, tok, prompts, step_cfg.max_new_tokens, 1.0,
                           generator=torch.Generator().manual_seed(5))
step_rewards = torch.tensor([exact_reward(e, tok.decode(ids), done)
                             for e, (ids, done) in zip([e for e in examples for _ in range(4)], samples)])
step_adv = group_advantages(step_rewards.view(3, 4)).flatten()
ours = grpo_loss(moved, reference, prompts, samples, step_adv, step_cfg.kl_coef).item()
log = grpo_step(moved, reference, torch.optim.SGD(moved.parameters(), lr=0.0), tok, examples, step_cfg,
                torch.Generator().manual_seed(5))
assert abs(ours - log["loss"]) < 1e-4, (ours, log["loss"])
assert log["kl_k3"] > 0 or S["grpo_steps"] < 10

assert len(sft_scores) == len(rl_scores) == len(SEEDS) >= 3
assert all(s["all"].n == len(test_set) for s in [base_scores, *sft_scores.values(), *rl_scores.values()])
assert out.returncode == 0 and out.stdout.count("\n") == 2, out  # one line per message
assert wilson_interval(0, 10)[1] > 0 and wilson_interval(10, 10)[0] < 1
assert all(is_heldout(e.unit) for e in test_set) and not any(is_heldout(e.unit) for e in train_set)
print("all checks passed")

# %% [markdown]
# ## Exercises
#
# **1. Train on the last reply only.** Real chat data has several turns, and a common choice is to train only
# on the **last** assistant reply (the earlier ones may come from an older model). Write
# `last_reply_targets(messages)` returning `(x, y)` like `conversation_tensors(tok, messages)`, except that
# only the final assistant turn's tokens (its text and its `<|end|>`) are targets; every other target is -1.
# Use `tok.render_with_mask(messages)`, which gives the ids and whether the assistant wrote each one.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex10-last-reply", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def last_reply_targets(messages: list[Message]) -> tuple[torch.Tensor, torch.Tensor]: ...
### BEGIN SOLUTION
def last_reply_targets(messages):
    ids, written = tok.render_with_mask(messages)
    start = len(ids) - 1
    while start > 0 and ids[start - 1] != tok.assistant_id:  # back to the last <|assistant|>
        start -= 1
    x = torch.tensor(ids[:-1])
    y = torch.tensor([s if (w and i + 1 >= start) else -1 for i, (s, w) in enumerate(zip(ids[1:], written[1:]))])
    return x, y
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex10-last-reply-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
two_turns = [Message("user", "capitals: rose"), Message("assistant", "ROSE"),
             Message("user", "spell backwards: rose"), Message("assistant", "esor")]
x_got, y_got = last_reply_targets(two_turns)
ids_2, _ = tok.render_with_mask(two_turns)
want_y = torch.full((len(ids_2) - 1,), -1)
last_start = len(ids_2) - 1 - len("esor") - 1  # position whose target is the first letter of the last reply
want_y[last_start:] = torch.tensor(ids_2[last_start + 1 :])
assert torch.equal(x_got, torch.tensor(ids_2[:-1])), "x must be the rendered ids without the last one: ids[:-1]"
assert y_got.shape == want_y.shape, f"y has {len(y_got)} positions, want {len(want_y)}: y is ids[1:], masked"
counted = [i for i in range(len(y_got)) if y_got[i] >= 0]
both = torch.equal(y_got, conversation_tensors(tok, two_turns)[1])
assert not both, "every assistant turn counts: keep only the last reply's targets"
assert y_got[-1] == tok.end_id, "the last reply's <|end|> must be a target: it is how the model learns to stop"
assert not any(int(y_got[i]) == tok.assistant_id for i in counted), (
    "<|assistant|> is a target: the template writes it, not the assistant; mask it")
assert counted and counted[0] != last_start + 1, (
    "the targets are shifted by one: the position that READS <|assistant|> predicts the reply's first letter")
assert counted[0] >= last_start, "a target before the last reply counts: the user's tokens must be masked"
assert torch.equal(y_got, want_y), f"y is {y_got.tolist()}, want {want_y.tolist()}"
one_turn = train_set[0].conversation()
assert torch.equal(last_reply_targets(one_turn)[1], conversation_tensors(tok, one_turn)[1]), (
    "with one exchange the last reply is the only reply: the targets must equal conversation_tensors'")

# %% [markdown]
# **2. A leave-one-out baseline.** GRPO's baseline for reply $i$ includes $r_i$ itself. RLOO (Ahmadian et al.,
# 2024) uses the mean of the **other** $G-1$ replies of the group: $A_i = r_i - \frac{1}{G-1}\sum_{j\ne i} r_j$.
# Write `rloo_advantages(rewards)` for a `(P, G)` tensor of rewards (one row per prompt). How does it relate to
# GRPO's advantage? (Hint: compare it with `group_advantages(rewards)` for a few rows.)

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex10-rloo", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def rloo_advantages(rewards: torch.Tensor) -> torch.Tensor: ...
### BEGIN SOLUTION
def rloo_advantages(rewards):
    G = rewards.size(1)
    others = (rewards.sum(dim=1, keepdim=True) - rewards) / (G - 1)
    return rewards - others
# It is G/(G-1) times GRPO's advantage: r_i - (S - r_i)/(G-1) = (G r_i - S)/(G-1) = G/(G-1) (r_i - S/G).
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex10-rloo-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
rw = torch.tensor([[1.0, 0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 0.0, 1.0, 1.0]])
want = torch.stack([torch.stack([row[i] - torch.cat([row[:i], row[i + 1 :]]).mean() for i in range(len(row))])
                    for row in rw])
got = rloo_advantages(rw)
assert got.shape == rw.shape, f"shape {tuple(got.shape)}, want {tuple(rw.shape)}: one advantage per reply"
if not torch.allclose(got, want):
    assert not torch.allclose(got, group_advantages(rw)), (
        "that is GRPO's advantage: its baseline includes the reply itself; leave r_i out of its own baseline")
    batch_loo = rw - (rw.sum() - rw) / (rw.numel() - 1)
    assert not (torch.allclose(got, rw - rw.mean()) or torch.allclose(got, batch_loo)), (
        "the baseline comes from the whole batch: take it within each group (row), dim=1")
    prompt_loo = rw - (rw.sum(dim=0, keepdim=True) - rw) / (rw.size(0) - 1)
    assert not (torch.allclose(got, rw - rw.mean(dim=0, keepdim=True)) or torch.allclose(got, prompt_loo)), (
        "the baseline is taken over the prompts (dim=0): a group is a row, the G replies to one prompt (dim=1)")
    assert not torch.allclose(got, rw - (rw.sum(dim=1, keepdim=True) - rw) / rw.size(1)), (
        "the sum of the others is divided by G: there are G - 1 others")
    assert not torch.allclose(got, (rw.sum(dim=1, keepdim=True) - rw) / (rw.size(1) - 1) - rw), (
        "the sign is reversed: A_i = r_i - baseline (better than the others: positive)")
    raise AssertionError(f"rloo_advantages gives {got.tolist()}, want {want.tolist()}")
assert torch.allclose(got, group_advantages(rw) * rw.size(1) / (rw.size(1) - 1))

# %% [markdown]
# **3. The exact KL.** $k_3$ estimates the KL from one sampled token per position. With 68 tokens we can
# compute it exactly: at each reply position,
# $\mathrm{KL}(\pi\|\pi_{\text{ref}}) = \sum_v \pi(v) \big(\log\pi(v) - \log\pi_{\text{ref}}(v)\big)$. Write
# `exact_kl(logp_all, ref_all, mask)`: given the log-distributions of the policy and the reference, both
# `(B, T, vocab)`, and a `(B, T)` boolean mask of the reply positions, return the mean KL over the masked
# positions (a float). It is what `grpo` logs as `kl`.

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex10-exact-kl", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def exact_kl(logp_all: torch.Tensor, ref_all: torch.Tensor, mask: torch.Tensor) -> float: ...
### BEGIN SOLUTION
def exact_kl(logp_all, ref_all, mask):
    kl = (logp_all.exp() * (logp_all - ref_all)).sum(dim=-1)  # (B, T)
    return (kl * mask).sum().item() / mask.sum().item()
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex10-exact-kl-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
g_kl = torch.Generator().manual_seed(0)
lp = F.log_softmax(torch.randn(2, 5, 7, generator=g_kl) * 2, dim=-1)
lr = F.log_softmax(torch.randn(2, 5, 7, generator=g_kl) * 2, dim=-1)
mk = torch.tensor([[0, 1, 1, 1, 0], [0, 0, 1, 1, 1]], dtype=torch.bool)
per_position = (lp.exp() * (lp - lr)).sum(-1)
want = (per_position[mk]).mean().item()
got = exact_kl(lp, lr, mk)
assert isinstance(got, float), f"return a float (.item()), got {type(got).__name__}"
if abs(got - want) > 1e-5:
    reverse = (lr.exp() * (lr - lp)).sum(-1)
    assert abs(got - reverse[mk].mean().item()) > 1e-5, (
        "that is KL(π_ref ‖ π): weight by the policy's probabilities, exp(logp_all), not the reference's")
    assert abs(got - per_position.mean().item()) > 1e-5, (
        "it averages over every position: only the reply positions (mask) count")
    assert abs(got - per_position[mk].sum().item()) > 1e-5, "it sums over the positions: take the mean"
    assert abs(got - (lp - lr).sum(-1)[mk].mean().item()) > 1e-5, (
        "log π - log π_ref must be weighted by π(v) before summing over the vocabulary")
    raise AssertionError(f"exact_kl gives {got:.5f}, want {want:.5f}")
assert exact_kl(lp, lp, mk) == 0 and got >= 0

# %% [markdown]
# **4. Experiment: how much is there for GRPO to find?** GRPO can only reinforce correct replies that the
# model *samples*. **pass@k** is the share of questions for which at least one of $k$ sampled replies is
# correct. Write `pass_at_k(sample, examples, k)`: `sample(prompts)` returns `(reply ids, finished)` for each
# prompt of a list (as `generate_replies` does); give it each example's prompt
# (`tok.render_prompt(e.conversation(with_answer=False))`) $k$ times, count an example as solved when any of its
# $k$ replies is finished and correct (`check(e, tok.decode(ids))`), and return `{task: share solved}`. Then
# compute `passes = {k: pass_at_k(sampler, test_set, k) for k in (1, 8)}` for the SFT model of seed 0 with the
# sampler given below (temperature 1, as GRPO samples), and compare with its greedy accuracy per task. On which
# tasks could GRPO find something to reinforce, and on which not?

# %%
def sampler_of(model, temperature: float = 1.0, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return lambda prompts: generate_replies(model, tok, prompts, answer_cap(test_set, tok), temperature,
                                            generator=generator)


sampler = sampler_of(sft_models[SEEDS[0]])

# %% jupyter={"source_hidden": true} nbgrader={"grade": false, "grade_id": "ex10-pass-at-k", "locked": false, "schema_version": 3, "solution": true} tags=["exercise"]
# def pass_at_k(sample, examples, k: int) -> dict[str, float]: ...
# passes = {k: pass_at_k(sampler, test_set, k) for k in (1, 8)}; then compare with sft_scores[SEEDS[0]]
### BEGIN SOLUTION
def pass_at_k(sample, examples, k):
    prompts = [tok.render_prompt(e.conversation(with_answer=False)) for e in examples for _ in range(k)]
    replies = sample(prompts)
    solved = {}
    for i, e in enumerate(examples):
        group = replies[i * k : (i + 1) * k]
        solved.setdefault(e.task, []).append(any(done and check(e, tok.decode(ids)) for ids, done in group))
    return {task: sum(v) / len(v) for task, v in solved.items()}


passes = {k: pass_at_k(sampler, test_set, k) for k in (1, 8)}
for task in TASKS:
    print(f"{task:9} greedy {sft_scores[SEEDS[0]][task].accuracy:6.1%}   pass@1 {passes[1][task]:6.1%}   "
          f"pass@8 {passes[8][task]:6.1%}")
# Where pass@8 is far above the greedy accuracy, some samples are right where the greedy reply is wrong: GRPO
# has groups with a signal there. Where pass@8 is near 0 (nothing right to reinforce) or the greedy accuracy is
# near 100% (every sample right: flat groups), it has nothing to learn from.
### END SOLUTION


# %% nbgrader={"grade": true, "grade_id": "ex10-pass-at-k-check", "locked": true, "points": 1, "schema_version": 3, "solution": false} tags=["self-check"]
fake_examples = [e for e in test_set if e.task == "capitals"][:3] + [e for e in test_set if e.task == "count"][:3]
LAST = len(fake_examples) - 1


def fake_sample(prompts):
    """The i-th reply to each question is right when i % 3 == 1, except that question 2's right replies never reach
    <|end|> and the last question's replies are all wrong; every other reply is a finished "no"."""
    question = {tuple(tok.render_prompt(e.conversation(with_answer=False))): n for n, e in enumerate(fake_examples)}
    out, seen = [], {}
    for p in prompts:
        n = question[tuple(p)]
        i = seen[n] = seen.get(n, -1) + 1
        right = i % 3 == 1 and n != LAST
        out.append((tok.encode(fake_examples[n].answer if right else "no"), not (right and n == 2)))
    return out


def per_task(values: list[float]) -> dict[str, float]:
    return {t: statistics.fmean(v for v, e in zip(values, fake_examples) if e.task == t) for t in ("capitals", "count")}


got = pass_at_k(fake_sample, fake_examples, 4)
assert isinstance(got, dict) and set(got) == {"capitals", "count"}, (
    f"got {got!r}: return one share per task, {{task: share of its questions solved}}")
want = per_task([float(n not in (2, LAST)) for n in range(len(fake_examples))])  # 2/3 each
if any(abs(got[t] - want[t]) > 1e-9 for t in want):
    def close(other: dict) -> bool:
        return all(abs(got[t] - other[t]) < 1e-9 for t in want)

    assert not close(per_task([(n not in (2, LAST)) / 4 for n in range(len(fake_examples))])), (
        "that is the share of correct samples (pass@1 estimated from k samples): a question is solved when ANY of "
        "its k replies is correct")
    assert not close(per_task([float(n != LAST) for n in range(len(fake_examples))])), (
        "a reply that never reached <|end|> counts as correct: check `finished` too, as the grader does")
    assert not close(per_task([0.0] * len(fake_examples))), (
        "no question is solved: does it ask for k samples per question (each prompt k times)?")
    raise AssertionError(f"pass_at_k gives {got}, want {want}: give sample() each prompt k times in a row and "
                         "take the replies k by k, in the order of the examples")
assert pass_at_k(fake_sample, fake_examples, 1) == {"capitals": 0.0, "count": 0.0}, (
    "with k = 1 only the first reply of each question counts (here always wrong)")


# %% [markdown]
# ## Where to go from here
#
# This is the last notebook of the series. To go further:
# - nanochat (Andrej Karpathy) runs the same pipeline, tokenizer to pretraining to SFT to RL to a chat web UI,
#   at GPT-2 scale on a GPU node, in a few hours;
# - the Hugging Face course's chapters on fine-tuning and reasoning build SFT and GRPO with the TRL library on
#   real models; Sebastian Raschka's *LLMs from Scratch* builds instruction fine-tuning and DPO by hand
#   (`nanogpt_lib.rl` has DPO too: `preference_pairs` and `dpo`);
# - try it from the command line on a longer-trained base: `nanogpt train --preset modern --out-dir
#   runs/modern`, then `nanogpt finetune sft --from runs/modern --out-dir runs/chat_sft`, `nanogpt finetune rl
#   --from runs/chat_sft --out-dir runs/chat_rl`, and `nanogpt chat --out-dir runs/chat_rl` (docs/chat.md).
