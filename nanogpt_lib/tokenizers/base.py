"""The tokenizer interface, the registry of saved kinds, and the character tokenizer.

Every tokenizer has `encode(text) -> list[int]`, `decode(ids) -> str`, `vocab_size`, `eot_id` (end-of-text
id, or None), `name` (what `get_tokenizer` calls it) and `save(path)`; `load_tokenizer(path)` reads any of
them back. Saved forms are `{"kind": ..., **to_dict()}`; each class registers its `kind` with `@register`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from ..files import atomic_write_text

TOKENIZER_TYPES: dict[str, type[Tokenizer]] = {}


def register(cls: type[Tokenizer]) -> type[Tokenizer]:
    """Class decorator: make a tokenizer loadable by its `kind` name."""
    TOKENIZER_TYPES[cls.kind] = cls
    return cls


class Tokenizer:
    """Base class: subclasses implement encode/decode/vocab_size and `to_dict`/`from_dict`."""

    kind = "base"  # the saved form's "kind": which class `tokenizer_from_dict` rebuilds
    eot_id: int | None = None

    @property
    def name(self) -> str:
        """What `get_tokenizer` calls this tokenizer ("char", "bpe", "sentencepiece", "gpt2"); logs show it."""
        return self.kind

    def encode(self, text: str) -> list[int]:
        raise NotImplementedError

    def decode(self, ids: Iterable[int]) -> str:
        raise NotImplementedError

    @property
    def vocab_size(self) -> int:
        raise NotImplementedError

    def to_dict(self) -> dict:
        raise NotImplementedError

    @classmethod
    def from_dict(cls, d: dict) -> Tokenizer:
        raise NotImplementedError

    def saved_form(self) -> dict:
        """`{"kind": ..., **to_dict()}`: what tokenizer files and checkpoints store; `tokenizer_from_dict` reads it."""
        return {"kind": self.kind, **self.to_dict()}

    def save(self, path: str | Path) -> Path:
        """Write the tokenizer's saved form as JSON and return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        return atomic_write_text(path, json.dumps(self.saved_form(), ensure_ascii=False))

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        return load_tokenizer(path)


def tokenizer_from_dict(d: dict) -> Tokenizer:
    """Rebuild a tokenizer from `{"kind": ..., ...}` (as stored in JSON files and checkpoints)."""
    kind = d.get("kind")
    if kind not in TOKENIZER_TYPES:
        raise ValueError(f"unknown tokenizer kind {kind!r}; known kinds: {', '.join(sorted(TOKENIZER_TYPES))}")
    return TOKENIZER_TYPES[kind].from_dict({k: v for k, v in d.items() if k != "kind"})


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Read a tokenizer JSON written by `Tokenizer.save`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no tokenizer file at {path}; run `nanogpt prepare` to create one")
    try:
        d = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path} is not a tokenizer JSON file: {e}") from None
    return tokenizer_from_dict(d)


@register
class CharTokenizer(Tokenizer):
    """One token per distinct character, ids in sorted character order."""

    kind = "char"

    def __init__(self, chars: Iterable[str]) -> None:
        self.chars: list[str] = sorted(set(chars))
        self.stoi = {c: i for i, c in enumerate(self.chars)}

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The vocabulary is every character that occurs in `text`."""
        if not text:
            raise ValueError("cannot build a character vocabulary from empty text")
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        try:
            return [self.stoi[c] for c in text]
        except KeyError:
            unknown = sorted({c for c in text if c not in self.stoi})
            raise ValueError(
                f"text contains {len(unknown)} character(s) not in the vocabulary: "
                f"{', '.join(repr(c) for c in unknown)}; the vocabulary has {self.vocab_size} characters "
                "from the training corpus — remove or replace these characters"
            ) from None

    def decode(self, ids: Iterable[int]) -> str:
        ids = [int(i) for i in ids]
        bad = [i for i in ids if not 0 <= i < len(self.chars)]  # a negative index must not wrap around
        if bad:
            raise ValueError(f"token id(s) {sorted(set(bad))[:5]} are outside this vocabulary of "
                             f"{len(self.chars)} characters (valid ids: 0 to {len(self.chars) - 1})")
        return "".join(self.chars[i] for i in ids)

    def to_dict(self) -> dict:
        return {"chars": self.chars}

    @classmethod
    def from_dict(cls, d: dict) -> CharTokenizer:
        return cls(d["chars"])
