"""Byte-level BPE (GPT-2 style), written out to be read and taught from.

Training: `train_merges` (built from `pair_counts`, `best_pair` and `merge_pair`). Encoding: read
`BPETokenizer.encode_slow`, the algorithm in pure Python (pre-split, then apply the merges in the order they
were learned). `BPETokenizer.encode` gives the same ids much faster, through tiktoken's Rust BPE on our
merges; the tests check that the two agree. `BPETokenizer.from_tiktoken` recovers GPT-2's merges from its
published ranks, so `encode_slow` can reproduce GPT-2's own ids.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Tokenizer, register
from .gpt2 import EOT, TIKTOKEN_GPT2_PATTERN, load_tiktoken_ranks

if TYPE_CHECKING:
    import tiktoken

# GPT-2's pre-split: contractions, words (with their leading space), numbers, punctuation runs, whitespace.
# Merges never cross these chunk boundaries, so " the" and "the." cannot fuse into one token.
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""

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

    `encode_slow` is the algorithm, in Python: read it. `encode` gives the same ids through tiktoken's Rust
    BPE on our merges (fast enough for the whole corpus). The last id is `<|endoftext|>`.
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
    def train(cls, text: str, vocab_size: int = 1024) -> BPETokenizer:
        """Learn `vocab_size - 257` merges on `text` (256 byte tokens and `<|endoftext|>` come for free)."""
        if vocab_size < 257:
            raise ValueError(f"BPE vocab_size must be at least 257 (256 bytes + end-of-text), got {vocab_size}")
        if not text:
            raise ValueError("cannot train BPE on empty text")
        return cls(train_merges(text, vocab_size - 257))

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
        """The BPE encoder to read: pre-split, then `encode_chunk` each chunk's bytes (cached: most chunks repeat).

        Pure Python, so slow on a whole corpus; `encode` gives the same ids faster.
        """
        cache: dict[str, list[int]] = {}
        out: list[int] = []
        for chunk in _split_regex().findall(text):
            if chunk not in cache:
                cache[chunk] = self.encode_chunk([self.byte_ids[b] for b in chunk.encode("utf-8")])
            out.extend(cache[chunk])
        return out

    def encode(self, text: str) -> list[int]:
        """The same ids as `encode_slow`, computed by tiktoken's Rust BPE on our merges (`to_tiktoken`)."""
        if self._fast is None:
            self._fast = self.to_tiktoken()
        return self._fast.encode_ordinary(text)  # "<|endoftext|>" in the text is plain text, not the special id

    def to_tiktoken(self) -> tiktoken.Encoding:
        """The same tokenizer as a `tiktoken.Encoding` (token bytes → rank = id), for fast encoding."""
        import tiktoken

        ranks = {token: i for i, token in enumerate(self.vocab)}
        if len(ranks) != len(self.vocab):
            raise ValueError("two BPE merges produce the same bytes; this vocabulary cannot be exported to tiktoken")
        return tiktoken.Encoding(f"nanogpt-bpe-{len(self.merges)}", pat_str=GPT2_SPLIT_PATTERN,
                                 mergeable_ranks=ranks, special_tokens={EOT: self.eot_id})

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes of the tokens `ids`, joined."""
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
    def from_dict(cls, d: dict) -> BPETokenizer:
        return cls(d["merges"], d.get("byte_order"))

    @classmethod
    def from_tiktoken(cls, source: tiktoken.Encoding | dict[bytes, int] | str | Path) -> BPETokenizer:
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
