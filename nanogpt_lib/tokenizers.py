"""Tokenizers: text ↔ integer ids.

Every tokenizer has the same small interface: `encode(text) -> list[int]`, `decode(ids) -> str`,
`vocab_size`, `eot_id` (end-of-text id, or None), `to_dict()` and `save(path)`; `load_tokenizer(path)`
reads any of them back from its JSON file.
"""

from __future__ import annotations

import base64
import heapq
import io
import itertools
import json
import os
from pathlib import Path
from typing import Iterable

from .files import atomic_write_text

TOKENIZER_TYPES: dict[str, type] = {}


def register(cls: type) -> type:
    """Class decorator: make a tokenizer loadable by its `kind` name."""
    TOKENIZER_TYPES[cls.kind] = cls
    return cls


class Tokenizer:
    """Base class: subclasses implement encode/decode/vocab_size and `to_dict`/`from_dict`."""

    kind = "base"
    eot_id: int | None = None

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
    def from_dict(cls, d: dict) -> "Tokenizer":
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
    def load(cls, path: str | Path) -> "Tokenizer":
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
    def from_text(cls, text: str) -> "CharTokenizer":
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
    def from_dict(cls, d: dict) -> "CharTokenizer":
        return cls(d["chars"])


# ---------------------------------------------------------------------------------------------------------
# Byte-level BPE, written out so it can be read and taught from.

# GPT-2's pre-split: contractions, words (with their leading space), numbers, punctuation runs, whitespace.
# Merges never cross these chunk boundaries, so " the" and "the." cannot fuse into one token.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# tiktoken's spelling of the same split for GPT-2 (r50k_base): possessive quantifiers and a separate
# "whitespace up to the end" branch make its Rust engine faster but cut text into the same chunks.
TIKTOKEN_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
EOT = "<|endoftext|>"

Pair = tuple[int, int]


def _split_regex():
    try:
        import regex
    except ImportError:
        raise ImportError("the BPE tokenizer needs the `regex` package (\\p{L} classes): pip install regex") from None
    return regex.compile(GPT2_SPLIT_PATTERN)


def pair_counts(words: Iterable[list[int]], counts: Iterable[int] | None = None) -> dict[Pair, int]:
    """How often each adjacent pair of ids occurs, summed over `words` (each weighted by its count)."""
    stats: dict[Pair, int] = {}
    for word, n in zip(words, counts if counts is not None else itertools.repeat(1)):
        for pair in zip(word, word[1:]):
            stats[pair] = stats.get(pair, 0) + n
    return stats


def merge_pair(ids: list[int], pair: Pair, new_id: int) -> list[int]:
    """Replace every occurrence of `pair` in `ids` (left to right, non-overlapping) by `new_id`."""
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def best_pair(stats: dict[Pair, int]) -> Pair:
    """The most frequent pair; ties go to the smallest pair, so training is deterministic."""
    return min(stats, key=lambda p: (-stats[p], p))


def train_merges(text: str, num_merges: int) -> list[Pair]:
    """Learn up to `num_merges` BPE merges on the UTF-8 bytes of `text`; merge i creates token 256 + i.

    Same result as "count all pairs, merge the best, repeat", but fast: each distinct pre-split chunk is
    stored once with its count, and after a merge only the chunks that contained the pair are recounted.
    """
    chunks: dict[str, int] = {}
    for chunk in _split_regex().findall(text):
        chunks[chunk] = chunks.get(chunk, 0) + 1
    words = [list(c.encode("utf-8")) for c in chunks]
    freq = list(chunks.values())
    stats = pair_counts(words, freq)
    where: dict[Pair, set[int]] = {}  # pair -> indices of the words it occurs in (may hold stale entries)
    for w, word in enumerate(words):
        for pair in zip(word, word[1:]):
            where.setdefault(pair, set()).add(w)
    heap = [(-n, pair) for pair, n in stats.items()]  # max-heap by count; stale entries are skipped on pop
    heapq.heapify(heap)
    merges: list[Pair] = []
    while len(merges) < num_merges and heap:
        neg, pair = heapq.heappop(heap)
        if stats.get(pair, 0) != -neg or neg == 0:
            continue  # the count changed since this entry was pushed
        new_id = 256 + len(merges)
        merges.append(pair)
        changed: set[Pair] = set()
        for w in where.pop(pair):
            old = words[w]
            new = merge_pair(old, pair, new_id)
            if len(new) == len(old):
                continue
            for p in zip(old, old[1:]):
                stats[p] -= freq[w]
                changed.add(p)
            for p in zip(new, new[1:]):
                stats[p] = stats.get(p, 0) + freq[w]
                where.setdefault(p, set()).add(w)
                changed.add(p)
            words[w] = new
        for p in changed:
            if stats.get(p, 0) > 0:
                heapq.heappush(heap, (-stats[p], p))
            else:
                stats.pop(p, None)
    return merges


@register
class BPETokenizer(Tokenizer):
    """Byte-level BPE (GPT-2 style): bytes 0-255 are tokens 0-255, merge i makes token 256 + i.

    `encode` uses tiktoken's Rust BPE on our merges (fast enough for the whole corpus); `encode_slow`
    applies the merges in Python, one rank at a time, and gives the same ids. The last id is `<|endoftext|>`.
    """

    kind = "bpe"

    def __init__(self, merges: Iterable[Pair], byte_order: Iterable[int] | None = None) -> None:
        self.merges: list[Pair] = [(int(a), int(b)) for a, b in merges]
        self.ranks: dict[Pair, int] = {pair: 256 + i for i, pair in enumerate(self.merges)}
        # Token i < 256 is the byte byte_order[i]: the identity for our tokenizers, a permutation for GPT-2's.
        self.byte_order: list[int] = list(range(256)) if byte_order is None else [int(b) for b in byte_order]
        if sorted(self.byte_order) != list(range(256)):
            raise ValueError("byte_order must list each of the 256 byte values exactly once")
        self.byte_ids: list[int] = [0] * 256
        for i, b in enumerate(self.byte_order):
            self.byte_ids[b] = i
        self.vocab: list[bytes] = [bytes([b]) for b in self.byte_order]
        for a, b in self.merges:
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self.eot_id = len(self.vocab)
        self._fast = None

    @classmethod
    def train(cls, text: str, vocab_size: int = 1024) -> "BPETokenizer":
        """Learn `vocab_size - 257` merges on `text` (256 byte tokens and `<|endoftext|>` come for free)."""
        if vocab_size < 257:
            raise ValueError(f"BPE vocab_size must be at least 257 (256 bytes + end-of-text), got {vocab_size}")
        if not text:
            raise ValueError("cannot train BPE on empty text")
        return cls(train_merges(text, vocab_size - 257))

    @classmethod
    def from_tiktoken(cls, source) -> "BPETokenizer":
        """GPT-2's BPE as merges: recovered from a `tiktoken.Encoding`, a ranks dict or a `.tiktoken` file.

        tiktoken stores only `token bytes -> rank`. The 256 single bytes have ranks 0-255 but not in byte
        order (rank 0 is `!`), so the byte order is read off them. Every longer token of rank r was made by
        merging two earlier tokens; BPE on its bytes with the ranks below r stops at exactly those two.
        The result encodes like tiktoken (same ids) with `encode_slow`, in pure Python.
        """
        if isinstance(source, (str, Path)):
            ranks = load_tiktoken_ranks(source)
        elif isinstance(source, dict):
            ranks = dict(source)
        else:  # a tiktoken.Encoding; its public API gives every token's bytes and rank
            if getattr(source, "_pat_str", GPT2_SPLIT_PATTERN) not in (GPT2_SPLIT_PATTERN, TIKTOKEN_GPT2_PATTERN):
                raise ValueError(f"{source.name!r} pre-splits text with another pattern than GPT-2's; "
                                 "BPETokenizer only knows GPT-2's (GPT2_SPLIT_PATTERN)")
            ranks = {t: source.encode_single_token(t) for t in source.token_byte_values()}
        if sorted(ranks.values()) != list(range(len(ranks))):
            raise ValueError("the ranks must be 0, 1, 2, ... without gaps or repeats")
        by_rank = sorted(ranks, key=ranks.__getitem__)
        if len(by_rank) < 256 or any(len(t) != 1 for t in by_rank[:256]):
            raise ValueError("ranks 0-255 must be the 256 single bytes")
        merges = []
        for rank in range(256, len(by_rank)):
            left, right = _last_merge(by_rank[rank], ranks)
            merges.append((ranks[left], ranks[right]))
        return cls(merges, byte_order=[t[0] for t in by_rank[:256]])

    @property
    def vocab_size(self) -> int:
        return len(self.vocab) + 1

    def encode_chunk(self, ids: list[int]) -> list[int]:
        """Apply the merges to one pre-split chunk: always the earliest-learned merge that is present."""
        while len(ids) >= 2:
            pair = min(zip(ids, ids[1:]), key=lambda p: self.ranks.get(p, 1 << 62))
            if pair not in self.ranks:
                break
            ids = merge_pair(ids, pair, self.ranks[pair])
        return ids

    def encode_slow(self, text: str) -> list[int]:
        """Pure-Python encoding: pre-split, then BPE each chunk (cached: most chunks repeat)."""
        cache: dict[str, list[int]] = {}
        out: list[int] = []
        for chunk in _split_regex().findall(text):
            if chunk not in cache:
                cache[chunk] = self.encode_chunk([self.byte_ids[b] for b in chunk.encode("utf-8")])
            out.extend(cache[chunk])
        return out

    def to_tiktoken(self):
        """The same tokenizer as a `tiktoken.Encoding` (token bytes → rank = id), for fast encoding."""
        import tiktoken

        ranks = {token: i for i, token in enumerate(self.vocab)}
        if len(ranks) != len(self.vocab):
            raise ValueError("two BPE merges produce the same bytes; this vocabulary cannot be exported to tiktoken")
        return tiktoken.Encoding(f"nanogpt-bpe-{len(self.merges)}", pat_str=GPT2_SPLIT_PATTERN,
                                 mergeable_ranks=ranks, special_tokens={EOT: self.eot_id})

    def encode(self, text: str) -> list[int]:
        if self._fast is None:
            self._fast = self.to_tiktoken()
        return self._fast.encode_ordinary(text)  # "<|endoftext|>" in the text is plain text, not the special id

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        return b"".join(EOT.encode() if int(i) == self.eot_id else self.vocab[int(i)] for i in ids)

    def decode(self, ids: Iterable[int]) -> str:
        # A token can end inside a multi-byte character; show such fragments as U+FFFD instead of failing.
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def to_dict(self) -> dict:
        d: dict = {"merges": [list(p) for p in self.merges]}
        if self.byte_order != list(range(256)):
            d["byte_order"] = self.byte_order
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "BPETokenizer":
        return cls(d["merges"], d.get("byte_order"))


def _last_merge(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two tokens whose merge made `token`: BPE on its bytes, using only ranks below its own."""
    limit = ranks[token]
    # Usually only one split point has two known, earlier halves: then it is the merge.
    splits = [(token[:k], token[k:]) for k in range(1, len(token))
              if ranks.get(token[:k], limit) < limit and ranks.get(token[k:], limit) < limit]
    if len(splits) == 1:
        return splits[0]
    parts = [bytes([b]) for b in token]
    while len(parts) > 2:
        rank, i = min((ranks.get(a + b, limit), i) for i, (a, b) in enumerate(zip(parts, parts[1:])))
        if rank >= limit:
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise ValueError(f"token {token!r} (rank {limit}) is not the merge of two earlier tokens")
    return parts[0], parts[1]


# ---------------------------------------------------------------------------------------------------------
# tiktoken encodings (GPT-2's real tokenizer) and SentencePiece.


class TokenizerFilesMissing(FileNotFoundError):
    """A pretrained tokenizer's files are neither cached nor downloadable."""


GPT2_RANKS_ENV = "NANOGPT_GPT2_RANKS"  # a local copy of GPT-2's ranks (r50k_base.tiktoken), for offline machines
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"  # tiktoken's own check


def load_tiktoken_ranks(path: str | Path, sha256: str | None = None) -> dict[bytes, int]:
    """Read a `.tiktoken` file: one `base64(token bytes) rank` per line. With `sha256`, check the file first."""
    import hashlib

    path = Path(path).expanduser()
    if not path.is_file():
        raise TokenizerFilesMissing(f"no tiktoken ranks file at {path}")
    data = path.read_bytes()
    if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
        raise ValueError(f"{path} is not the expected ranks file (its SHA-256 differs from {sha256[:12]}...)")
    ranks = {}
    for line in data.splitlines():
        if line.strip():
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def gpt2_encoding(ranks_file: str | Path):
    """GPT-2's tiktoken encoding built from a local copy of its ranks (checked against tiktoken's hash)."""
    import tiktoken

    ranks = load_tiktoken_ranks(ranks_file, GPT2_RANKS_SHA256)
    return tiktoken.Encoding("gpt2", pat_str=TIKTOKEN_GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: len(ranks)})


@register
class TiktokenTokenizer(Tokenizer):
    """A `tiktoken.Encoding` (GPT-2's by default) behind our interface; saved by name only."""

    kind = "tiktoken"

    def __init__(self, encoding) -> None:
        self.encoding = encoding
        self.eot_id = encoding.eot_token if EOT in encoding.special_tokens_set else None

    @classmethod
    def named(cls, name: str = "gpt2", ranks_file: str | Path | None = None) -> "TiktokenTokenizer":
        """Load a named tiktoken encoding; its files are downloaded once and cached (TIKTOKEN_CACHE_DIR).

        For `gpt2`, a local ranks file (`ranks_file`, else the `NANOGPT_GPT2_RANKS` environment variable)
        is used instead of the download: a copy of tiktoken's `r50k_base.tiktoken`, which holds GPT-2's ranks.
        """
        import tiktoken

        ranks_file = ranks_file or (os.environ.get(GPT2_RANKS_ENV) if name == "gpt2" else None)
        if ranks_file:
            if name != "gpt2":
                raise ValueError(f"a local ranks file can stand in for 'gpt2' only, not {name!r}")
            try:
                return cls(gpt2_encoding(ranks_file))
            except TokenizerFilesMissing as e:
                raise TokenizerFilesMissing(f"{e} (given as ranks_file or with {GPT2_RANKS_ENV})") from None
        try:
            return cls(tiktoken.get_encoding(name))
        except (OSError, ValueError) as e:  # requests' ConnectionError is an OSError
            raise TokenizerFilesMissing(
                f"could not load tiktoken's {name!r} encoding: its files are not cached and could not be "
                f"downloaded ({type(e).__name__}: {str(e)[:200]}). Go online once, or copy a cached folder "
                "from a machine that has one and point TIKTOKEN_CACHE_DIR=/path/to/that/folder at it."
            ) from None

    @property
    def vocab_size(self) -> int:
        return self.encoding.n_vocab

    def encode(self, text: str) -> list[int]:
        return self.encoding.encode_ordinary(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.encoding.decode([int(i) for i in ids])

    def to_dict(self) -> dict:
        return {"name": self.encoding.name}

    @classmethod
    def from_dict(cls, d: dict) -> "TiktokenTokenizer":
        return cls.named(d["name"])


@register
class SentencePieceTokenizer(Tokenizer):
    """A SentencePiece model trained on the corpus; the model file travels inside the JSON (base64)."""

    kind = "sentencepiece"

    def __init__(self, model_proto: bytes) -> None:
        import sentencepiece as spm

        self.model_proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.eot_id = self.sp.eos_id() if self.sp.eos_id() >= 0 else None

    @classmethod
    def train(cls, text: str, vocab_size: int = 1024, model_type: str = "bpe") -> "SentencePieceTokenizer":
        """Train on `text`, with the settings that make decode(encode(text)) == text exactly."""
        import sentencepiece as spm

        if not text:
            raise ValueError("cannot train SentencePiece on empty text")
        lines = [line for line in text.split("\n") if line]
        model = io.BytesIO()
        try:
            spm.SentencePieceTrainer.train(
                sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type=model_type,
                character_coverage=1.0, byte_fallback=True,  # unseen characters become byte tokens, never <unk>
                normalization_rule_name="identity", remove_extra_whitespaces=False, add_dummy_prefix=False,
                user_defined_symbols=["\n"],  # lines are its sentences: make the newline a token of its own
                max_sentence_length=1 << 16, num_threads=1, minloglevel=2,
            )
        except RuntimeError as e:
            raise ValueError(
                f"SentencePiece training failed: {str(e).splitlines()[0]}. The vocabulary holds 256 byte tokens, "
                "3 control tokens and every character of the text: choose a larger vocab_size"
            ) from None
        return cls(model.getvalue())

    @property
    def vocab_size(self) -> int:
        return self.sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self.sp.encode(text)

    def decode(self, ids: Iterable[int]) -> str:
        return self.sp.decode([int(i) for i in ids])

    def save_model(self, path: str | Path) -> Path:
        """Write the plain `.model` file too (for SentencePiece's own tools)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.model_proto)
        return path

    def to_dict(self) -> dict:
        return {"model": base64.b64encode(self.model_proto).decode("ascii")}

    @classmethod
    def from_dict(cls, d: dict) -> "SentencePieceTokenizer":
        return cls(base64.b64decode(d["model"]))


DEFAULT_VOCAB_SIZE = 1024  # for the trainable tokenizers (bpe, sentencepiece)


def get_tokenizer(name: str, text: str | None = None, data_dir: str | Path | None = None,
                  vocab_size: int | None = None, ranks_file: str | Path | None = None) -> Tokenizer:
    """Build a tokenizer by name: `char`, `bpe`, `sentencepiece` (fitted on `text`) or `gpt2` (tiktoken).

    `vocab_size` applies to bpe and sentencepiece (default 1024); a SentencePiece model is also written
    to `data_dir/sentencepiece.model` when `data_dir` is given. `char` and `gpt2` ignore both. `gpt2` reads
    its ranks from `ranks_file` (else `$NANOGPT_GPT2_RANKS`) when given, and otherwise from tiktoken's cache
    or download.
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
