"""Data: find the corpus, encode it, split it, store it as token files, and cut (x, y) training windows.

text file → `load_text` → tokenizer.encode → `.bin` token files (`prepare`) → `Corpus` → `get_batch`.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .tokenizers import Tokenizer, get_tokenizer, load_tokenizer

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_BYTES = 1_115_394
DATA_ENV = "NANOGPT_DATA"
T = TypeVar("T", torch.Tensor, np.ndarray)


def project_root() -> Path:
    """The checkout this package lives in, or `~/.cache/nanogpt` when installed as a plain package."""
    root = Path(__file__).resolve().parents[1]
    if (root / "pyproject.toml").is_file():
        return root
    return Path(os.environ.get("NANOGPT_HOME", Path.home() / ".cache" / "nanogpt"))


def data_root() -> Path:
    """Where downloaded corpora and prepared token files live (git-ignored)."""
    return project_root() / "data"


def cached_corpus_path() -> Path:
    return data_root() / "tinyshakespeare" / "input.txt"


def _how_to_provide() -> str:
    return (
        "Provide Tiny Shakespeare in one of three ways:\n"
        "  1. pass a path: load_text('path/to/input.txt') or `nanogpt prepare --input path/to/input.txt`\n"
        f"  2. set the environment variable {DATA_ENV}=/path/to/input.txt\n"
        f"  3. put the file at {cached_corpus_path()} (or go online: it is downloaded there from\n"
        f"     {TINY_SHAKESPEARE_URL})"
    )


def read_text_file(path: str | Path) -> str:
    """Read a UTF-8 corpus, refusing missing, empty and binary files with a message that says what to do."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"data file {path} does not exist.\n{_how_to_provide()}")
    raw = path.read_bytes()
    if not raw.strip():
        raise ValueError(f"data file {path} is empty.\n{_how_to_provide()}")
    if b"\x00" in raw:
        raise ValueError(f"data file {path} looks binary (it contains NUL bytes), not text.\n{_how_to_provide()}")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"data file {path} is not UTF-8 text ({e}).\n{_how_to_provide()}") from None


def download(url: str, dest: Path, expected_bytes: int | None = None, timeout: float = 30.0) -> Path:
    """Download `url` to `dest` atomically (temp file + rename), checking the size when it is known."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name, suffix=".part")
    try:
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                f.write(chunk)
        size = os.path.getsize(tmp)
        if expected_bytes is not None and size != expected_bytes:
            raise OSError(f"downloaded {size} bytes from {url}, expected {expected_bytes}")
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return dest


def load_text(path: str | Path | None = None, download_if_missing: bool = True) -> str:
    """Return the Tiny Shakespeare text.

    Looks in order at: the explicit `path`, the `NANOGPT_DATA` environment variable, the cached copy
    under `data/tinyshakespeare/input.txt`, and finally downloads the char-rnn `input.txt` into that cache.
    """
    if path is not None:
        return read_text_file(path)
    if os.environ.get(DATA_ENV):
        return read_text_file(os.environ[DATA_ENV])
    cached = cached_corpus_path()
    if cached.is_file():
        return read_text_file(cached)
    if download_if_missing:
        try:
            download(TINY_SHAKESPEARE_URL, cached, TINY_SHAKESPEARE_BYTES)
            return read_text_file(cached)
        except OSError as e:
            raise FileNotFoundError(f"could not download Tiny Shakespeare ({e}).\n{_how_to_provide()}") from None
    raise FileNotFoundError(f"no corpus found.\n{_how_to_provide()}")


def split_ids(ids: T, val_fraction: float = 0.1) -> tuple[T, T]:
    """First (1 - val_fraction) of the tokens for training, the rest for validation (no shuffling: text is
    sequential, and a contiguous held-out tail is the honest test)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def get_batch(
    data: torch.Tensor,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of `block_size` tokens: x is a window, y is the same window shifted one token left.

    So y[b, t] is the token that follows x[b, : t + 1]: one window holds `block_size` training examples.
    """
    if len(data) <= block_size:
        raise ValueError(
            f"block_size ({block_size}) must be smaller than the data ({len(data)} tokens); use a smaller "
            "block_size or more data"
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    windows = data[starts[:, None] + torch.arange(block_size + 1)]  # one gather for the whole batch
    x, y = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()  # contiguous: .view() works on them
    device = torch.device(device)
    if device.type == "cuda":  # pinned memory lets the copy overlap with compute
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


class BatchSampler:
    """`get_batch` with its own seeded generator, whose state can be saved and restored (for exact resume)."""

    def __init__(self, data: torch.Tensor, batch_size: int, block_size: int, seed: int, device="cpu") -> None:
        self.data, self.batch_size, self.block_size, self.device = data, batch_size, block_size, device
        self.generator = torch.Generator().manual_seed(seed)

    def __call__(self) -> tuple[torch.Tensor, torch.Tensor]:
        return get_batch(self.data, self.batch_size, self.block_size, self.generator, self.device)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])


@dataclass
class Corpus:
    """Encoded train/val token ids (int64 tensors) and the tokenizer that made them."""

    train: torch.Tensor
    val: torch.Tensor
    tokenizer: Tokenizer

    @classmethod
    def from_text(cls, text: str, tokenizer: Tokenizer | None = None, val_fraction: float = 0.1) -> "Corpus":
        """Encode `text` (with a character tokenizer fitted on it unless one is given) and split it."""
        tokenizer = tokenizer or get_tokenizer("char", text)
        train, val = split_ids(torch.tensor(tokenizer.encode(text), dtype=torch.long), val_fraction)
        return cls(train, val, tokenizer)

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 holds ids below 65536 (every char vocabulary and GPT-2's 50257); larger ones need uint32."""
    return np.dtype(np.uint16 if vocab_size <= 1 << 16 else np.uint32)


def prepare(
    data_dir: str | Path,
    input_path: str | Path | None = None,
    tokenizer: str | Tokenizer = "char",
    val_fraction: float = 0.1,
    **tokenizer_kwargs,
) -> dict:
    """Encode the corpus into `data_dir/{train,val}.bin` plus `tokenizer.json` and `meta.json`; return meta."""
    data_dir = Path(data_dir)
    text = load_text(input_path)
    if isinstance(tokenizer, str):
        tokenizer = get_tokenizer(tokenizer, text, data_dir=data_dir, **tokenizer_kwargs)
    ids = np.array(tokenizer.encode(text), dtype=token_dtype(tokenizer.vocab_size))
    train, val = split_ids(ids, val_fraction)
    data_dir.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", train), ("val", val)):
        _atomic_write_bytes(data_dir / f"{name}.bin", part.tobytes())
    tokenizer.save(data_dir / "tokenizer.json")
    meta = {
        "corpus_chars": len(text),
        "corpus_bytes": len(text.encode("utf-8")),
        "tokenizer": tokenizer.kind,
        "vocab_size": tokenizer.vocab_size,
        "dtype": ids.dtype.name,
        "train_tokens": len(train),
        "val_tokens": len(val),
        "val_chars": len(tokenizer.decode(val.tolist())),
    }
    (data_dir / "meta.json").write_text(json.dumps(meta, indent=2))
    return meta


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def load_prepared(data_dir: str | Path) -> Corpus:
    """Memory-map the token files that `prepare` wrote and return them as a `Corpus`."""
    data_dir = Path(data_dir)
    meta_path = data_dir / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"{data_dir} holds no prepared data (no meta.json); run `nanogpt prepare` first")
    meta = json.loads(meta_path.read_text())
    splits = {}
    for name in ("train", "val"):
        mm = np.memmap(data_dir / f"{name}.bin", dtype=meta["dtype"], mode="r")
        splits[name] = torch.from_numpy(mm.astype(np.int64))  # one copy into RAM; batches index it directly
    return Corpus(splits["train"], splits["val"], load_tokenizer(data_dir / "tokenizer.json"))


def default_data_dir(tokenizer: str = "char") -> Path:
    return data_root() / f"shakespeare_{tokenizer}"


def load_corpus(data_dir: str | Path | None = None, tokenizer: str = "char", **tokenizer_kwargs) -> Corpus:
    """Load prepared token files, preparing them from `load_text()` first if they are not there yet."""
    data_dir = Path(data_dir) if data_dir else default_data_dir(tokenizer)
    if not (data_dir / "meta.json").is_file():
        prepare(data_dir, tokenizer=tokenizer, **tokenizer_kwargs)
    wanted = tokenizer_kwargs.get("vocab_size")
    meta = json.loads((data_dir / "meta.json").read_text())
    if wanted and meta["vocab_size"] != wanted:  # an old preparation must not silently win over the request
        raise ValueError(
            f"{data_dir} was prepared with a {meta['tokenizer']} vocabulary of {meta['vocab_size']}, but "
            f"vocab_size {wanted} was asked for; choose another data_dir or delete {data_dir} to re-prepare"
        )
    return load_prepared(data_dir)
