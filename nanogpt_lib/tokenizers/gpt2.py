"""GPT-2's own tokenizer, loaded through tiktoken: its ranks file, its encoding, and `TiktokenTokenizer`.

`get_tokenizer("gpt2")` returns a `TiktokenTokenizer` named "gpt2"; it is saved as `{"kind": "tiktoken",
"name": "gpt2"}` (the encoding's name only: the ranks come from tiktoken's cache or a local copy).
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Tokenizer, register

if TYPE_CHECKING:
    import tiktoken

EOT = "<|endoftext|>"  # GPT-2's end-of-text token; our BPE ends its vocabulary with it too
# tiktoken's spelling of GPT-2's pre-split (bpe.GPT2_SPLIT_PATTERN, r50k_base): possessive quantifiers and a
# separate "whitespace up to the end" branch make its Rust engine faster but cut text into the same chunks.
TIKTOKEN_GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
GPT2_RANKS_ENV = "NANOGPT_GPT2_RANKS"  # a local copy of GPT-2's ranks (r50k_base.tiktoken), for offline machines
GPT2_RANKS_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"  # tiktoken's own check


class TokenizerFilesMissing(FileNotFoundError):
    """A pretrained tokenizer's files are neither cached nor downloadable."""


def load_tiktoken_ranks(path: str | Path, sha256: str | None = None) -> dict[bytes, int]:
    """Read a `.tiktoken` file: one `base64(token bytes) rank` per line. With `sha256`, check the file first."""
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


def gpt2_encoding(ranks_file: str | Path) -> tiktoken.Encoding:
    """GPT-2's tiktoken encoding built from a local copy of its ranks (checked against tiktoken's hash)."""
    import tiktoken

    ranks = load_tiktoken_ranks(ranks_file, GPT2_RANKS_SHA256)
    return tiktoken.Encoding("gpt2", pat_str=TIKTOKEN_GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: len(ranks)})


@register
class TiktokenTokenizer(Tokenizer):
    """A `tiktoken.Encoding` (GPT-2's by default) behind our interface; saved by name only."""

    kind = "tiktoken"

    def __init__(self, encoding: tiktoken.Encoding) -> None:
        self.encoding = encoding
        self.eot_id = encoding.eot_token if EOT in encoding.special_tokens_set else None

    @property
    def name(self) -> str:
        """The encoding's name: "gpt2" for GPT-2's tokenizer."""
        return self.encoding.name

    @classmethod
    def named(cls, name: str = "gpt2", ranks_file: str | Path | None = None) -> TiktokenTokenizer:
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
    def from_dict(cls, d: dict) -> TiktokenTokenizer:
        return cls.named(d["name"])
