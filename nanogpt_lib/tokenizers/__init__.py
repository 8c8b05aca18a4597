"""Tokenizers: text ↔ integer ids.

Every tokenizer has the same small interface (`base.Tokenizer`): `encode(text) -> list[int]`, `decode(ids)
-> str`, `vocab_size`, `eot_id` (end-of-text id, or None), `name`, `saved_form()` and `save(path)`;
`load_tokenizer(path)` reads any of them back from its JSON file. `get_tokenizer(name, ...)` builds one by name.

- `base`: the interface, the registry of saved kinds, and `CharTokenizer`;
- `bpe`: byte-level BPE, training and encoding written out to be read (`BPETokenizer`);
- `gpt2`: GPT-2's own tokenizer through tiktoken (`TiktokenTokenizer`, its ranks file);
- `sentencepiece_tokenizer`: SentencePiece trained on the corpus.
"""

from __future__ import annotations

from pathlib import Path

from .base import TOKENIZER_TYPES, CharTokenizer, Tokenizer, load_tokenizer, register, tokenizer_from_dict
from .bpe import GPT2_SPLIT_PATTERN, BPETokenizer, Pair, best_pair, merge_pair, pair_counts, train_merges
from .gpt2 import (
    EOT,
    GPT2_RANKS_ENV,
    GPT2_RANKS_SHA256,
    TIKTOKEN_GPT2_PATTERN,
    TiktokenTokenizer,
    TokenizerFilesMissing,
    gpt2_encoding,
    load_tiktoken_ranks,
)
from .sentencepiece_tokenizer import SentencePieceTokenizer

__all__ = [
    "BPETokenizer", "CharTokenizer", "DEFAULT_VOCAB_SIZE", "EOT", "GPT2_RANKS_ENV", "GPT2_RANKS_SHA256",
    "GPT2_SPLIT_PATTERN", "Pair", "SentencePieceTokenizer", "TIKTOKEN_GPT2_PATTERN", "TOKENIZER_TYPES",
    "TiktokenTokenizer", "Tokenizer", "TokenizerFilesMissing", "best_pair", "get_tokenizer", "gpt2_encoding",
    "load_tiktoken_ranks", "load_tokenizer", "merge_pair", "pair_counts", "register", "tokenizer_from_dict",
    "train_merges",
]

DEFAULT_VOCAB_SIZE = 1024  # for the trainable tokenizers (bpe, sentencepiece)


def get_tokenizer(name: str, text: str | None = None, data_dir: str | Path | None = None,
                  vocab_size: int | None = None, ranks_file: str | Path | None = None) -> Tokenizer:
    """Build a tokenizer by name: `char`, `bpe`, `sentencepiece` (fitted on `text`) or `gpt2` (tiktoken).

    The result's `name` is `name`. `vocab_size` applies to bpe and sentencepiece (default 1024); a
    SentencePiece model is also written to `data_dir/sentencepiece.model` when `data_dir` is given. `char` and
    `gpt2` ignore both. `gpt2` reads its ranks from `ranks_file` (else `$NANOGPT_GPT2_RANKS`) when given, and
    otherwise from tiktoken's cache or download.
    """
    size = vocab_size or DEFAULT_VOCAB_SIZE
    if name == "char":
        return CharTokenizer.from_text(_need_text(text, name))
    if name == "bpe":
        return BPETokenizer.train(_need_text(text, name), size)
    if name == "sentencepiece":
        tok = SentencePieceTokenizer.train(_need_text(text, name), size)
        if data_dir is not None:
            tok.save_model(Path(data_dir) / "sentencepiece.model")
        return tok
    if name == "gpt2":
        return TiktokenTokenizer.named("gpt2", ranks_file)
    raise ValueError(f"unknown tokenizer {name!r}; choose one of: char, bpe, sentencepiece, gpt2")


def _need_text(text: str | None, name: str) -> str:
    if text is None:
        raise ValueError(f"the {name!r} tokenizer is fitted on a corpus: pass text=...")
    return text
