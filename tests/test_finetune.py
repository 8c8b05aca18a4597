"""Notebook 10's training pieces: vocabulary growth, the masked SFT loss and its loop, GRPO's math, DPO's loss."""

import math

import pytest
import torch
from torch.nn import functional as F

from nanogpt_lib import GPT, CharTokenizer, GPTConfig
from nanogpt_lib.chat import ChatTokenizer, Message
from nanogpt_lib.finetune import (
    SFTConfig,
    assistant_loss,
    chat_model,
    conversation_tensors,
    grow_vocab,
    pad_batch,
    sft,
    sft_backward,
    show_loss_mask,
    text_loss,
)
from nanogpt_lib.rl import (
    DPOConfig,
    RLConfig,
    dpo,
    dpo_loss,
    exact_reward,
    group_advantages,
    grpo,
    kl_k3,
    preference_pairs,
    prefix_reward,
    reply_batch,
)
from nanogpt_lib.tasks import Example, make_examples


@pytest.fixture(scope="module")
def base_tok(text):
    return CharTokenizer.from_text(text)


@pytest.fixture(scope="module")
def tok(base_tok):
    return ChatTokenizer(base_tok)


def tiny_gpt(vocab_size=65, tied=True, block_size=64):
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=2, n_head=2, n_embd=32, bias=False,
                         tie_embeddings=tied))


EXAMPLE = [Message("user", "spell backwards: romeo"), Message("assistant", "oemor")]


@pytest.mark.parametrize("tied", [True, False])
def test_growing_the_vocabulary_keeps_every_old_logit(tied):
    model = tiny_gpt(tied=tied).eval()
    grown = grow_vocab(model, 68)
    x = torch.randint(65, (2, 20), generator=torch.Generator().manual_seed(0))
    old, new = model(x)[0], grown(x)[0]
    assert new.shape == (2, 20, 68) and grown.config.vocab_size == grown.vocab_size == 68
    torch.testing.assert_close(new[..., :65], old, rtol=0, atol=1e-6)
    assert (grown.lm_head.weight is grown.transformer.wte.weight) == tied
    assert model.config.vocab_size == 65 and model.lm_head.weight.shape == (65, 32)  # the original is untouched
    grown(torch.tensor([[65, 66, 67]]))  # the new ids are valid inputs


def test_new_rows_are_the_mean_row_so_a_new_token_gets_the_mean_logit():
    model = tiny_gpt(tied=False).eval()
    grown = grow_vocab(model, 67, noise=0.0)
    logits = grown(torch.randint(65, (1, 10)))[0]
    torch.testing.assert_close(logits[..., 65], logits[..., :65].mean(-1), rtol=0, atol=1e-5)
    noisy = grow_vocab(model, 67, noise=0.1)
    rows = noisy.transformer.wte.weight[65:]
    assert not torch.equal(rows[0], rows[1])  # the noise tells the new tokens apart
    assert torch.equal(grow_vocab(model, 67, seed=3).lm_head.weight, grow_vocab(model, 67, seed=3).lm_head.weight)


def test_chat_model_grows_once(base_tok):
    model, tok = chat_model(tiny_gpt(), base_tok)
    assert isinstance(tok, ChatTokenizer) and model.config.vocab_size == 68
    again, same_tok = chat_model(model, tok)
    assert again is model and same_tok is tok


def test_only_the_assistants_tokens_count(tok):
    x, y = conversation_tensors(tok, EXAMPLE)
    ids = tok.render(EXAMPLE)
    assert x.tolist() == ids[:-1]
    counted = y >= 0
    # the targets that count are exactly the assistant's reply and its <|end|> ...
    assert tok.decode(y[counted].tolist()) == "oemor<|end|>"
    # ... predicted from the positions that read <|assistant|> and the reply so far (a mask shifted by one
    # position would count "<|assistant|>oemo" or "emor<|end|>" plus a user token)
    assert tok.decode(x[counted].tolist()) == "<|assistant|>oemor"
    torch.testing.assert_close(y[counted], torch.tensor(ids)[1:][counted])


def test_every_assistant_turn_counts_in_a_longer_conversation(tok):
    messages = [Message("user", "capitals: a"), Message("assistant", "A"), Message("user", "capitals: b"),
                Message("assistant", "B")]
    _, y = conversation_tensors(tok, messages)
    assert tok.decode(y[y >= 0].tolist()) == "A<|end|>B<|end|>"


def test_padding_changes_neither_the_logits_nor_the_loss(tok):
    model = grow_vocab(tiny_gpt(), 68).eval()
    short, long = conversation_tensors(tok, EXAMPLE), conversation_tensors(tok, [
        Message("user", "how many letters in gentlemen?"), Message("assistant", "nine")])
    x, y = pad_batch([short, long], tok.end_id)
    assert x.shape == (2, len(long[0])) and (y[0, len(short[0]):] == -1).all()
    logits, loss = model(x, y)
    alone = model(short[0][None])[0]
    torch.testing.assert_close(logits[0, : len(short[0])], alone[0], rtol=0, atol=1e-5)
    by_hand = torch.cat([F.cross_entropy(model(xi[None])[0][0], yi, ignore_index=-1, reduction="none")[yi >= 0]
                         for xi, yi in (short, long)]).mean()
    torch.testing.assert_close(loss, by_hand, rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="does not fit the model's window of 8"):
        pad_batch([short], tok.end_id, block_size=8)


def test_micro_batches_of_similar_length_give_the_gradient_of_one_padded_batch(tok):
    examples = make_examples("train", 5, seed=0)  # all four tasks: lengths from ~25 to ~100 tokens
    pairs = [conversation_tensors(tok, e.conversation()) for e in examples]
    grads, losses = [], []
    for groups in (1, 3, 20):
        model = grow_vocab(tiny_gpt(block_size=128), 68)
        losses.append(sft_backward(model, pairs, tok.end_id, groups))
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    x, y = pad_batch(pairs, tok.end_id)
    torch.testing.assert_close(losses[0], grow_vocab(tiny_gpt(block_size=128), 68)(x, y)[1], rtol=0, atol=1e-6)
    for loss, grad in zip(losses[1:], grads[1:]):
        torch.testing.assert_close(loss, losses[0], rtol=0, atol=1e-6)
        torch.testing.assert_close(grad, grads[0], rtol=1e-4, atol=1e-7)


def test_show_loss_mask_lines_up_each_position_with_what_it_predicts(tok):
    x, y = conversation_tensors(tok, EXAMPLE)
    reads, predicts = show_loss_mask(tok, x, y).split("\n")
    reads, predicts = reads.removeprefix("reads   : "), predicts.removeprefix("predicts: ")
    assert reads.rstrip() == "<|user|>spell backwards: romeo<|end|><|assistant|>oemor"
    assert predicts.replace("·", "").replace(" ", "") == "oemor<|end|>"
    assert predicts.index("o") == reads.index("<|assistant|>")  # <|assistant|> is where the 'o' is learned


def test_sft_lowers_the_masked_loss_and_is_reproducible(base_tok):
    examples = make_examples("train", 300, seed=0, tasks=("capitals",))
    held_out = [e.conversation() for e in make_examples("test", 40, seed=0, tasks=("capitals",))]
    cfg = SFTConfig(steps=40, batch_size=16, learning_rate=3e-3, min_lr=3e-4, warmup_steps=5, log_interval=10)
    models = []
    for _ in range(2):
        model, tok = chat_model(tiny_gpt(), base_tok)
        before = assistant_loss(model, tok, held_out)
        history = sft(model, tok, [e.conversation() for e in examples], cfg)
        models.append(model)
    after = assistant_loss(model, tok, held_out)
    assert after < before - 1.0, (before, after)
    assert len(history.train_loss) == len(history.step) == len(history.lr) == 40
    assert all(torch.equal(a, b) for a, b in zip(models[0].state_dict().values(), models[1].state_dict().values()))


def test_text_loss_is_the_mean_next_token_loss():
    model = tiny_gpt(block_size=16).eval()
    ids = torch.randint(65, (65,), generator=torch.Generator().manual_seed(1))
    windows = [(ids[s : s + 16], ids[s + 1 : s + 17]) for s in range(0, 64, 16)]
    by_hand = torch.cat([F.cross_entropy(model(x[None])[0][0], y, reduction="none") for x, y in windows]).mean()
    assert text_loss(model, ids) == pytest.approx(by_hand.item(), abs=1e-5)


# ---------------------------------------------------------------------------------------------------------
# GRPO and DPO


def test_group_advantages():
    rewards = torch.tensor([[1.0, 0.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    adv = group_advantages(rewards)
    torch.testing.assert_close(adv, torch.tensor([[0.5, -0.5, -0.5, 0.5], [0.0] * 4, [-0.25, -0.25, -0.25, 0.75]]))
    scaled = group_advantages(rewards, scale=True)
    torch.testing.assert_close(scaled[0], adv[0] / (rewards[0].std() + 1e-4))
    assert (scaled[1] == 0).all()  # a group that all scored the same teaches nothing, scaled or not
    torch.testing.assert_close(adv.sum(dim=1), torch.zeros(3))


def test_k3_estimates_the_kl_without_bias():
    logits_p, logits_q = torch.tensor([2.0, 0.5, -1.0, 0.0]), torch.tensor([0.0, 1.0, 0.0, -0.5])
    logp, logq = logits_p.log_softmax(0), logits_q.log_softmax(0)
    exact = (logp.exp() * (logp - logq)).sum()
    samples = torch.multinomial(logp.exp(), 200_000, replacement=True, generator=torch.Generator().manual_seed(0))
    k3 = kl_k3(logp[samples], logq[samples])
    assert (k3 >= 0).all() and k3.mean().item() == pytest.approx(exact.item(), rel=0.02)
    assert kl_k3(logp, logp).abs().max() == 0


def test_rewards():
    e = Example("capitals", "capitals: romeo", "ROMEO", "romeo")
    assert exact_reward(e, "ROMEO", True) == 1 and exact_reward(e, "ROMEO", False) == 0
    assert exact_reward(e, "ROM", True) == 0 and exact_reward(e, "", True) == 0
    assert prefix_reward(e, "", True) == 1  # the flaw: saying nothing is "a correct start"


def test_reply_batch_targets_the_reply_only(tok):
    prompt = tok.render_prompt([Message("user", "capitals: ab")])
    x, y = reply_batch(tok, [prompt, prompt], [(tok.encode("AB"), True), (tok.encode("ABC"), False)], 64)
    assert tok.decode(y[0][y[0] >= 0].tolist()) == "AB<|end|>" and tok.decode(y[1][y[1] >= 0].tolist()) == "ABC"
    assert x[0, len(prompt) - 1] == tok.assistant_id and y[0, len(prompt) - 1] == tok.encode("A")[0]


def test_grpo_raises_the_reward_it_is_given(tok):
    """A dense toy reward (the share of 'e's in the reply) on a random model: GRPO makes 'e' more likely, and the
    policy drifts from the reference (KL > 0) while the k3 estimate stays non-negative."""
    model = grow_vocab(tiny_gpt(), 68)
    examples = make_examples("train", 20, seed=0, tasks=("capitals",))

    def share_of_e(example, reply, finished):
        return reply.count("e") / max(len(reply), 1)

    cfg = RLConfig(steps=25, prompts_per_step=4, group_size=8, max_new_tokens=6, learning_rate=1e-2, kl_coef=0.0)
    logs = grpo(model, tok, examples, cfg, reward_fn=share_of_e)
    first, last = sum(m["reward"] for m in logs[:5]) / 5, sum(m["reward"] for m in logs[-5:]) / 5
    assert last > first + 0.2, (first, last)
    assert logs[-1]["kl"] > 0 and all(m["kl_k3"] >= 0 for m in logs)
    assert set(logs[0]) == {"loss", "reward", "correct", "kl", "kl_k3", "length", "finished", "flat_groups"}


def test_grpo_is_reproducible_and_checks_its_settings(tok):
    examples = make_examples("train", 10, seed=0, tasks=("capitals",))
    cfg = RLConfig(steps=2, prompts_per_step=2, group_size=4, max_new_tokens=4, learning_rate=1e-3)
    runs = [grpo(grow_vocab(tiny_gpt(), 68), tok, examples, cfg) for _ in range(2)]
    assert runs[0] == runs[1]
    with pytest.raises(ValueError, match="temperature must be > 0"):
        grpo(grow_vocab(tiny_gpt(), 68), tok, examples, RLConfig(temperature=0))
    with pytest.raises(ValueError, match="group_size must be at least 2"):
        grpo(grow_vocab(tiny_gpt(), 68), tok, examples, RLConfig(group_size=1))


def test_dpo_loss():
    zero = torch.zeros(3)
    assert dpo_loss(zero, zero, zero, zero).item() == pytest.approx(math.log(2))
    chosen_up = dpo_loss(torch.tensor([1.0]), torch.tensor([-1.0]), torch.zeros(1), torch.zeros(1), beta=0.5)
    assert chosen_up.item() == pytest.approx(-math.log(1 / (1 + math.exp(-1.0))))  # -log σ(0.5 · 2)
    # only the change relative to the reference counts
    assert dpo_loss(torch.tensor([5.0]), torch.tensor([3.0]), torch.tensor([5.0]), torch.tensor([3.0])).item() == \
        pytest.approx(math.log(2))


def test_dpo_prefers_the_chosen_replies(tok):
    model = grow_vocab(tiny_gpt(), 68)
    examples = make_examples("train", 12, seed=0, tasks=("capitals",))
    pairs = preference_pairs(model, tok, examples, samples=4, max_new_tokens=6)
    assert pairs and all(tok.decode(chosen) == e.answer for e, chosen, _ in pairs)  # nothing right: the answer
    logs = dpo(model, tok, pairs, DPOConfig(steps=15, batch_size=6, learning_rate=1e-2))
    assert logs[0]["loss"] == pytest.approx(math.log(2), abs=1e-4)  # policy = reference at the start
    assert logs[-1]["margin"] > 1.0 and logs[-1]["loss"] < 0.5
