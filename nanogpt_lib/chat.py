"""The chat format: special tokens for the roles, the template that turns a conversation into token ids and
back, and generation that stops at the end of the assistant's turn (notebook 10).

A base model only continues text. A chat model reads a conversation laid out by a fixed template and writes
the assistant's next turn. Three tokens that no text can produce mark the layout:

    <|user|>spell backwards: romeo<|end|><|assistant|>oemor<|end|>

`ChatTokenizer` wraps the base tokenizer and appends those three ids after its vocabulary (so every old id
keeps its meaning and the model only needs new rows, see `finetune.grow_vocab`). Ordinary text is always
encoded by the base tokenizer, so a user who types "<|end|>" gets the characters, never the token: only the
template (`render`) places special ids. `parse` reads ids back into messages; `render_prompt` ends with
`<|assistant|>`, the cue for the model to answer, and `generate_replies` samples until `<|end|>`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch

from .sampling import check_sampling, eval_mode, sample_next_token
from .tokenizers import Tokenizer, register, tokenizer_from_dict

ROLES = ("user", "assistant")
USER, ASSISTANT, END = "<|user|>", "<|assistant|>", "<|end|>"  # how the special tokens are shown


@dataclass(frozen=True)
class Message:
    """One turn of a conversation: who speaks (`"user"` or `"assistant"`) and what they say."""

    role: str
    text: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"a message's role must be one of {', '.join(ROLES)}, got {self.role!r}")


@register
class ChatTokenizer(Tokenizer):
    """A base tokenizer plus three special tokens, `<|user|>`, `<|assistant|>` and `<|end|>`, at the ids just
    after the base vocabulary: `user_id = base.vocab_size`, then `assistant_id`, then `end_id`.

    `encode` is the base tokenizer's (it never yields a special id); `decode` shows special ids as their marker
    text. The template lives here too: `render`, `render_with_mask`, `render_prompt`, `parse`.
    """

    kind = "chat"
    SPECIALS = (USER, ASSISTANT, END)

    def __init__(self, base: Tokenizer) -> None:
        if isinstance(base, ChatTokenizer):
            raise ValueError("this tokenizer already has chat tokens; wrap its .base instead")
        self.base = base
        n = base.vocab_size
        self.user_id, self.assistant_id, self.end_id = n, n + 1, n + 2
        self.role_id = {"user": self.user_id, "assistant": self.assistant_id}
        self.eot_id = base.eot_id

    @property
    def name(self) -> str:
        return f"{self.base.name}+chat"

    @property
    def vocab_size(self) -> int:
        return self.base.vocab_size + len(self.SPECIALS)

    def is_special(self, i: int) -> bool:
        return self.user_id <= i < self.vocab_size

    def encode(self, text: str) -> list[int]:
        """Ordinary text only: marker text such as "<|end|>" is encoded as the characters it is made of."""
        return self.base.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        """Text, with each special id shown as its marker (`<|user|>`, ...)."""
        out, run = [], []
        for i in map(int, ids):
            if self.is_special(i):
                out += [self.base.decode(run), self.SPECIALS[i - self.user_id]]
                run = []
            else:
                run.append(i)
        return "".join(out + [self.base.decode(run)])

    def to_dict(self) -> dict:
        return {"base": self.base.saved_form()}

    @classmethod
    def from_dict(cls, d: dict) -> ChatTokenizer:
        return cls(tokenizer_from_dict(d["base"]))

    # -- the template ------------------------------------------------------------------------------------
    def render_with_mask(self, messages: Sequence[Message]) -> tuple[list[int], list[bool]]:
        """Token ids of the conversation, and for each id whether the assistant wrote it.

        Each message is `[role id] + encode(text) + [end id]`. The assistant writes its text and its `<|end|>`
        (so it learns to stop); its role id is not its own: the template puts it there as the cue to answer.
        """
        ids: list[int] = []
        mask: list[bool] = []
        for m in messages:
            body = self.encode(m.text) + [self.end_id]
            ids += [self.role_id[m.role]] + body
            mask += [False] + [m.role == "assistant"] * len(body)
        return ids, mask

    def render(self, messages: Sequence[Message]) -> list[int]:
        """Token ids of a whole conversation (see `render_with_mask`)."""
        return self.render_with_mask(messages)[0]

    def render_prompt(self, messages: Sequence[Message]) -> list[int]:
        """The conversation so far plus `<|assistant|>`: what the model reads before it writes its reply."""
        return self.render(messages) + [self.assistant_id]

    def parse(self, ids: Sequence[int]) -> list[Message]:
        """The messages of a rendered conversation: the inverse of `render` (`parse(render(m)) == m`).

        Raises ValueError when `ids` do not follow the template (text outside a turn, a turn that never ends,
        a role id inside a turn), naming the position.
        """
        messages, i, ids = [], 0, [int(t) for t in ids]
        by_id = {v: k for k, v in self.role_id.items()}
        while i < len(ids):
            if ids[i] not in by_id:
                raise ValueError(f"token {i} ({self.decode([ids[i]])!r}) should start a turn (<|user|> or "
                                 "<|assistant|>)")
            try:
                end = ids.index(self.end_id, i + 1)
            except ValueError:
                raise ValueError(f"the turn starting at token {i} has no <|end|>") from None
            body = ids[i + 1 : end]
            if any(self.is_special(t) for t in body):
                raise ValueError(f"the turn starting at token {i} holds a special token before its <|end|>")
            messages.append(Message(by_id[ids[i]], self.base.decode(body)))
            i = end + 1
        return messages


def one_line(reply: str) -> str:
    """A reply as one line of text: a newline inside it is shown as the two characters \\n (and a backslash as
    \\\\), so that `nanogpt chat` gives exactly one output line per input line and transcripts stay readable."""
    return reply.replace("\\", "\\\\").replace("\n", "\\n")


@torch.no_grad()
def generate_replies(model: torch.nn.Module, tokenizer: ChatTokenizer, prompts: Sequence[Sequence[int]],
                     max_new_tokens: int = 32, temperature: float = 0.0, top_k: int | None = None,
                     generator: torch.Generator | None = None) -> list[tuple[list[int], bool]]:
    """Sample a reply to each prompt (ids from `render_prompt`), stopping at `<|end|>` or after `max_new_tokens`.

    Returns `(reply ids without the <|end|>, finished)` per prompt, in order; `finished` is False when the
    reply hit the length cap (or the model's window) before `<|end|>`. Temperature 0 is greedy.

    Batched with the KV cache: the model has no padding mask, so a batch holds prompts of one length only
    (prompts are grouped by length, shortest first), and every row reads exactly what it would read alone.
    Rows that have finished keep being computed until the whole batch is done; their extra tokens are dropped.
    """
    check_sampling(temperature, top_k, None, max_new_tokens)
    device = next(model.parameters()).device
    window = model.context_length
    out: list[tuple[list[int], bool] | None] = [None] * len(prompts)
    by_length: dict[int, list[int]] = {}
    for i, p in enumerate(prompts):
        if not 0 < len(p) < window:
            raise ValueError(f"prompt {i} has {len(p)} tokens; the model's window holds {window}, so a prompt "
                             f"must have 1 to {window - 1} tokens: shorten it")
        by_length.setdefault(len(p), []).append(i)
    with eval_mode(model):
        for length in sorted(by_length):
            rows = by_length[length]
            idx = torch.tensor([list(prompts[i]) for i in rows], dtype=torch.long, device=device)
            steps = min(max_new_tokens, window - length)  # the cache holds `window` positions
            cache = model.new_cache(len(rows), device)
            logits = model.next_token_logits(idx, cache)
            new = torch.empty(len(rows), 0, dtype=torch.long, device=device)
            done = torch.zeros(len(rows), dtype=torch.bool, device=device)
            for step in range(steps):
                token = sample_next_token(logits, temperature, top_k, None, generator)
                new = torch.cat((new, token), dim=1)
                done |= token[:, 0] == tokenizer.end_id
                if bool(done.all()) or step == steps - 1:
                    break
                logits = model.next_token_logits(token, cache)
            for row, i in enumerate(rows):
                ids = new[row].tolist()
                finished = tokenizer.end_id in ids
                out[i] = (ids[: ids.index(tokenizer.end_id)] if finished else ids, finished)
    return out  # type: ignore[return-value]
