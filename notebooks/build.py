"""Source of truth for notebooks 00–05: writes each `.ipynb` from the cells below, then executes it in place.

    python notebooks/build.py                   # build and execute 00–05 at full settings (~15 min, 2 CPU cores)
    python notebooks/build.py 02 03             # only the notebooks whose names start with these prefixes
    NANOGPT_FAST=1 python notebooks/build.py    # fast mode, for a quick try (do not commit those outputs)
    python notebooks/build.py --no-execute      # write the files without outputs

Edit the cells here, never the `.ipynb` files: a rebuild overwrites them. Execution needs the corpus
(`NANOGPT_DATA=/path/to/input.txt` offline). The wall time of each notebook is printed at the end.
"""

from __future__ import annotations

import argparse
import html
import sys
import time
from pathlib import Path
from textwrap import dedent

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from nanogpt_lib.notebook import REPO_URL, colab_url

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------------------- cells
def md(text: str):
    return new_markdown_cell(dedent(text).strip())


def code(text: str, *, check_output: bool = False, tags: tuple[str, ...] = ()):
    """A code cell; `check_output` marks it for nbval to compare its output exactly (fast == full mode)."""
    source = dedent(text).strip()
    if check_output:
        source = "# NBVAL_CHECK_OUTPUT\n" + source
    cell = new_code_cell(source)
    if tags:
        cell.metadata["tags"] = list(tags)
    return cell


def exercise(grade_id: str, prompt: str, solution: str):
    """An nbgrader solution cell: `prompt` (comments) stays, the solution between the markers is hidden."""
    source = dedent(prompt).strip() + "\n### BEGIN SOLUTION\n" + dedent(solution).strip() + "\n### END SOLUTION"
    cell = new_code_cell(source)
    cell.metadata.update({
        "nbgrader": {"solution": True, "grade": False, "locked": False, "grade_id": grade_id, "schema_version": 3},
        "jupyter": {"source_hidden": True},
        "tags": ["exercise"],
    })
    return cell


def self_check(text: str):
    return code(text, tags=("self-check",))


def title(name: str, heading: str, intro: str) -> list:
    """The title cell with the Colab badge, then the set-up cell every notebook starts with."""
    badge = f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab_url(name + '.ipynb')})"
    setup = f'''
        # In Colab, install nanogpt_lib from the project's repository; locally it is already installed.
        import sys

        if "google.colab" in sys.modules:
            %pip install -q "git+{REPO_URL}"

        from nanogpt_lib.notebook import setup

        setup()  # seeds, small inline figures; loads the corpus (downloads it the first time)
    '''
    return [md(f"{badge}\n\n# {heading}\n\n{dedent(intro).strip()}"), code(setup)]


# ------------------------------------------------------------------------------------------------ 00 data
NB00 = "00_data_and_tokenization", [
    *title("00_data_and_tokenization", "00 · Data and tokenization", """
        A language model learns to continue text. Before any model, we need the text itself, a way to turn it
        into numbers, and a way to cut it into training examples.

        **You will learn**
        - how big Tiny Shakespeare is and what it looks like;
        - the character vocabulary, and `encode` / `decode` between text and integer ids;
        - why we hold out the *end* of the text for validation;
        - what a **context** and a **target** are, and how one window of `block_size + 1` characters holds
          `block_size` training examples; how a batch of windows is drawn.

        **You need** Python and a first look at PyTorch tensors. This is the first notebook of the series.
    """),
    md("""
        ## The corpus

        `load_text()` returns Tiny Shakespeare: about 40,000 lines of plays in one 1.1 MB file. It looks for a
        local copy first and downloads it otherwise.
    """),
    code("""
        from nanogpt_lib import load_text

        text = load_text()
        print(f"{len(text):,} characters, {len(text.splitlines()):,} lines")
        print(text[:400])
    """),
    md("""
        ## The vocabulary

        The simplest tokenizer treats every distinct character as a token. Sorting the characters gives each one
        a fixed id.
    """),
    code("""
        chars = sorted(set(text))
        vocab_size = len(chars)
        print(vocab_size)
        print(repr("".join(chars)))
    """, check_output=True),
    md("A few characters do most of the work. Here are the most frequent ones:"),
    code("""
        from collections import Counter

        import matplotlib.pyplot as plt

        top = Counter(text).most_common(30)
        fig, ax = plt.subplots(figsize=(10, 2.8))
        ax.bar([repr(c)[1:-1] for c, _ in top], [n for _, n in top], color="tab:blue")
        ax.set(title="The 30 most frequent characters", ylabel="count")
        plt.show()
    """),
    md("""
        ## Encode and decode

        Two lookup tables turn characters into ids (`stoi`, "string to integer") and back (`itos`).
    """),
    code("""
        stoi = {c: i for i, c in enumerate(chars)}
        itos = {i: c for i, c in enumerate(chars)}


        def encode(s: str) -> list[int]:
            return [stoi[c] for c in s]


        def decode(ids) -> str:
            return "".join(itos[int(i)] for i in ids)


        print(encode("hii there"))
        print(decode(encode("hii there")))
    """, check_output=True),
    md("""
        Real tokenizers (GPT-2's BPE, SentencePiece) trade a bigger vocabulary for shorter sequences; notebook 06
        builds one. Characters keep everything visible, so we start with them.

        The whole corpus becomes one long tensor of ids:
    """),
    code("""
        import torch

        data = torch.tensor(encode(text), dtype=torch.long)
        print(data.shape, data.dtype)
        print(data[:60])
    """),
    md("""
        ## Train / validation split

        We keep the first 90% for training and the last 10% for validation. No shuffling: text is sequential, and
        a contiguous stretch the model has never seen is an honest test of whether it learned *Shakespeare* or
        just memorised lines.
    """),
    code("""
        n = int(0.9 * len(data))
        train_data, val_data = data[:n], data[n:]
        print(f"train {len(train_data):,} tokens, val {len(val_data):,} tokens")
    """, check_output=True),
    md("""
        ## Contexts and targets

        We never feed the whole text at once. We take a window of `block_size + 1` ids. Inside it, every prefix
        is a **context** and the character right after it is its **target**: one window gives `block_size`
        examples, with contexts from 1 to `block_size` characters long. That is also why a model trained like
        this can start generating from a single character.
    """),
    code("""
        block_size = 8
        x = train_data[:block_size]
        y = train_data[1 : block_size + 1]
        for t in range(block_size):
            context, target = x[: t + 1], y[t]
            print(f"context {decode(context)!r:12} -> target {decode([target])!r}")
    """, check_output=True),
    md("""
        ## Batches

        To keep the CPU (or GPU) busy we process many windows at once: `batch_size` random starting points, each
        giving one row of `x` and the same row shifted by one in `y`. So `y[b, t]` is the target for the context
        `x[b, : t + 1]`.
    """),
    code("""
        batch_size = 4


        def get_batch_by_hand(data: torch.Tensor, batch_size: int, block_size: int, generator=None):
            starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
            x = torch.stack([data[i : i + block_size] for i in starts])
            y = torch.stack([data[i + 1 : i + block_size + 1] for i in starts])
            return x, y


        xb, yb = get_batch_by_hand(train_data, batch_size, block_size, torch.Generator().manual_seed(0))
        print("x =", xb, "y =", yb, sep="\\n")
        for row in range(batch_size):
            print(f"{decode(xb[row])!r:14} -> {decode(yb[row])!r}")
    """),
    md("""
        From now on the library does this: `nanogpt_lib.CharTokenizer` is the vocabulary with `encode`/`decode`,
        `Corpus.from_text` encodes and splits, and `get_batch` draws the windows (with one indexing operation
        instead of a Python loop).

        ## Check

        The hand-built pieces must agree with the library's.
    """),
    code("""
        from nanogpt_lib import CharTokenizer, Corpus, get_batch

        tok = CharTokenizer.from_text(text)
        assert vocab_size == tok.vocab_size == 65
        assert encode(text[:5000]) == tok.encode(text[:5000])
        assert decode(encode(text[:5000])) == text[:5000] == tok.decode(tok.encode(text[:5000]))

        corpus = Corpus.from_text(text)
        torch.testing.assert_close(corpus.train, train_data)
        torch.testing.assert_close(corpus.val, val_data)

        # Same random generator state -> the same windows from both implementations.
        x_hand, y_hand = get_batch_by_hand(train_data, 16, 32, torch.Generator().manual_seed(1))
        x_lib, y_lib = get_batch(corpus.train, 16, 32, torch.Generator().manual_seed(1))
        torch.testing.assert_close(x_hand, x_lib)
        torch.testing.assert_close(y_hand, y_lib)
        assert torch.equal(y_lib[:, :-1], x_lib[:, 1:])  # targets are the inputs shifted by one
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. What follows a "q"?** Count, in `train_data`, which character comes right after each `q`. Store the
        counts in a dict `after_q` mapping a character to how often it follows `q`.
    """),
    exercise("ex00-after-q", "# after_q: dict[str, int], e.g. {'u': 1234, ...}", """
        q = stoi["q"]
        followers = train_data[1:][train_data[:-1] == q]
        after_q = dict(Counter(decode(followers)))
    """),
    self_check("""
        train_text = text[: len(train_data)]
        assert sum(after_q.values()) == train_text[:-1].count("q")
        assert max(after_q, key=after_q.get) == "u"
        print(sorted(after_q.items(), key=lambda kv: -kv[1])[:5])
    """),
    md("""
        Such next-character statistics are exactly what the model of the next notebook learns.

        **2. Unknown characters.** `encode("café")` fails: `é` is not in the vocabulary. Write `safe_encode(s)`
        that maps every unknown character to the id of a space.
    """),
    exercise("ex00-safe-encode", "# def safe_encode(s: str) -> list[int]: ...", """
        def safe_encode(s: str) -> list[int]:
            return [stoi.get(c, stoi[" "]) for c in s]
    """),
    self_check("""
        assert decode(safe_encode("café au lait")) == "caf  au lait"
        assert safe_encode("ROMEO:") == encode("ROMEO:")
    """),
    md("""
        ## What's next

        In **01_bigram** we train the simplest possible language model on these batches: a table that predicts
        the next character from the current one alone.
    """),
]


# ---------------------------------------------------------------------------------------------- 01 bigram
NB01 = "01_bigram", [
    *title("01_bigram", "01 · The bigram model", """
        The simplest language model looks only at the current character to guess the next one. It is a single
        table, yet it already has everything a GPT has around it: logits, a cross-entropy loss, a training
        loop, and sampling.

        **You will learn**
        - the bigram model: an embedding table used directly as next-token logits;
        - cross-entropy, and why the loss of a clueless model is ln(vocab_size);
        - a training loop written by hand, with a live loss curve;
        - sampling text, before and after training.

        **You need** from 00: the character vocabulary, train/val split and `get_batch`
        (now `nanogpt_lib.Corpus` and `nanogpt_lib.get_batch`).
    """),
    code("""
        import math

        import torch
        import torch.nn as nn
        from torch.nn import functional as F

        from nanogpt_lib import Corpus, History, LiveLossPlot, get_batch, load_text
        from nanogpt_lib.notebook import pick

        corpus = Corpus.from_text(load_text())
        encode, decode = corpus.tokenizer.encode, corpus.tokenizer.decode
        vocab_size = corpus.vocab_size
        xb, yb = get_batch(corpus.train, 4, 8, torch.Generator().manual_seed(0))
        print(vocab_size, xb.shape, yb.shape)
    """, check_output=True),
    md("""
        ## The model

        An `nn.Embedding(vocab_size, vocab_size)` is a table with one row per character. We read the row of the
        current character and use it **as the logits** (unnormalised log-probabilities) of the next one.
        Softmax turns logits into probabilities; the loss is the cross-entropy, the mean of
        −log p(correct next character) over every position of every window.
    """),
    code("""
        class BigramLanguageModel(nn.Module):
            \"\"\"Next-character logits straight from a (vocab_size x vocab_size) table.\"\"\"

            def __init__(self, vocab_size: int):
                super().__init__()
                self.token_embedding_table = nn.Embedding(vocab_size, vocab_size)

            def forward(self, idx, targets=None):
                logits = self.token_embedding_table(idx)  # (B, T, vocab_size)
                if targets is None:
                    return logits, None
                B, T, C = logits.shape
                return logits, F.cross_entropy(logits.reshape(B * T, C), targets.reshape(B * T))

            @torch.no_grad()
            def generate(self, idx, max_new_tokens: int, generator=None):
                for _ in range(max_new_tokens):
                    logits, _ = self(idx[:, -1:])  # only the last character matters
                    probs = F.softmax(logits[:, -1, :], dim=-1)
                    idx_next = torch.multinomial(probs, num_samples=1, generator=generator)
                    idx = torch.cat((idx, idx_next), dim=1)
                return idx


        torch.manual_seed(1337)
        model = BigramLanguageModel(vocab_size)
        logits, loss = model(xb, yb)
        print(logits.shape, f"loss {loss.item():.3f}")
    """),
    md("""
        ## The loss at initialisation

        A model that knows nothing spreads its bet evenly: p = 1/65 for every character, so the loss is
        −ln(1/65) = ln(65). Our random table does slightly *worse*: its logits are random numbers, so it is
        confidently wrong about some characters. With all-zero logits we get ln(65) exactly.
    """),
    code("""
        print(f"ln(vocab_size) = {math.log(vocab_size):.4f}")
        zeros = torch.zeros(4, 8, vocab_size)
        print(f"loss of all-zero logits = {F.cross_entropy(zeros.view(-1, vocab_size), yb.reshape(-1)).item():.4f}")
    """, check_output=True),
    md("Samples from the untrained model are random characters:"),
    code("""
        start = torch.zeros((1, 1), dtype=torch.long)  # id 0 is the newline character
        print(decode(model.generate(start, 200, generator=torch.Generator().manual_seed(0))[0].tolist()))
    """),
    md("""
        ## Training by hand

        The loop is always the same: draw a batch, compute the loss, backpropagate, let the optimizer nudge the
        weights. Every `eval_interval` steps we measure the mean loss over several batches of *both* splits, in
        evaluation mode and without gradients: a single batch's loss is too noisy to compare.

        `LiveLossPlot` redraws the curve in place while the loop runs; we record the steps in a `History`,
        the same record the library's `train` keeps.
    """),
    code("""
        max_iters = pick(real=3000, fast=100)
        eval_interval = pick(real=300, fast=50)
        eval_iters = pick(real=50, fast=5)
        batch_size, block_size, learning_rate = 32, 8, 1e-2


        @torch.no_grad()
        def evaluate(model: nn.Module) -> dict:
            \"\"\"Mean loss over `eval_iters` batches of each split (the same batches every time).\"\"\"
            model.eval()
            out = {}
            for split, data in (("train", corpus.train), ("val", corpus.val)):
                gen = torch.Generator().manual_seed(1)
                losses = [model(*get_batch(data, batch_size, block_size, gen))[1] for _ in range(eval_iters)]
                out[split] = torch.stack(losses).mean().item()
            model.train()
            return out


        init_losses = evaluate(model)
        optimizer = torch.optim.AdamW(model.parameters(), lr=learning_rate)
        history, live = History(), LiveLossPlot("Bigram, trained by hand")
        gen = torch.Generator().manual_seed(1337)
        for step in range(max_iters):
            xb, yb = get_batch(corpus.train, batch_size, block_size, gen)
            logits, loss = model(xb, yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            history.step.append(step)
            history.train_loss.append(loss.item())
            history.lr.append(learning_rate)
            if (step + 1) % eval_interval == 0:
                losses = evaluate(model)
                history.eval_step.append(step + 1)
                history.eval_train_loss.append(losses["train"])
                history.eval_val_loss.append(losses["val"])
                live(step + 1, history)
        print(f"before: {init_losses}\\nafter:  {evaluate(model)}")
    """),
    md("""
        The loss falls from about 4.7 to about 2.5 and stops there: that is as good as a table of
        character-pair statistics gets. The learning rate is constant here (the right panel); notebook 05 shows
        why real runs warm it up and then decay it.

        Now the samples have the *shape* of Shakespeare (names, line breaks, short words) but no sense: each
        character only knows its predecessor.
    """),
    code("""
        print(decode(model.generate(start, 300, generator=torch.Generator().manual_seed(0))[0].tolist()))
    """),
    md("""
        ## Check

        `nanogpt_lib.BigramLanguageModel` is the same model. Given our weights, it must compute the same logits
        and loss, and sample the same text from the same random generator.
    """),
    code("""
        import nanogpt_lib

        lib_model = nanogpt_lib.BigramLanguageModel(vocab_size)
        lib_model.load_state_dict(model.state_dict())
        xb, yb = get_batch(corpus.val, 8, 16, torch.Generator().manual_seed(2))
        ours, theirs = model(xb, yb), lib_model(xb, yb)
        torch.testing.assert_close(ours[0], theirs[0])
        torch.testing.assert_close(ours[1], theirs[1])

        ours_text = model.generate(start, 100, generator=torch.Generator().manual_seed(3))
        lib_text = lib_model.generate(start, 100, generator=torch.Generator().manual_seed(3))
        assert torch.equal(ours_text, lib_text)

        final = evaluate(model)
        assert final["val"] < init_losses["val"] - 0.1, "training should lower the validation loss"
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. Count instead of train.** A bigram table can also be *counted*. Build `counts`, a
        `(vocab_size, vocab_size)` tensor where `counts[i, j]` is how often id `j` follows id `i` in
        `corpus.train`. Turn it into probabilities `probs` (add 1 to every count first, so nothing has
        probability 0), and compute `count_val_loss`, the mean −log p of every next character in `corpus.val`.
    """),
    exercise("ex01-count-bigram", "# counts, probs: (vocab_size, vocab_size) tensors; count_val_loss: float", """
        pairs = corpus.train[:-1] * vocab_size + corpus.train[1:]
        counts = torch.bincount(pairs, minlength=vocab_size * vocab_size).view(vocab_size, vocab_size)
        probs = (counts + 1).float()
        probs = probs / probs.sum(dim=1, keepdim=True)
        count_val_loss = -probs[corpus.val[:-1], corpus.val[1:]].log().mean().item()
    """),
    self_check("""
        assert counts.shape == probs.shape == (vocab_size, vocab_size)
        assert counts.sum() == len(corpus.train) - 1
        torch.testing.assert_close(probs.sum(dim=1), torch.ones(vocab_size))
        q, u = encode("qu")
        assert probs[q].argmax() == u
        print(f"counted bigram: val loss {count_val_loss:.4f}; trained: {evaluate(model)['val']:.4f}")
        assert count_val_loss < math.log(vocab_size) - 1.0
    """),
    md("""
        Trained long enough, gradient descent finds (almost) the same table as counting: the loss of the counted
        model is the floor for any bigram model.

        **2. Greedy decoding.** Write `greedy(model, idx, max_new_tokens)` that always appends the *most likely*
        next token instead of sampling. Look at its output: why does greedy decoding get stuck in a loop?
    """),
    exercise("ex01-greedy", "# def greedy(model, idx, max_new_tokens) -> torch.Tensor: ...", """
        @torch.no_grad()
        def greedy(model, idx, max_new_tokens):
            for _ in range(max_new_tokens):
                logits, _ = model(idx[:, -1:])
                idx = torch.cat((idx, logits[:, -1, :].argmax(dim=-1, keepdim=True)), dim=1)
            return idx
    """),
    self_check("""
        prompt = torch.tensor([encode("ROMEO")])
        out = greedy(model, prompt, 40)
        assert out.shape == (1, 45)
        # temperature 0 in the library means "always the most likely token" (a bigram only needs the last one)
        assert torch.equal(out[:, 4:], lib_model.generate(prompt[:, -1:], 40, temperature=0))
        print(repr(decode(out[0].tolist())))
    """),
    md("""
        ## What's next

        The bigram model ignores everything but the last character. In **02_self_attention** the characters of a
        context start to talk to each other: first by plain averaging, then by *attention*.
    """),
]


# -------------------------------------------------------------------------------------- 02 self-attention
NB02 = "02_self_attention", [
    *title("02_self_attention", "02 · Self-attention", """
        A token should be able to use everything before it, never anything after it. Self-attention does this
        with a weighted average of the past, where the weights are computed from the tokens themselves.

        **You will learn**
        - the "mathematical trick": averaging over past tokens with a loop, with a lower-triangular matrix
          multiplication, and with a masked softmax, all equal;
        - one causal attention head: queries, keys, values, and the 1/√head_size scaling (and why);
        - what a trained head looks at, as an attention-map picture.

        **You need** from 01: logits, cross-entropy and a training loop. We now train with the library's
        `train` (the same loop plus evaluation; notebook 04 looks at it closely).
    """),
    md("""
        ## The trick: averaging the past

        Take a toy batch: `B` sequences of `T` tokens, each token a vector of `C` channels. The simplest way for
        token `t` to gather information from its past is the mean of tokens `0..t`. Version 1, a loop:
    """),
    code("""
        import math

        import matplotlib.pyplot as plt
        import torch
        import torch.nn as nn
        from torch.nn import functional as F

        torch.manual_seed(1337)
        B, T, C = 4, 8, 2
        x = torch.randn(B, T, C)

        xbow = torch.zeros(B, T, C)  # "bag of words": the mean of everything so far
        for b in range(B):
            for t in range(T):
                xbow[b, t] = x[b, : t + 1].mean(dim=0)
        print(x[0], xbow[0], sep="\\n")
    """),
    md("""
        Version 2: the same averages as **one matrix multiplication**. Row `t` of a lower-triangular matrix
        has ones at columns `0..t`; dividing each row by its sum turns it into averaging weights.
        `wei @ x` is then `(T, T) @ (B, T, C) → (B, T, C)`, broadcast over the batch.
    """),
    code("""
        tril = torch.tril(torch.ones(T, T))
        wei = tril / tril.sum(dim=1, keepdim=True)
        xbow2 = wei @ x
        print(wei)
    """),
    md("""
        Version 3: start from **scores** (all zero here), set the future to −∞, and take a softmax per row.
        e^−∞ = 0, so the future gets weight 0 and the past shares the rest equally. This is the form attention
        uses: once the scores depend on the data, tokens can decide *how much* each past token matters.
    """),
    code("""
        scores = torch.zeros(T, T)
        scores = scores.masked_fill(tril == 0, float("-inf"))
        wei3 = F.softmax(scores, dim=-1)
        xbow3 = wei3 @ x

        torch.testing.assert_close(xbow, xbow2)
        torch.testing.assert_close(xbow, xbow3)
        print("loop == triangular matmul == masked softmax")
    """),
    md("""
        ## One head of self-attention

        Every token emits three vectors of size `head_size`, through three linear maps:
        - a **query**: what am I looking for?
        - a **key**: what do I contain?
        - a **value**: what do I pass on if you attend to me?

        The score of token `t` for token `s` is the dot product `q_t · k_s`. Masked softmax over `s ≤ t` turns the
        scores into weights, and the output of token `t` is the weighted sum of the values.
    """),
    code("""
        class Head(nn.Module):
            \"\"\"One head of causal self-attention.\"\"\"

            def __init__(self, n_embd: int, head_size: int, block_size: int):
                super().__init__()
                self.query = nn.Linear(n_embd, head_size, bias=False)
                self.key = nn.Linear(n_embd, head_size, bias=False)
                self.value = nn.Linear(n_embd, head_size, bias=False)
                mask = torch.tril(torch.ones(block_size, block_size, dtype=torch.bool))
                self.register_buffer("tril", mask, persistent=False)

            def attention_weights(self, x):
                T, head_size = x.size(1), self.key.out_features
                scores = self.query(x) @ self.key(x).transpose(-2, -1) / math.sqrt(head_size)  # (B, T, T)
                scores = scores.masked_fill(~self.tril[:T, :T], float("-inf"))
                return F.softmax(scores, dim=-1)

            def forward(self, x):
                return self.attention_weights(x) @ self.value(x)  # (B, T, head_size)


        head = Head(n_embd=C, head_size=16, block_size=T)
        print(head(x).shape)
        print(head.attention_weights(x)[0].detach().numpy().round(2))
    """),
    md("""
        Unlike version 3, the rows are no longer uniform: each token weighs its past differently.

        ## Why divide by √head_size?

        If `q` and `k` have unit-variance entries, their dot product sums `head_size` such products, so its
        variance is `head_size`. Large scores make the softmax nearly one-hot: every token would attend to a
        single other token and gradients would vanish. Dividing by √head_size brings the variance back to 1.
    """),
    code("""
        head_size = 64
        q, k = torch.randn(B, T, head_size), torch.randn(B, T, head_size)
        raw = q @ k.transpose(-2, -1)
        scaled = raw / math.sqrt(head_size)
        print(f"var(q) {q.var():.2f}, var(k) {k.var():.2f}, var(q·k) {raw.var():.1f}, var(q·k/√hs) {scaled.var():.2f}")

        logits = torch.tensor([0.1, -0.2, 0.3, -0.2, 0.5])
        print("softmax(scores)     ", F.softmax(logits, dim=-1).numpy().round(3))
        print("softmax(scores * 8) ", F.softmax(logits * 8, dim=-1).numpy().round(3), "<- almost one-hot")
    """),
    md("""
        ## What does a trained head look at?

        A language model with a single head: token embeddings plus position embeddings (attention itself has no
        notion of order), one `Head`, and a linear layer to logits. We train it for a short while with the
        library's `train`, then draw its attention weights on a line of the validation text.
    """),
    code("""
        from nanogpt_lib import load_corpus, notebook_config, plot_attention, train


        class OneHeadLM(nn.Module):
            def __init__(self, vocab_size: int, n_embd: int, block_size: int):
                super().__init__()
                self.token_embedding = nn.Embedding(vocab_size, n_embd)
                self.position_embedding = nn.Embedding(block_size, n_embd)
                self.head = Head(n_embd, n_embd, block_size)
                self.lm_head = nn.Linear(n_embd, vocab_size)

            def embed(self, idx):
                return self.token_embedding(idx) + self.position_embedding(torch.arange(idx.size(1), device=idx.device))

            def forward(self, idx, targets=None):
                logits = self.lm_head(self.head(self.embed(idx)))
                loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
                return logits, loss


        corpus = load_corpus()
        cfg = notebook_config("cpu", n_embd=64, block_size=32, max_iters=1000, eval_interval=250, sample_tokens=0)
        torch.manual_seed(0)
        one_head = OneHeadLM(corpus.vocab_size, cfg.n_embd, cfg.block_size)
        result = train(cfg, corpus, model=one_head, progress=False, verbose=False)
        print(f"one head, after {cfg.max_iters} steps: val loss {result.history.eval_val_loss[-1]:.3f} "
              f"(the bigram model stopped near 2.5)")
    """),
    code("""
        lines = corpus.tokenizer.decode(corpus.val[:2000].tolist()).split("\\n")
        snippet = next(line for line in lines if len(line) >= cfg.block_size)[: cfg.block_size]
        one_head.cpu()  # if training ran on a GPU: the picture is drawn from CPU tensors
        idx = torch.tensor([corpus.tokenizer.encode(snippet)])
        with torch.no_grad():
            learned = one_head.head.attention_weights(one_head.embed(idx))[0]

        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5))
        plot_attention(wei3, title="version 3: uniform average of the past", ax=ax1)
        plot_attention(learned, tokens=list(snippet), title="a trained head", ax=ax2)
        fig.tight_layout()
        plt.show()
    """),
    md("""
        Each row is one query position and sums to 1; everything above the diagonal is 0 (the future is masked).
        The trained head does not average: it concentrates on a few recent characters, which is what predicting
        the next letter of a word needs most.

        ## Check

        `nanogpt_lib.Head` is the same head. With our weights it must give the same attention weights and
        outputs, and changing a future token must never change an earlier output (causality).
    """),
    code("""
        from nanogpt_lib import Head as LibHead

        n_embd, head_size, block_size = 32, 16, 8
        ours = Head(n_embd, head_size, block_size)
        theirs = LibHead(n_embd, head_size, block_size)
        theirs.load_state_dict(ours.state_dict())
        x = torch.randn(B, block_size, n_embd)
        torch.testing.assert_close(ours(x), theirs(x))
        torch.testing.assert_close(ours.attention_weights(x), theirs.attention_weights(x))

        w = theirs.attention_weights(x)
        torch.testing.assert_close(w.sum(dim=-1), torch.ones(B, block_size))
        assert (w.triu(diagonal=1) == 0).all()

        x_changed = x.clone()
        x_changed[:, -1] = torch.randn(B, n_embd)  # change only the last token
        torch.testing.assert_close(ours(x)[:, :-1], ours(x_changed)[:, :-1])
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. A causality detector.** Write `is_causal(f, x)`: it returns `True` if, for every position `t`,
        changing the tokens after `t` leaves the output at `t` unchanged. (Try changing the last token only,
        then every suffix.)
    """),
    exercise("ex02-is-causal", "# def is_causal(f, x: torch.Tensor) -> bool: ...", """
        def is_causal(f, x):
            with torch.no_grad():
                out = f(x)
                for t in range(x.size(1) - 1):
                    x_changed = x.clone()
                    x_changed[:, t + 1 :] = torch.randn_like(x_changed[:, t + 1 :])
                    if not torch.allclose(f(x_changed)[:, : t + 1], out[:, : t + 1], atol=1e-6):
                        return False
            return True
    """),
    self_check("""
        x = torch.randn(2, block_size, n_embd)
        assert is_causal(theirs, x)
        assert not is_causal(lambda x: x.mean(dim=1, keepdim=True).expand_as(x), x)  # looks at the future
        assert not is_causal(lambda x: x.flip(1), x)
    """),
    md("""
        **2. Attention as one function.** PyTorch has a fused kernel,
        `F.scaled_dot_product_attention(q, k, v, is_causal=True)`, which the library's `CausalSelfAttention`
        uses. Compute the same thing by hand into `out`, from the tensors `q`, `k`, `v` below (shape
        `(B, T, head_size)`).
    """),
    code("""
        q, k, v = torch.randn(3, B, T, 16).unbind(0)
    """),
    exercise("ex02-sdpa", "# out: (B, T, head_size)", """
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))
        scores = scores.masked_fill(torch.tril(torch.ones(T, T, dtype=torch.bool)).logical_not(), float("-inf"))
        out = F.softmax(scores, dim=-1) @ v
    """),
    self_check("""
        torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, is_causal=True))
    """),
    md("""
        ## What's next

        One head can look for one kind of thing. In **03_multihead_and_blocks** several heads work side by side,
        a feed-forward layer processes what they found, and residual connections and LayerNorm let us stack
        such blocks deep.
    """),
]


# --------------------------------------------------------------------------------- 03 multi-head, blocks
NB03 = "03_multihead_and_blocks", [
    *title("03_multihead_and_blocks", "03 · Multi-head attention and Transformer blocks", """
        A Transformer block is attention ("communication" between tokens) followed by a small MLP
        ("computation" on each token), wrapped in residual connections and LayerNorm. We build each piece,
        then train small models that add them one at a time and compare their loss curves.

        **You will learn**
        - multi-head attention, and why the fused `CausalSelfAttention` computes exactly the same thing;
        - the feed-forward layer, residual connections, LayerNorm and dropout;
        - what each of them does to training, on one chart.

        **You need** from 02: one attention head (`nanogpt_lib.Head`).
    """),
    code("""
        import torch
        import torch.nn as nn
        from torch.nn import functional as F

        import nanogpt_lib
        from nanogpt_lib import GPTConfig, Head, load_corpus, notebook_config, plot_runs, train
    """),
    md("""
        ## Multi-head attention

        `n_head` heads of size `n_embd // n_head` run in parallel on the same input, each free to look for
        something different (the previous vowel, the start of the word, the speaker's name...). Their outputs are
        concatenated back to `n_embd` channels and mixed by one linear projection.
    """),
    code("""
        class MultiHeadAttention(nn.Module):
            def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False):
                super().__init__()
                head_size = n_embd // n_head
                self.heads = nn.ModuleList([Head(n_embd, head_size, block_size, dropout, bias) for _ in range(n_head)])
                self.proj = nn.Linear(n_embd, n_embd, bias=bias)
                self.dropout = nn.Dropout(dropout)

            def forward(self, x):
                out = torch.cat([head(x) for head in self.heads], dim=-1)  # (B, T, n_embd)
                return self.dropout(self.proj(out))


        mha = MultiHeadAttention(n_embd=32, n_head=4, block_size=8)
        print(mha(torch.randn(2, 8, 32)).shape)
    """),
    md("""
        ## The same thing, fused

        A Python loop over heads is slow. `nanogpt_lib.CausalSelfAttention` computes every query, key and value
        of every head with **one** `Linear(n_embd, 3 * n_embd)` (`c_attn`), reshapes the result so that the
        heads become a batch dimension, and calls PyTorch's fused attention kernel. Its weight is simply all
        our per-head weights stacked: all queries, then all keys, then all values, head after head.
    """),
    code("""
        def fused_state_dict(mha: MultiHeadAttention) -> dict:
            \"\"\"The weights of `CausalSelfAttention` that compute the same function as `mha`.\"\"\"
            heads = mha.heads
            c_attn = torch.cat([h.query.weight for h in heads] + [h.key.weight for h in heads]
                               + [h.value.weight for h in heads])
            return {"c_attn.weight": c_attn, "c_proj.weight": mha.proj.weight}


        print({name: tuple(w.shape) for name, w in fused_state_dict(mha).items()})
    """),
    md("""
        ## Feed-forward

        After the tokens have exchanged information, each token thinks about it on its own: a two-layer MLP that
        widens to `4 * n_embd` channels, applies a GELU nonlinearity, and projects back.
    """),
    code("""
        class FeedForward(nn.Module):
            def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = True):
                super().__init__()
                self.c_fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
                self.gelu = nn.GELU(approximate="tanh")
                self.c_proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
                self.dropout = nn.Dropout(dropout)

            def forward(self, x):
                return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))
    """),
    md("""
        ## The block: residual connections, LayerNorm, dropout

        - **Residual connections**: `x = x + attn(x)` instead of `x = attn(x)`. Each layer only *adds* a
          correction to a stream that flows straight through, so the gradient reaches the first layers
          undiminished and a deep stack trains like a shallow one at first.
        - **LayerNorm** rescales each token's vector to mean 0 and variance 1 (then a learned scale and shift).
          GPT applies it *before* each sub-layer ("pre-norm"), plus once at the very end.
        - **Dropout** zeroes random activations during training only, so the network cannot rely on any single
          path: a regulariser against overfitting.

        The switches `residual` and `layernorm` exist only for the experiment below.
    """),
    code("""
        class Block(nn.Module):
            def __init__(self, n_embd: int, n_head: int, block_size: int, dropout: float = 0.0, bias: bool = False,
                         residual: bool = True, layernorm: bool = True):
                super().__init__()
                self.residual = residual
                self.ln_1 = nn.LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
                self.attn = MultiHeadAttention(n_embd, n_head, block_size, dropout, bias)
                self.ln_2 = nn.LayerNorm(n_embd, bias=bias) if layernorm else nn.Identity()
                self.mlp = FeedForward(n_embd, dropout, bias)

            def forward(self, x):
                if not self.residual:
                    return self.mlp(self.ln_2(self.attn(self.ln_1(x))))
                x = x + self.attn(self.ln_1(x))
                return x + self.mlp(self.ln_2(x))
    """),
    md("""
        ## One piece at a time

        Every model below shares the same frame: token and position embeddings, a stack of layers, an
        optional final LayerNorm, and a linear layer to the logits. Only the stack changes. All are trained with
        the same data, steps and learning-rate schedule.
    """),
    code("""
        class StackLM(nn.Module):
            \"\"\"Embeddings -> `layers` -> (LayerNorm) -> logits.\"\"\"

            def __init__(self, layers: list, vocab_size: int, n_embd: int, block_size: int, final_ln: bool = False):
                super().__init__()
                self.token_embedding = nn.Embedding(vocab_size, n_embd)
                self.position_embedding = nn.Embedding(block_size, n_embd)
                self.layers = nn.Sequential(*layers)
                self.ln_f = nn.LayerNorm(n_embd) if final_ln else nn.Identity()
                self.lm_head = nn.Linear(n_embd, vocab_size)

            def forward(self, idx, targets=None):
                x = self.token_embedding(idx) + self.position_embedding(torch.arange(idx.size(1), device=idx.device))
                logits = self.lm_head(self.ln_f(self.layers(x)))
                loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
                return logits, loss


        corpus = load_corpus()
        cfg = notebook_config("cpu", n_layer=3, n_head=4, n_embd=64, block_size=32, max_iters=400, eval_interval=100,
                              warmup_iters=30, sample_tokens=0)
        V, E, H, T, L = corpus.vocab_size, cfg.n_embd, cfg.n_head, cfg.block_size, cfg.n_layer


        def blocks(**switches) -> list:
            return [Block(E, H, T, **switches) for _ in range(L)]


        experiments = {
            "1 head": lambda: StackLM([Head(E, E, T)], V, E, T),
            f"{H} heads": lambda: StackLM([MultiHeadAttention(E, H, T)], V, E, T),
            f"{H} heads + feed-forward": lambda: StackLM([MultiHeadAttention(E, H, T), FeedForward(E)], V, E, T),
            f"{L} blocks, no residual, no LayerNorm": lambda: StackLM(blocks(residual=False, layernorm=False), V, E, T),
            f"{L} blocks + residual": lambda: StackLM(blocks(layernorm=False), V, E, T),
            f"{L} blocks + residual + LayerNorm": lambda: StackLM(blocks(), V, E, T, final_ln=True),
            "... + dropout 0.2": lambda: StackLM(blocks(dropout=0.2), V, E, T, final_ln=True),
        }
        histories = {}
        for name, make_model in experiments.items():
            torch.manual_seed(0)
            histories[name] = train(cfg, corpus, model=make_model(), progress=False, verbose=False).history
            print(f"{name:40} val loss {histories[name].eval_val_loss[-1]:.3f}")
    """),
    code("""
        fig = plot_runs(histories, title=f"Adding one piece at a time ({cfg.max_iters} steps each)")
        fig.set_size_inches(12, 5)
        ax = fig.axes[0]
        ax.set_ylim(top=3.5)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
        fig.tight_layout()
    """),
    md("""
        What to look for (solid: training loss; dashed: validation loss):
        - several heads beat one head of the same total size, and a feed-forward layer helps again;
        - stacking blocks **without** residual connections or LayerNorm trains far worse than a single layer:
          depth alone hurts, because the signal and its gradient must squeeze through every layer;
        - residual connections turn the same depth into the best model of the chart;
        - LayerNorm and dropout do not pay off in a few hundred steps of a model this small; they cost a little.
          LayerNorm earns its place in deeper stacks and at higher learning rates, where it keeps every layer's
          input at the same scale; dropout once the training loss falls below the validation loss
          (overfitting), in longer runs of bigger models.

        ## Check

        Each hand-built piece against the library's: same weights in, same numbers out.
    """),
    code("""
        config = GPTConfig(vocab_size=65, block_size=16, n_layer=1, n_head=4, n_embd=32, bias=False)
        x = torch.randn(3, config.block_size, config.n_embd)

        # Multi-head attention, per-head weights
        ours = MultiHeadAttention(config.n_embd, config.n_head, config.block_size)
        lib_mha = nanogpt_lib.MultiHeadAttention(config.n_embd, config.n_head, config.block_size)
        lib_mha.load_state_dict(ours.state_dict())
        torch.testing.assert_close(ours(x), lib_mha(x))

        # The fused CausalSelfAttention computes the same function as MultiHeadAttention
        fused = nanogpt_lib.CausalSelfAttention(config)
        fused.load_state_dict(fused_state_dict(lib_mha))
        torch.testing.assert_close(fused(x), lib_mha(x))

        # Feed-forward
        ours_ff = FeedForward(config.n_embd, bias=False)
        lib_ff = nanogpt_lib.FeedForward(config.n_embd, bias=False)
        lib_ff.load_state_dict(ours_ff.state_dict())
        torch.testing.assert_close(ours_ff(x), lib_ff(x))

        # The whole block: LayerNorms and MLP keep their names, attention goes through the fused layout
        ours_block = Block(config.n_embd, config.n_head, config.block_size)
        lib_block = nanogpt_lib.Block(config)
        state = {k: v for k, v in ours_block.state_dict().items() if not k.startswith("attn.")}
        state.update({f"attn.{k}": v for k, v in fused_state_dict(ours_block.attn).items()})
        lib_block.load_state_dict(state)
        torch.testing.assert_close(ours_block(x), lib_block(x))

        # Dropout acts in training mode only
        dropped = Block(config.n_embd, config.n_head, config.block_size, dropout=0.5)
        dropped.load_state_dict(ours_block.state_dict())
        torch.testing.assert_close(dropped.eval()(x), ours_block(x))
        assert not torch.allclose(dropped.train()(x), ours_block(x))
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. Counting parameters.** Write `block_params(n_embd)`: the number of parameters of one block with
        `bias=False`, as a formula (no model allowed). Hint: attention has four `n_embd × n_embd` matrices, the
        MLP two of `n_embd × 4·n_embd`, each LayerNorm a scale of `n_embd`.
    """),
    exercise("ex03-block-params", "# def block_params(n_embd: int) -> int: ...", """
        def block_params(n_embd: int) -> int:
            attention = 4 * n_embd * n_embd
            mlp = 2 * n_embd * 4 * n_embd
            layernorms = 2 * n_embd
            return attention + mlp + layernorms
    """),
    self_check("""
        for n_embd in (32, 128, 384):
            lib_block = nanogpt_lib.Block(GPTConfig(n_embd=n_embd, n_head=4, bias=False))
            assert block_params(n_embd) == sum(p.numel() for p in lib_block.parameters()), n_embd
        print(f"GPT-2 small (n_embd 768, with biases a little more): 12 blocks x ~{block_params(768):,} parameters")
    """),
    md("""
        **2. Post-norm.** The original Transformer (2017) put LayerNorm *after* the residual addition:
        `x = ln_1(x + attn(x))`, then `x = ln_2(x + mlp(x))`. Write `PostNormBlock(n_embd, n_head, block_size)`
        with the sub-modules `attn`, `mlp`, `ln_1`, `ln_2` (use our `MultiHeadAttention` and `FeedForward`).
    """),
    exercise("ex03-post-norm", "# class PostNormBlock(nn.Module): ...", """
        class PostNormBlock(nn.Module):
            def __init__(self, n_embd: int, n_head: int, block_size: int):
                super().__init__()
                self.attn = MultiHeadAttention(n_embd, n_head, block_size)
                self.mlp = FeedForward(n_embd)
                self.ln_1 = nn.LayerNorm(n_embd)
                self.ln_2 = nn.LayerNorm(n_embd)

            def forward(self, x):
                x = self.ln_1(x + self.attn(x))
                return self.ln_2(x + self.mlp(x))
    """),
    self_check("""
        post = PostNormBlock(32, 4, 16)
        y = post(5 * torch.randn(2, 16, 32) + 3)
        # the last operation is a LayerNorm (scale 1, shift 0 at init): every token has mean 0 and variance 1
        torch.testing.assert_close(y.mean(dim=-1), torch.zeros(2, 16), atol=1e-5, rtol=0)
        torch.testing.assert_close(y.var(dim=-1, unbiased=False), torch.ones(2, 16), atol=1e-3, rtol=0)
        x = torch.randn(2, 16, 32)
        expected = post.ln_2(post.ln_1(x + post.attn(x)) + post.mlp(post.ln_1(x + post.attn(x))))
        torch.testing.assert_close(post(x), expected)
    """),
    md("""
        ## What's next

        We have every piece. **04_full_gpt** assembles them into a GPT, trains it with the library's training
        loop, and samples from it with temperature and top-k.
    """),
]


# ------------------------------------------------------------------------------------------- 04 full GPT
NB04 = "04_full_gpt", [
    *title("04_full_gpt", "04 · The full GPT", """
        Token and position embeddings, a stack of blocks, a final LayerNorm and a language-model head: that is
        the whole GPT. We assemble it, count its parameters, train it with the library's `train`, and sample
        from it.

        **You will learn**
        - how the pieces fit together, weight tying, and GPT-2's initialisation;
        - where the parameters are;
        - what `train` does: AdamW, warmup + cosine learning rate, evaluation on both splits, a progress bar
          and live loss curves;
        - sampling with temperature and top-k;
        - how far the GPT gets beyond the bigram model.

        **You need** from 03: `Block` (now `nanogpt_lib.Block`, with the fused attention) and `GPTConfig`.
    """),
    code("""
        import math

        import matplotlib.pyplot as plt
        import torch
        import torch.nn as nn
        from torch.nn import functional as F

        import nanogpt_lib
        from nanogpt_lib import (Block, GPTConfig, LiveLossPlot, get_config, load_corpus, notebook_config, plot_lr,
                                 plot_runs, sample_text, train)
        from nanogpt_lib.notebook import pick

        corpus = load_corpus()
    """),
    md("""
        ## Assembling the model

        - `wte`: token embeddings (what the character is); `wpe`: position embeddings (where it is). Their sum
          is the input of the first block.
        - `h`: `n_layer` blocks; `ln_f`: a last LayerNorm; `lm_head`: a linear map back to `vocab_size` logits.
        - **Weight tying**: `lm_head` reuses the token-embedding matrix. Reading a character and predicting it
          use the same vectors, which saves parameters and usually helps.
        - **Initialisation** as in GPT-2: weights from N(0, 0.02); the last projection of each residual branch
          scaled down by √(2·n_layer), because `2·n_layer` branches add up in the residual stream.
    """),
    code("""
        class GPT(nn.Module):
            def __init__(self, config: GPTConfig):
                super().__init__()
                self.config = config
                self.transformer = nn.ModuleDict({
                    "wte": nn.Embedding(config.vocab_size, config.n_embd),
                    "wpe": nn.Embedding(config.block_size, config.n_embd),
                    "drop": nn.Dropout(config.dropout),
                    "h": nn.ModuleList([Block(config, layer) for layer in range(config.n_layer)]),
                    "ln_f": nn.LayerNorm(config.n_embd, bias=config.bias),
                })
                self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
                self.lm_head.weight = self.transformer.wte.weight  # weight tying
                for name, p in self.named_parameters():
                    if name.endswith("c_proj.weight"):
                        nn.init.normal_(p, std=0.02 / math.sqrt(2 * config.n_layer))
                    elif p.dim() == 2:  # embeddings and Linear weights
                        nn.init.normal_(p, std=0.02)
                    elif name.endswith(".bias") and "ln_" not in name:
                        nn.init.zeros_(p)

            def forward(self, idx, targets=None):
                T = idx.size(1)
                x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T, device=idx.device))
                x = self.transformer.drop(x)
                for block in self.transformer.h:
                    x = block(x)
                logits = self.lm_head(self.transformer.ln_f(x))
                loss = None if targets is None else F.cross_entropy(logits.flatten(0, 1), targets.flatten())
                return logits, loss
    """),
    md("""
        ## Counting parameters

        The model we train below has the `cpu` preset's shape (4 layers, 4 heads, `n_embd = 128`) with a context
        of 64 characters instead of the preset's 128, which makes every step about twice as cheap. Almost all parameters sit in the blocks; the tied embedding table is small because the
        vocabulary is only 65 characters (GPT-2's 50,257-token table is 38M of its 124M parameters).
    """),
    code("""
        preset = get_config("cpu", block_size=64)
        model = GPT(preset.model_config(corpus.vocab_size))


        def count(module: nn.Module) -> int:
            return sum(p.numel() for p in module.parameters())


        print(f"token embeddings (tied with lm_head) {count(model.transformer.wte):>9,}")
        print(f"position embeddings                  {count(model.transformer.wpe):>9,}")
        print(f"{preset.n_layer} blocks x {count(model.transformer.h[0]):,}             {count(model.transformer.h):>9,}")
        print(f"final LayerNorm                      {count(model.transformer.ln_f):>9,}")
        print(f"total                                {count(model):>9,}")
    """, check_output=True),
    md("""
        ## Training with the library

        `nanogpt_lib.train` is the loop of notebook 01 grown up:
        - **AdamW** with weight decay on the weight matrices only;
        - the learning rate **warms up** linearly, then follows a **cosine** down to `min_lr`
          (notebook 05 explains why);
        - gradient clipping at norm 1;
        - every `eval_interval` steps, the mean loss over `eval_iters` batches of train *and* val;
        - a progress bar, a log line (with a short sample) every `log_interval` steps, and callbacks:
          here `LiveLossPlot`, which redraws the curves as training goes.

        `notebook_config("cpu", ...)` is the `cpu` preset with our overrides (in the test suite's fast mode it
        becomes the seconds-long `tiny` preset). The full preset trains 3,000 steps with a 128-character context
        (about 10 minutes on two CPU cores); we train 600 steps with 64 characters, which costs some quality:
        `nanogpt train --preset cpu` on the command line goes the whole way. `train` builds the library's `GPT`, which the
        Check below proves identical to ours.
    """),
    code("""
        cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100)
        result = train(cfg, corpus, callbacks=(LiveLossPlot("GPT (cpu preset)"),))
        gpt = result.model
    """),
    md("""
        The learning-rate schedule that run used, step by step:
    """),
    code("""
        fig = plot_lr(result.history)
        fig.set_size_inches(6, 3)
    """),
    md("""
        ## Sampling: temperature and top-k

        Generation appends one token at a time: run the model on the last `block_size` tokens, turn the logits
        of the last position into probabilities, draw the next token.
        - **Temperature** divides the logits before the softmax: below 1 sharpens the distribution (safer,
          more repetitive), above 1 flattens it (more varied, more mistakes); 0 means always the most likely token.
        - **Top-k** keeps only the `k` most likely tokens and renormalises, cutting off the long tail of unlikely
          characters.
    """),
    code("""
        prompt = "ROMEO:\\n"
        idx = torch.tensor([corpus.tokenizer.encode(prompt)], device=next(gpt.parameters()).device)
        with torch.no_grad():
            logits = gpt.next_token_logits(idx)[0].cpu()
        top = logits.topk(10).indices
        labels = [repr(corpus.tokenizer.decode([i]))[1:-1] for i in top.tolist()]

        fig, ax = plt.subplots(figsize=(10, 3))
        for i, temperature in enumerate((0.5, 1.0, 2.0)):
            probs = F.softmax(logits / temperature, dim=-1)[top]
            ax.bar([j + 0.27 * (i - 1) for j in range(10)], probs, width=0.27, label=f"temperature {temperature}")
        ax.set_xticks(range(10), labels)
        ax.set(title=f"Next character after {prompt!r}: the 10 most likely", ylabel="probability")
        ax.legend()
        plt.show()
    """),
    code("""
        for temperature, top_k in ((0.5, None), (1.0, None), (1.5, None), (1.0, 5)):
            print(f"--- temperature {temperature}, top_k {top_k}")
            print(sample_text(gpt, corpus.tokenizer, prompt, pick(real=250, fast=50), temperature=temperature, top_k=top_k,
                              seed=0))
    """),
    md("""
        ## Bigram vs GPT

        The bigram model of notebook 01, trained by the same loop for the same number of steps on the same
        windows (with a higher learning rate, which a lookup table needs), on one chart with the GPT:
    """),
    code("""
        bigram_cfg = notebook_config("cpu", block_size=64, max_iters=600, eval_interval=100, log_interval=100, learning_rate=1e-2,
                                     min_lr=1e-3, weight_decay=0.0, sample_tokens=0)
        bigram = train(bigram_cfg, corpus, model=nanogpt_lib.BigramLanguageModel(corpus.vocab_size),
                       progress=False, verbose=False)
        fig = plot_runs({"bigram": bigram.history, "GPT": result.history}, title="Bigram vs GPT")
        for name, h in (("bigram", bigram.history), ("GPT", result.history)):
            print(f"{name:7} val loss {h.eval_val_loss[-1]:.3f}")
    """),
    md("""
        The bigram model cannot go much below 2.5 however long it trains (notebook 01); the GPT, which sees 64
        characters of context, is far below that and still improving when we stop.

        ## Check

        Our `GPT` and `nanogpt_lib.GPT` are the same network: same parameter names and count, and with the same
        weights the same logits and loss.
    """),
    code("""
        config = GPTConfig(vocab_size=corpus.vocab_size, block_size=32, n_layer=2, n_head=4, n_embd=64, bias=False)
        torch.manual_seed(0)
        ours = GPT(config)
        lib_gpt = nanogpt_lib.GPT(config)
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in lib_gpt.named_parameters()]
        assert count(ours) == lib_gpt.num_params() == count(lib_gpt)
        lib_gpt.load_state_dict(ours.state_dict())
        x, y = nanogpt_lib.get_batch(corpus.val, 4, config.block_size, torch.Generator().manual_seed(0))
        torch.testing.assert_close(ours(x, y)[0], lib_gpt(x, y)[0])
        torch.testing.assert_close(ours(x, y)[1], lib_gpt(x, y)[1])

        # GPT-2's initialisation: the loss of an untrained model is close to ln(vocab_size)
        assert abs(lib_gpt(x, y)[1].item() - math.log(corpus.vocab_size)) < 0.2

        # Training helped, and the GPT beats the bigram model trained for as many steps
        h = result.history
        assert h.eval_val_loss[-1] < h.eval_val_loss[0] and h.eval_val_loss[-1] < math.log(corpus.vocab_size)
        assert h.eval_val_loss[-1] < bigram.history.eval_val_loss[-1]

        # Temperature 0 is greedy: the random seed no longer matters
        assert sample_text(gpt, corpus.tokenizer, prompt, 50, temperature=0, seed=1) == \\
            sample_text(gpt, corpus.tokenizer, prompt, 50, temperature=0, seed=2)
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. Top-k by hand.** Write `top_k_logits(logits, k)`: the same `(B, vocab)` logits with everything
        below the `k`-th largest value of each row set to `-inf`.
    """),
    exercise("ex04-top-k", "# def top_k_logits(logits: torch.Tensor, k: int) -> torch.Tensor: ...", """
        def top_k_logits(logits, k):
            kth = torch.topk(logits, k, dim=-1).values[:, -1:]
            return logits.masked_fill(logits < kth, float("-inf"))
    """),
    self_check("""
        logits = torch.randn(3, corpus.vocab_size)
        filtered = top_k_logits(logits, 5)
        assert (filtered > float("-inf")).sum(dim=-1).tolist() == [5, 5, 5]
        # Sampling from our filtered logits draws the same tokens as the library with top_k=5
        ours = torch.multinomial(F.softmax(filtered, dim=-1), 1, generator=torch.Generator().manual_seed(0))
        lib = nanogpt_lib.sample_next_token(logits, top_k=5, generator=torch.Generator().manual_seed(0))
        assert torch.equal(ours, lib)
    """),
    md("""
        **2. A parameter formula.** Write `gpt_params(vocab_size, block_size, n_layer, n_embd)`: the number of
        parameters of a `GPT` with `bias=False` and tied weights, without building one.
    """),
    exercise("ex04-gpt-params", "# def gpt_params(vocab_size, block_size, n_layer, n_embd) -> int: ...", """
        def gpt_params(vocab_size, block_size, n_layer, n_embd):
            embeddings = vocab_size * n_embd + block_size * n_embd
            per_block = 12 * n_embd * n_embd + 2 * n_embd
            return embeddings + n_layer * per_block + n_embd
    """),
    self_check("""
        for shape in [(65, 128, 4, 128), (65, 256, 6, 384), (1000, 512, 3, 96)]:
            vocab_size, block_size, n_layer, n_embd = shape
            config = GPTConfig(vocab_size=vocab_size, block_size=block_size, n_layer=n_layer, n_head=4,
                               n_embd=n_embd, bias=False)
            assert gpt_params(*shape) == nanogpt_lib.GPT(config).num_params(), shape
    """),
    md("""
        ## What's next

        Real training runs last hours and crash, need bigger batches than fit in memory, and use several GPUs.
        **05_training_at_scale** shows the tools: checkpoints and exact resume, warmup + cosine learning rate,
        mixed precision, gradient accumulation, and `torchrun`.
    """),
]


# ------------------------------------------------------------------------------------ 05 training at scale
NB05 = "05_training_at_scale", [
    *title("05_training_at_scale", "05 · Training at scale", """
        The model stays the same; what changes with scale is the training run around it. Every tool here is
        in `nanogpt_lib.train`, and each has a short demo that runs on a CPU.

        **You will learn**
        - warmup + cosine learning-rate schedules (`lr_at`);
        - checkpoints, and resuming a run exactly where it stopped (`train(..., out_dir=..., resume=True)`);
        - mixed precision (`dtype="bfloat16"`): what it saves and what it risks;
        - gradient accumulation: a big batch out of small ones;
        - what `torchrun` (distributed data parallel) changes.

        **You need** from 04: `train`, `TrainConfig` and the GPT it builds.
    """),
    code("""
        import dataclasses
        import json
        import math
        import os
        import subprocess
        import sys
        import tempfile
        from pathlib import Path

        import matplotlib.pyplot as plt
        import torch

        import nanogpt_lib
        from nanogpt_lib import (GPT, get_batch, get_config, load_checkpoint, load_corpus, lr_at, notebook_config,
                                 plot_runs, train)
        from nanogpt_lib.notebook import pick

        corpus = load_corpus()
        workdir = Path(tempfile.mkdtemp(prefix="nanogpt_05_"))  # run folders for this notebook
    """),
    md("""
        ## Learning-rate warmup and cosine decay

        At the start, Adam's estimates of the gradient statistics are poor and the weights are random: large
        steps can throw the model somewhere it never recovers from. So the learning rate **warms up** linearly
        over `warmup_iters` steps. Later, smaller steps let the model settle into a minimum, so the learning rate
        **decays** along half a cosine to `min_lr` at `lr_decay_iters`. `lr_at(step, cfg)` is that schedule.
    """),
    code("""
        fig, ax = plt.subplots(figsize=(9, 3.2))
        for name in ("cpu", "shakespeare_char"):
            preset = get_config(name)
            steps = range(preset.max_iters)
            ax.plot(steps, [lr_at(s, preset) for s in steps], label=f"{name}: warmup {preset.warmup_iters}, "
                    f"{preset.learning_rate:g} -> {preset.min_lr:g}")
        ax.set(xlabel="step", ylabel="learning rate", title="Warmup + cosine decay (lr_at)")
        ax.grid(alpha=0.3)
        ax.legend()
        plt.show()
    """),
    md("""
        ## Checkpoints and exact resume

        With `out_dir`, `train` writes the run folder: `ckpt.pt` (saved atomically at every evaluation: a crash
        mid-write keeps the previous file), `best.pt` (lowest validation loss), `config.json`, `tokenizer.json`,
        `history.json` and `loss.png`. A checkpoint holds everything needed to continue *exactly*: weights,
        optimizer moments, step, history, and the state of every random generator (batches, dropout).

        The demo: train a run straight through; then train the same run in two halves, "crashing" after the
        first half and resuming with `resume=True`. The schedule must not depend on where we stop, so both use
        `lr_decay_iters` = the full length.
    """),
    code("""
        full = notebook_config("cpu", n_layer=2, n_embd=64, block_size=64, max_iters=200, eval_interval=50,
                               log_interval=50, warmup_iters=20, dropout=0.1, sample_tokens=0)
        full = dataclasses.replace(full, lr_decay_iters=full.max_iters)
        half = dataclasses.replace(full, max_iters=full.max_iters // 2)

        straight = train(full, corpus, out_dir=workdir / "straight", progress=False, verbose=False)
        train(half, corpus, out_dir=workdir / "resumed", progress=False, verbose=False)
        print("run folder:", sorted(p.name for p in (workdir / "resumed").iterdir()))
        ckpt = load_checkpoint(workdir / "resumed" / "ckpt.pt")
        print(f"checkpoint at step {ckpt['step']}, keys: {', '.join(ckpt)}")
    """),
    md("Now resume the interrupted run up to the full length:"),
    code("""
        resumed = train(full, corpus, out_dir=workdir / "resumed", resume=True, progress=False)
        diff = max((a - b).abs().max().item() for a, b in zip(straight.model.parameters(), resumed.model.parameters()))
        print(f"largest weight difference, straight vs interrupted + resumed: {diff}")
    """),
    md("""
        Zero: the resumed run is the *same* run. The command line does the same with
        `nanogpt train --out-dir runs/cpu --resume`, and Ctrl-C during training saves a checkpoint first.

        ## Mixed precision

        `bfloat16` keeps float32's 8 exponent bits (the same range) but only 8 bits of mantissa (about 3 decimal
        digits); `float16` has more precision but a much smaller range, so it needs loss scaling
        (`GradScaler`) against underflowing gradients. With `dtype="bfloat16"`, `train` runs the forward pass
        under `torch.autocast`: matrix multiplications in bfloat16, while the weights and the optimizer stay
        float32. On GPUs with tensor cores this is up to several times faster and halves activation memory; on
        a CPU it mostly shows that the numerics are fine.
    """),
    code("""
        for dtype in (torch.float32, torch.bfloat16, torch.float16):
            info = torch.finfo(dtype)
            print(f"{str(dtype):15} 1/3 -> {torch.tensor(1 / 3, dtype=dtype).item():.8f}   "
                  f"largest {info.max:.3g}   smallest normal {info.tiny:.3g}")

        a, b = torch.randn(64, 64), torch.randn(64, 64)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            print("inside autocast, a @ b is", (a @ b).dtype, "while a stays", a.dtype)
    """),
    md("""
        ## Gradient accumulation

        When a batch does not fit in memory, split it into `grad_accum_steps` micro-batches, run backward on
        each with the loss divided by their number, and step the optimizer once. Gradients add up, so the result
        is the gradient of the whole batch: first a proof, then a run.
    """),
    code("""
        torch.manual_seed(0)
        model = GPT(nanogpt_lib.GPTConfig(vocab_size=corpus.vocab_size, block_size=32, n_layer=2, n_head=2, n_embd=32))
        x, y = get_batch(corpus.train, 32, 32, torch.Generator().manual_seed(0))

        model.zero_grad()
        model(x, y)[1].backward()
        big_batch = [p.grad.clone() for p in model.parameters()]

        model.zero_grad()
        accum_steps = 4
        for xm, ym in zip(x.chunk(accum_steps), y.chunk(accum_steps)):
            (model(xm, ym)[1] / accum_steps).backward()
        accumulated = [p.grad.clone() for p in model.parameters()]
        print("largest gradient difference:", max((a - b).abs().max().item() for a, b in zip(big_batch, accumulated)))
    """),
    md("""
        Three short runs of the same model on one chart: float32 with batches of 32, bfloat16 with batches of
        32, and float32 with 4 accumulated micro-batches of 8 (the same 32 windows per step).
    """),
    code("""
        base = notebook_config("cpu", n_layer=2, n_embd=64, block_size=64, max_iters=200, eval_interval=50,
                               warmup_iters=20, sample_tokens=0)
        variants = {
            "float32, batch 32": base,
            "bfloat16, batch 32": dataclasses.replace(base, dtype="bfloat16"),
            "float32, 4 x 8 accumulated": dataclasses.replace(base, batch_size=base.batch_size // 4, grad_accum_steps=4),
        }
        runs = {name: train(cfg, corpus, progress=False, verbose=False).history for name, cfg in variants.items()}
        for name, h in runs.items():
            print(f"{name:28} val loss {h.eval_val_loss[-1]:.3f}, {sum(h.tokens_per_sec) / len(h.tokens_per_sec):,.0f} tokens/s")
        fig = plot_runs(runs, title="Precision and accumulation")
    """),
    md("""
        The three curves lie almost on top of each other: bfloat16 and accumulation change *how* a step is
        computed, not *what* is learned. The accumulated run even sees the very same windows, because the sampler
        draws the same random starting points in four groups of 8 as in one group of 32; it differs from the
        float32 run only by rounding, which adds up over the steps.

        ## torchrun: several processes, one model

        `torchrun --nproc_per_node=N` starts N copies of the same script and tells each its `RANK` and
        `WORLD_SIZE` through environment variables. `train` then:
        - wraps the model in `DistributedDataParallel`: each rank computes gradients on **its own** batches
          (the batch sampler is seeded with `seed + rank`), and backward **averages** the gradients across ranks,
          so every copy takes the same step;
        - syncs gradients only on the last micro-step of an accumulation (`no_sync`);
        - lets only rank 0 print, evaluate and write checkpoints.

        Each step therefore sees `batch_size × grad_accum_steps × world_size` windows. On GPUs, one process per
        GPU (NCCL); here, two CPU processes talking over gloo:
    """),
    code("""
        steps = pick(real=60, fast=20)
        command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "-m", "nanogpt_lib", "train",
                   "--preset", "tiny", "--max_iters", str(steps), "--eval_interval", str(steps),
                   "--out-dir", str(workdir / "ddp"), "--no-progress"]
        print("$ torchrun --nproc_per_node=2 -m nanogpt_lib train --preset tiny ...")
        ddp = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        print(ddp.stdout[-600:])
        ddp_history = json.loads((workdir / "ddp" / "history.json").read_text())
    """),
    md("""
        ## Check
    """),
    code("""
        # Resume is exact: same weights, and the history continues where it stopped
        for a, b in zip(straight.model.parameters(), resumed.model.parameters()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert resumed.history.step == straight.history.step == list(range(full.max_iters))
        assert ckpt["step"] == half.max_iters

        # Warmup starts small and reaches the peak; the cosine ends at min_lr
        cfg = get_config("cpu")
        assert lr_at(0, cfg) < cfg.learning_rate / 10
        assert math.isclose(lr_at(cfg.warmup_iters, cfg), cfg.learning_rate)
        assert math.isclose(lr_at(cfg.max_iters, cfg), cfg.min_lr)

        # Accumulated gradients equal the big batch's; the bfloat16 run learned like float32
        for a, b in zip(big_batch, accumulated):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
        val = {name: h.eval_val_loss[-1] for name, h in runs.items()}
        assert abs(val["bfloat16, batch 32"] - val["float32, batch 32"]) < 0.1, val

        # The two-process run finished and rank 0 wrote one history of every step
        assert ddp.returncode == 0, ddp.stderr[-2000:]
        assert ddp_history["step"] == list(range(steps))
        print("all checks passed")
    """),
    md("""
        ## Exercises

        **1. The schedule by hand.** Write `my_lr(step, cfg)`: linear warmup over `cfg.warmup_iters` steps (from
        `learning_rate / (warmup_iters + 1)` at step 0 up to `learning_rate`), then a cosine from
        `learning_rate` down to `min_lr` at `lr_decay_iters` (or `max_iters` when that is 0), then constant.
    """),
    exercise("ex05-lr-schedule", "# def my_lr(step: int, cfg) -> float: ...", """
        def my_lr(step, cfg):
            if step < cfg.warmup_iters:
                return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
            end = cfg.lr_decay_iters or cfg.max_iters
            if step >= end:
                return cfg.min_lr
            progress = (step - cfg.warmup_iters) / (end - cfg.warmup_iters)
            return cfg.min_lr + (cfg.learning_rate - cfg.min_lr) * 0.5 * (1 + math.cos(math.pi * progress))
    """),
    self_check("""
        for name in ("cpu", "shakespeare_char", "tiny"):
            cfg = get_config(name)
            for step in range(cfg.max_iters + 10):
                assert math.isclose(my_lr(step, cfg), lr_at(step, cfg), rel_tol=1e-9), (name, step)
    """),
    md("""
        **2. Read a checkpoint.** Load `ckpt.pt` of the resumed run (in `workdir / "resumed"`) with
        `torch.load(..., weights_only=True)` and set `ckpt_step` (the step it was saved at) and `ckpt_best_val`
        (the best validation loss it records).
    """),
    exercise("ex05-read-checkpoint", "# ckpt_step: int, ckpt_best_val: float", """
        raw = torch.load(workdir / "resumed" / "ckpt.pt", weights_only=True)
        ckpt_step, ckpt_best_val = raw["step"], raw["best_val_loss"]
    """),
    self_check("""
        assert ckpt_step == full.max_iters
        assert math.isclose(ckpt_best_val, min(resumed.history.eval_val_loss))
    """),
    md("""
        ## What's next

        That completes the character-level GPT and the training tools around it. **06** replaces characters with
        **BPE** tokens, the tokenizer GPT-2 uses, and **07** loads the real GPT-2 weights into the same `GPT`
        class.
    """),
]

NOTEBOOKS = [NB00, NB01, NB02, NB03, NB04, NB05]


# ------------------------------------------------------------------------------------------- build & run
def make_notebook(cells: list):
    nb = new_notebook(cells=cells)
    nb.metadata.update({
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "colab": {"provenance": []},
    })
    for i, cell in enumerate(nb.cells):
        cell.id = f"c{i:02d}"
    return nb


def collapse_carriage_returns(text: str) -> str:
    """What a terminal would show: of each line, only the text after its last carriage return."""
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def flatten_progress_widgets(nb) -> None:
    """Replace tqdm's notebook widgets by the text of their final state, which every viewer can show.

    Saved widget outputs need their widget state to render, which GitHub and Colab do not restore.
    """
    state = nb.metadata.pop("widgets", {}).get("application/vnd.jupyter.widget-state+json", {}).get("state", {})
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            view = output.get("data", {}).get("application/vnd.jupyter.widget-view+json")
            if view is None:
                continue
            parts = [state.get(child.removeprefix("IPY_MODEL_"), {}).get("state", {})
                     for child in state.get(view["model_id"], {}).get("state", {}).get("children", [])]
            if len(parts) == 3:  # tqdm: HTML prefix, FloatProgress, HTML postfix
                filled = round(10 * parts[1].get("value", 0) / max(parts[1].get("max") or 1, 1))
                text = f"{parts[0].get('value', '')}|{'█' * filled}{' ' * (10 - filled)}|{parts[2].get('value', '')}"
                output.data = {"text/plain": html.unescape(text).replace("\u2007", " ")}
            else:
                del output.data["application/vnd.jupyter.widget-view+json"]


def execute(nb, path: Path) -> float:
    """Run `nb` in a fresh kernel in the notebooks folder; return the wall time in seconds."""
    from nbclient import NotebookClient

    start = time.time()
    NotebookClient(nb, timeout=1800, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}).execute()
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                output.text = collapse_carriage_returns(output.text)
    flatten_progress_widgets(nb)
    return time.time() - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("prefixes", nargs="*", help="only notebooks whose file names start with these (e.g. 02)")
    parser.add_argument("--no-execute", action="store_true", help="write the notebooks without running them")
    args = parser.parse_args(argv)
    timings = {}
    for name, cells in NOTEBOOKS:
        if args.prefixes and not any(name.startswith(p) for p in args.prefixes):
            continue
        path = HERE / f"{name}.ipynb"
        nb = make_notebook(cells)
        if not args.no_execute:
            timings[name] = execute(nb, path)
            print(f"{name}: {timings[name]:.0f} s", flush=True)
        nbformat.write(nb, path)
    if timings:
        print(f"total: {sum(timings.values()):.0f} s")


if __name__ == "__main__":
    sys.exit(main())
