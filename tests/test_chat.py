"""Notebook 10's chat format, tasks and grading, and the `nanogpt chat` / `nanogpt finetune` commands."""

import io
import subprocess
import sys
from types import SimpleNamespace

import pytest
import torch
from test_tokenizers import gpt2_ranks_file

from nanogpt_lib import GPT, CharTokenizer, GPTConfig
from nanogpt_lib.chat import ChatTokenizer, Message, generate_replies, one_line
from nanogpt_lib.checkpoint import load_model
from nanogpt_lib.cli import main
from nanogpt_lib.finetune import save_chat_run
from nanogpt_lib.history import History
from nanogpt_lib.plot import diagrams
from nanogpt_lib.plot.widgets import chat_widget
from nanogpt_lib.tasks import (
    TASKS,
    Example,
    Graded,
    Grades,
    check,
    dataset_stats,
    is_heldout,
    make_examples,
    task_source,
    wilson_interval,
)
from nanogpt_lib.tokenizers import TiktokenTokenizer, tokenizer_from_dict


@pytest.fixture(scope="module")
def tok(text):
    return ChatTokenizer(CharTokenizer.from_text(text))


@pytest.fixture(scope="module")
def marker_tok(text):
    """A chat tokenizer whose base can spell the markers ('<', '|', '>' are not in Tiny Shakespeare)."""
    return ChatTokenizer(CharTokenizer.from_text(text + "<|>"))


CONVERSATIONS = [
    [Message("user", "spell backwards: romeo"), Message("assistant", "oemor")],
    [Message("user", "capitals: a"), Message("assistant", "A"), Message("user", "and b?"), Message("assistant", "B")],
    [Message("user", "")],
    [Message("assistant", "")],
    [Message("user", "what says <|end|> here?\n<|assistant|>"), Message("assistant", "<|user|>")],
    [],
]


@pytest.mark.parametrize("messages", CONVERSATIONS)
def test_render_then_parse_gives_the_conversation_back(marker_tok, messages):
    ids = marker_tok.render(messages)
    assert marker_tok.parse(ids) == messages
    assert marker_tok.parse(marker_tok.render_prompt(messages)[:-1]) == messages  # the prompt: + <|assistant|>
    assert marker_tok.render_prompt(messages)[-1] == marker_tok.assistant_id


def test_the_template_lays_out_turns_with_the_special_tokens(tok):
    ids = tok.render(CONVERSATIONS[0])
    assert tok.decode(ids) == "<|user|>spell backwards: romeo<|end|><|assistant|>oemor<|end|>"
    assert [i for i in ids if tok.is_special(i)] == [tok.user_id, tok.end_id, tok.assistant_id, tok.end_id]
    assert (tok.user_id, tok.assistant_id, tok.end_id, tok.vocab_size) == (65, 66, 67, 68)


def test_marker_text_typed_by_a_user_never_becomes_a_special_token(marker_tok):
    text = "<|user|><|assistant|><|end|>"
    assert not any(marker_tok.is_special(i) for i in marker_tok.encode(text))
    ids = marker_tok.render([Message("user", text)])
    assert [i for i in ids if marker_tok.is_special(i)] == [marker_tok.user_id, marker_tok.end_id]
    assert marker_tok.parse(ids) == [Message("user", text)]


def test_marker_text_with_gpt2_tokens_stays_ordinary_text():
    base = TiktokenTokenizer.named("gpt2", gpt2_ranks_file())
    tok = ChatTokenizer(base)
    text = "<|endoftext|> and <|user|>, <|end|>"
    assert all(i < base.vocab_size for i in tok.encode(text))  # not even GPT-2's own <|endoftext|>
    messages = [Message("user", text), Message("assistant", "ok")]
    assert tok.parse(tok.render(messages)) == messages
    assert tok.user_id == 50257


@pytest.mark.parametrize("bad, where", [
    ("oemor", "should start a turn"),
    ("<|user|>hi", "has no <|end|>"),
    ("<|user|>hi<|assistant|>x<|end|>", "holds a special token"),
    ("<|end|>", "should start a turn"),
])
def test_parse_refuses_ids_that_do_not_follow_the_template(tok, bad, where):
    specials = {"<|user|>": tok.user_id, "<|assistant|>": tok.assistant_id, "<|end|>": tok.end_id}
    ids, rest = [], bad
    while rest:
        marker = next((m for m in specials if rest.startswith(m)), None)
        ids += [specials[marker]] if marker else tok.encode(rest[0])
        rest = rest[len(marker):] if marker else rest[1:]
    with pytest.raises(ValueError, match=where.replace("|", r"\|")):
        tok.parse(ids)


def test_chat_tokenizer_saves_and_loads(tok):
    saved = tok.saved_form()
    assert saved["kind"] == "chat" and saved["base"]["kind"] == "char"
    again = tokenizer_from_dict(saved)
    assert isinstance(again, ChatTokenizer) and again.saved_form() == saved
    assert again.render(CONVERSATIONS[1]) == tok.render(CONVERSATIONS[1])
    with pytest.raises(ValueError, match="already has chat tokens"):
        ChatTokenizer(tok)


# ---------------------------------------------------------------------------------------------------------
# Tasks


def test_held_out_split_shares_no_word_or_line_with_training():
    train, test = make_examples("train", 3000, seed=1), make_examples("test", 300, seed=1)
    for task in TASKS:
        train_units = {e.unit for e in train if e.task == task}
        test_units = {e.unit for e in test if e.task == task}
        assert test_units and not train_units & test_units
    assert all(is_heldout(e.unit) for e in test) and not any(is_heldout(e.unit) for e in train)
    # no test word appears in any training example, whatever its task
    train_words = {e.unit for e in train if e.task != "speaker"}
    assert not train_words & {e.unit for e in test if e.task != "speaker"}
    source = task_source()
    share = len(source.words["test"]) / (len(source.words["test"]) + len(source.words["train"]))
    assert 0.17 < share < 0.23  # HELDOUT_PERCENT = 20


def test_the_generator_is_seeded():
    assert make_examples("train", 50, seed=3) == make_examples("train", 50, seed=3)
    assert make_examples("train", 50, seed=3) != make_examples("train", 50, seed=4)
    # each task has its own stream: asking for fewer tasks does not change the others
    only = make_examples("train", 50, seed=3, tasks=("count",))
    assert only == [e for e in make_examples("train", 50, seed=3) if e.task == "count"]


def test_every_answer_passes_its_exact_checker_and_nothing_else(tok):
    examples = make_examples("test", 100, seed=0)
    for e in examples:
        assert check(e, e.answer)
        assert not check(e, e.answer + " ") and not check(e, e.answer[:-1]) and not check(e, e.answer.swapcase())
        tok.encode(e.prompt + e.answer)  # every character is in Tiny Shakespeare's vocabulary
    by_task = {e.task: e for e in examples}
    assert by_task["reverse"].answer == by_task["reverse"].unit[::-1]
    assert by_task["capitals"].answer == by_task["capitals"].unit.upper()
    speaker = by_task["speaker"]
    assert speaker.answer in speaker.prompt.split("?")[0] and speaker.prompt.endswith(speaker.unit)


def test_dataset_statistics():
    stats = dataset_stats(make_examples("train", 400, seed=0))
    assert set(stats) == set(TASKS)
    assert stats["reverse"]["examples"] == 400 and stats["reverse"]["answer_chars_max"] <= 8
    assert stats["count"]["most_common_answer"] in ("five", "six", "seven")
    assert 0.4 < stats["speaker"]["first_name_share"] < 0.6  # the right name is first half of the time


def test_wilson_interval():
    assert wilson_interval(0, 0) == (0.0, 1.0)
    low, high = wilson_interval(0, 10)
    assert low == 0.0 and high == pytest.approx(0.2775, abs=1e-4)
    low, high = wilson_interval(5, 10)
    assert (low, high) == pytest.approx((0.2366, 0.7634), abs=1e-4)
    low, high = wilson_interval(81, 100)
    assert low < 0.81 < high and high - low < 0.2


def test_scores_and_transcripts():
    examples = make_examples("test", 20, seed=0, tasks=("capitals", "count"))
    grades = Grades([Graded(e, e.answer if i % 4 else "x", True, bool(i % 4)) for i, e in enumerate(examples)])
    scores = grades.scores()
    assert (scores["capitals"].correct, scores["capitals"].n) == (15, 20)
    picked = grades.transcripts(per_task=3, seed=5)
    assert picked == grades.transcripts(per_task=3, seed=5) != grades.transcripts(per_task=3, seed=6)
    assert [g.example.task for g in picked] == ["capitals"] * 3 + ["count"] * 3


# ---------------------------------------------------------------------------------------------------------
# Generation that stops at <|end|>


class Scripted(torch.nn.Module):
    """A stand-in model: to a prompt whose first token is f, it replies with token 1 repeated f % 4 times, then
    <|end|> (greedy), whatever the prompt's length."""

    context_length = 64

    def __init__(self, tok):
        super().__init__()
        self.tok, self.weight, self.calls = tok, torch.nn.Parameter(torch.zeros(1)), 0

    def new_cache(self, batch_size, device):
        return SimpleNamespace(pos=0, first=None, prompt=0)

    def next_token_logits(self, idx, cache):
        self.calls += 1
        if cache.first is None:
            cache.first, cache.prompt = idx[:, 0], idx.size(1)
        cache.pos += idx.size(1)
        produced = cache.pos - cache.prompt
        want = torch.where(produced >= cache.first % 4, self.tok.end_id, 1)
        return torch.nn.functional.one_hot(want, self.tok.vocab_size).float()


def test_replies_stop_at_end_of_turn_each_row_on_its_own(tok):
    model = Scripted(tok)
    prompts = [[5, 2, 3], [6, 2, 3], [7, 2], [4], [3, 3, 3]]
    replies = generate_replies(model, tok, prompts, max_new_tokens=10)
    assert replies == [([1], True), ([1, 1], True), ([1, 1, 1], True), ([], True), ([1, 1, 1], True)]
    assert generate_replies(model, tok, prompts, max_new_tokens=2)[2] == ([1, 1], False)  # cut at the cap
    model.calls = 0
    assert generate_replies(model, tok, [[5, 2], [6, 2]], max_new_tokens=50) == [([1], True), ([1, 1], True)]
    assert model.calls == 3  # the prompt, then two more tokens: the batch stops once every row has ended


def test_batched_greedy_replies_equal_one_at_a_time(tok):
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=tok.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32)).eval()
    prompts = [tok.render_prompt([Message("user", w)]) for w in ("romeo", "juliet", "romea", "a", "b", "tybalt")]
    batched = generate_replies(model, tok, prompts, max_new_tokens=6)
    assert batched == [generate_replies(model, tok, [p], max_new_tokens=6)[0] for p in prompts]
    with pytest.raises(ValueError, match="window holds 32"):
        generate_replies(model, tok, [[1] * 32])


# ---------------------------------------------------------------------------------------------------------
# The commands


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A tiny base run and a tiny SFT run made from it (seconds: the point is the plumbing, not the accuracy)."""
    root = tmp_path_factory.mktemp("chat_runs")
    base, sft = root / "base", root / "sft"
    assert main(["train", "--preset", "tiny", "--block_size", "64", "--max_iters", "5", "--out-dir", str(base),
                 "--no-progress"]) == 0
    assert main(["finetune", "sft", "--from", str(base), "--out-dir", str(sft), "--steps", "3", "--batch-size", "4",
                 "--tasks", "capitals,reverse", "--train-examples", "20", "--eval-examples", "3"]) == 0
    return SimpleNamespace(base=base, sft=sft)


def nanogpt(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nanogpt_lib", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


def test_chat_from_a_pipe_prints_one_reply_per_line(runs):
    model, tok, _ = load_model(runs.sft / "best.pt")
    lines = ["capitals: romeo", "spell backwards: juliet"]
    expected = [one_line(tok.decode(ids)) for ids, _ in
                generate_replies(model, tok, [tok.render_prompt([Message("user", s)]) for s in lines], 8)]
    done = nanogpt("chat", "--out-dir", str(runs.sft), "--max-new-tokens", "8", stdin="\n".join(lines) + "\n\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:-1] == expected  # one line per user line (the blank one is skipped)


def test_chat_refuses_a_run_without_chat_tokens(runs):
    done = nanogpt("chat", "--out-dir", str(runs.base), stdin="capitals: romeo\n")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("nanogpt: error: ") and "no chat tokens" in done.stderr
    assert done.stderr.count("\n") == 1 and "finetune sft" in done.stderr


@pytest.mark.parametrize("line, message", [("capitals: 7 <b>", "not in the vocabulary: '7', '<', '>'"),
                                           ("a" * 80, "this model reads at most 63")])
def test_chat_refuses_input_it_cannot_read(runs, monkeypatch, capsys, line, message):
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"capitals: romeo\n{line}\n"))
    assert main(["chat", "--out-dir", str(runs.sft), "--max-new-tokens", "3"]) == 2
    out, err = capsys.readouterr()
    assert out.count("\n") == 1  # the first line was answered
    assert err.startswith("nanogpt: error: ") and message in err and err.count("\n") == 1


def test_finetune_writes_a_chat_run_and_never_touches_its_source(runs, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in runs.base.iterdir()}
    model, tok, ckpt = load_model(runs.sft / "best.pt")
    assert isinstance(tok, ChatTokenizer) and model.config.vocab_size == tok.vocab_size == 68
    assert ckpt["data"]["stage"] == "sft" and set(ckpt["data"]["eval"]) == {"capitals", "reverse"}
    assert {"ckpt.pt", "best.pt", "history.json", "config.json", "tokenizer.json", "data.json"} <= {
        p.name for p in runs.sft.iterdir()}
    argv = ["finetune", "sft", "--from", str(runs.base), "--steps", "1", "--tasks", "capitals"]
    assert main(argv + ["--out-dir", str(runs.sft)]) == 2  # holds a run: refused without --force
    assert "already holds a run; pass --force" in capsys.readouterr().err
    assert main(argv + ["--out-dir", str(runs.base), "--force"]) == 2  # never into the run it starts from
    assert "--out-dir must differ from --from" in capsys.readouterr().err
    assert main(["finetune", "rl", "--from", str(runs.base), "--out-dir", str(runs.base.parent / "rl")]) == 2
    assert "no chat tokens" in capsys.readouterr().err
    assert main(argv + ["--out-dir", str(runs.base.parent / "x"), "--kl-coef", "1"]) == 2
    assert "--kl-coef is an option of `nanogpt finetune rl`" in capsys.readouterr().err
    assert main(argv + ["--out-dir", str(runs.base.parent / "x"), "--tasks", "poetry"]) == 2
    assert not (runs.base.parent / "x" / "ckpt.pt").exists() and not (runs.base.parent / "rl").exists()
    assert before == {p.name: p.stat().st_mtime_ns for p in runs.base.iterdir()}


def test_finetune_rl_continues_an_sft_run(runs, capsys):
    out = runs.sft.parent / "rl"
    assert main(["finetune", "rl", "--from", str(runs.sft), "--out-dir", str(out), "--steps", "2", "--group-size",
                 "2", "--prompts-per-step", "2", "--tasks", "capitals", "--train-examples", "10",
                 "--eval-examples", "2", "--max-new-tokens", "4"]) == 0
    printed = capsys.readouterr().out
    assert "reward=" in printed and "kl=" in printed and "held-out accuracy" in printed
    _, tok, ckpt = load_model(out / "best.pt")
    assert isinstance(tok, ChatTokenizer) and ckpt["data"]["stage"] == "rl" and len(ckpt["data"]["rl_log"]) == 2


def test_example_conversation():
    e = Example("capitals", "capitals: romeo", "ROMEO", "romeo")
    assert e.conversation() == [Message("user", "capitals: romeo"), Message("assistant", "ROMEO")]
    assert e.conversation(with_answer=False) == [Message("user", "capitals: romeo")]


def test_a_reply_with_a_newline_stays_on_one_output_line():
    assert one_line("to be\nor not") == "to be\\nor not"
    assert one_line("a\\nb") == "a\\\\nb"  # a backslash is doubled, so the two cannot be confused
    assert "\n" not in one_line("\n\n")


def test_a_model_saved_by_save_chat_run_talks_through_nanogpt_chat(runs):
    model, tok, _ = load_model(runs.sft / "best.pt")
    out = runs.sft.parent / "saved"
    save_chat_run(out, model, tok, History(), {"stage": "test"}, {"stage": "test"})
    assert {"ckpt.pt", "best.pt", "config.json", "tokenizer.json", "data.json", "history.json"} <= {
        p.name for p in out.iterdir()}
    with pytest.raises(Exception, match="already"):  # an existing run is refused without force
        save_chat_run(out, model, tok, History(), {}, {})
    save_chat_run(out, model, tok, History(), {}, {}, force=True)
    done = nanogpt("chat", "--out-dir", str(out), "--max-new-tokens", "4", stdin="capitals: romeo\ncapitals: a\n")
    assert done.returncode == 0 and done.stdout.count("\n") == 2, done.stderr


def test_chat_widget_keeps_a_transcript_that_a_saved_notebook_shows(runs):
    model, tok, _ = load_model(runs.sft / "best.pt")
    w = chat_widget(model, tok, ["capitals: romeo", "capitals: 7"], max_new_tokens=4)
    assert [m for m, _ in w.transcript] == ["capitals: romeo", "capitals: 7"]
    prompt = tok.render_prompt([Message("user", "capitals: romeo")])
    expected = tok.decode(generate_replies(model, tok, [prompt], 4)[0][0])
    assert w.transcript[0][1].startswith(one_line(expected))
    assert w.transcript[1][1].startswith("[error:")  # '7' is not in the vocabulary: said, not raised
    bundle = w._repr_mimebundle_()
    assert "capitals: romeo" in bundle["text/plain"] and "you</b>&gt; capitals: romeo" in bundle["text/html"]
    w.ask("capitals: b")
    assert len(w.transcript) == 3 and "capitals: b" in w.text()


def test_chat_diagrams():
    assert len(diagrams.chat_pipeline().axes) == 1
    fig = diagrams.loss_mask(["<|user|>", "a", "<|end|>", "<|assistant|>", "A"], [None, None, None, "A", "<|end|>"])
    words = [t.get_text() for t in fig.axes[0].texts]
    assert "U" in words and "E" in words and any("Loss on 2 of 5 positions" in w for w in words)
    with pytest.raises(ValueError):
        diagrams.loss_mask(["a"], [])
    fig = diagrams.grpo_group("capitals: ab", ["AB", "Ab", ""], [1.0, 0.0, 0.0], [2 / 3, -1 / 3, -1 / 3])
    words = [t.get_text() for t in fig.axes[0].texts]
    assert "+0.667" in words and "-0.333" in words and any("group mean reward 0.333" in w for w in words)
    with pytest.raises(ValueError):
        diagrams.grpo_group("x", ["a"], [1.0, 0.0], [0.5])
