"""Data: find the corpus, encode it, split it, store it as token files, and cut (x, y) training windows.

text file → `load_text` → tokenizer.encode → `.bin` token files (`prepare`) → `Corpus` of memory-mapped
token files (`load_prepared`) → `get_batch`.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch

from .files import atomic_write, atomic_write_bytes, atomic_write_text
from .tokenizers import Tokenizer, get_tokenizer, load_tokenizer

TINY_SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
TINY_SHAKESPEARE_BYTES = 1_115_394
TINY_SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
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
    if path.is_dir():
        raise IsADirectoryError(f"data file {path} is a directory, not a file: name the text file inside it.\n"
                                f"{_how_to_provide()}")
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
    """Download `url` to `dest` atomically, checking the size when it is known."""
    dest.parent.mkdir(parents=True, exist_ok=True)

    def write(f) -> None:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            while chunk := response.read(1 << 16):
                f.write(chunk)
        if expected_bytes is not None and f.tell() != expected_bytes:
            raise OSError(f"downloaded {f.tell()} bytes from {url}, expected {expected_bytes}")

    return atomic_write(dest, write)


def text_path(path: str | Path | None = None, download_if_missing: bool = True) -> Path:
    """Which corpus file is meant: the explicit `path`, else `$NANOGPT_DATA`, else the cached (or downloaded)
    Tiny Shakespeare under `data/tinyshakespeare/input.txt`."""
    if path is not None:
        return Path(path).expanduser()
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV]).expanduser()
    cached = cached_corpus_path()
    if cached.is_file():
        return cached
    if download_if_missing:
        try:
            return download(TINY_SHAKESPEARE_URL, cached, TINY_SHAKESPEARE_BYTES)
        except OSError as e:
            raise FileNotFoundError(f"could not download Tiny Shakespeare ({e}).\n{_how_to_provide()}") from None
    raise FileNotFoundError(f"no corpus found.\n{_how_to_provide()}")


def load_text(path: str | Path | None = None, download_if_missing: bool = True) -> str:
    """Return the corpus text (Tiny Shakespeare unless a path or `$NANOGPT_DATA` names another file)."""
    return read_text_file(text_path(path, download_if_missing))


def text_source(path: str | Path, text: str) -> dict:
    """What a corpus was made from: its path, size and SHA-256 (recorded by `prepare`, checked on load)."""
    raw = text.encode("utf-8")
    return {"path": str(Path(path).resolve()), "bytes": len(raw), "chars": len(text),
            "sha256": hashlib.sha256(raw).hexdigest()}


def split_ids(ids: T, val_fraction: float = 0.1) -> tuple[T, T]:
    """First (1 - val_fraction) of the tokens for training, the rest for validation (no shuffling: text is
    sequential, and a contiguous held-out tail is the honest test)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    n = int(len(ids) * (1 - val_fraction))
    return ids[:n], ids[n:]


def get_batch(
    data: torch.Tensor | np.ndarray,
    batch_size: int,
    block_size: int,
    generator: torch.Generator | None = None,
    device: str | torch.device = "cpu",
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random windows of `block_size` tokens: x is a window, y is the same window shifted one token left.

    So y[b, t] is the token that follows x[b, : t + 1]: one window holds `block_size` training examples.
    `data` is a tensor of token ids, or a prepared corpus's memory-mapped token file (`load_prepared`).
    """
    if len(data) <= block_size:
        raise ValueError(
            f"block_size ({block_size}) must be smaller than the data ({len(data)} tokens); use a smaller "
            "block_size or more data"
        )
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)
    windows = gather_windows(data, starts, block_size + 1)  # one gather for the whole batch
    x, y = windows[:, :-1].contiguous(), windows[:, 1:].contiguous()  # contiguous: .view() works on them
    device = torch.device(device)
    if device.type == "cuda":  # pinned memory lets the copy overlap with compute
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.to(device), y.to(device)


def gather_windows(data: torch.Tensor | np.ndarray, starts: torch.Tensor, length: int) -> torch.Tensor:
    """`data[s : s + length]` for each start `s`, as one (len(starts), length) tensor.

    `data` may be a tensor, or a numpy array such as the memmap of a prepared corpus (uint16 or uint32 ids
    on disk): then only these windows are read, and they become int64, the dtype embeddings index with.
    """
    index = starts[:, None] + torch.arange(length)
    if isinstance(data, torch.Tensor):
        return data[index]
    return torch.from_numpy(data[index.numpy()].astype(np.int64))


class BatchSampler:
    """`get_batch` with its own seeded generator, whose state can be saved and restored (for exact resume)."""

    def __init__(self, data: torch.Tensor | np.ndarray, batch_size: int, block_size: int, seed: int,
                 device="cpu") -> None:
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
    """Encoded train/val token ids and the tokenizer that made them.

    The ids are int64 tensors when encoded here (`from_text`), and read-only numpy memmaps of the token
    files when loaded from a prepared folder (`load_prepared`): uint16 or uint32 ids that stay on disk.
    Both have `len`, slices and `.tolist()`, and `get_batch` and `evaluate_text_ids` take either.
    """

    train: torch.Tensor | np.ndarray
    val: torch.Tensor | np.ndarray
    tokenizer: Tokenizer
    source: dict | None = None  # the text it was made from (`text_source`), when known

    @classmethod
    def from_text(cls, text: str, tokenizer: Tokenizer | None = None, val_fraction: float = 0.1) -> Corpus:
        """Encode `text` (with a character tokenizer fitted on it unless one is given) and split it."""
        tokenizer = tokenizer or get_tokenizer("char", text)
        train, val = split_ids(torch.tensor(tokenizer.encode(text), dtype=torch.long), val_fraction)
        return cls(train, val, tokenizer)

    def describe(self) -> str:
        """One line for logs: which text, and how many tokens of each split.

        The text is named by its file name and hash, not its full path: logs (and notebook outputs) then read
        the same on every machine, and the hash is what tells two texts apart.
        """
        where = (f"{Path(self.source['path']).name} (sha256 {self.source['sha256'][:12]}…)" if self.source
                 else "in-memory text")
        return (f"data: {where}; {self.tokenizer.name} tokenizer, vocab {self.vocab_size:,}; "
                f"{len(self.train):,} train + {len(self.val):,} val tokens")

    def summary(self) -> dict:
        """What a run records about its data (config.json, checkpoints)."""
        return {"source": self.source, "tokenizer": self.tokenizer.name, "vocab_size": self.vocab_size,
                "train_tokens": len(self.train), "val_tokens": len(self.val)}

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
    """Encode the corpus into `data_dir/{train,val}.bin` plus `tokenizer.json` and `meta.json`; return meta.

    `meta.json` records the source text (path, size, SHA-256) so that a later run can tell whether the
    folder holds the text it asks for. It is written last: a folder without it is not prepared.
    """
    data_dir = Path(data_dir)
    path = text_path(input_path)
    text = read_text_file(path)
    if isinstance(tokenizer, str):
        tokenizer = get_tokenizer(tokenizer, text, data_dir=data_dir, **tokenizer_kwargs)
    ids = np.array(tokenizer.encode(text), dtype=token_dtype(tokenizer.vocab_size))
    train, val = split_ids(ids, val_fraction)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "meta.json").unlink(missing_ok=True)  # half-rewritten folders must not look prepared
    for name, part in (("train", train), ("val", val)):
        atomic_write_bytes(data_dir / f"{name}.bin", part.tobytes())
    tokenizer.save(data_dir / "tokenizer.json")
    source = text_source(path, text)
    meta = {
        "source": source,
        "corpus_chars": source["chars"],
        "corpus_bytes": source["bytes"],
        "tokenizer": tokenizer.name,
        "vocab_size": tokenizer.vocab_size,
        "dtype": ids.dtype.name,
        "train_tokens": len(train),
        "val_tokens": len(val),
        "val_chars": len(tokenizer.decode(val.tolist())),
    }
    atomic_write_text(data_dir / "meta.json", json.dumps(meta, indent=2))
    return meta


def load_prepared(data_dir: str | Path) -> Corpus:
    """Memory-map the token files that `prepare` wrote and return them as a `Corpus`.

    Nothing is read here: `corpus.train` and `corpus.val` are read-only numpy memmaps of the files, in
    their own dtype (`token_dtype`: uint16, or uint32 for vocabularies over 65,536), and `get_batch` reads
    only the windows it draws. So a corpus larger than RAM trains; the kernel caches the pages it reads.
    """
    data_dir = Path(data_dir)
    meta = read_meta(data_dir)
    if meta is None:
        raise FileNotFoundError(f"{data_dir} holds no prepared data (no meta.json); run `nanogpt prepare` first")
    # Opened once, not per batch as nanoGPT does "to avoid a memory leak": the pages a memmap has read count
    # in the process's RSS until it is closed, but they are clean file pages of the kernel's cache, which it
    # drops when memory runs short; the process's own memory (RssAnon) does not grow (benchmarks/RESULTS.md).
    splits = {name: np.memmap(data_dir / f"{name}.bin", dtype=meta["dtype"], mode="r") for name in ("train", "val")}
    return Corpus(splits["train"], splits["val"], load_tokenizer(data_dir / "tokenizer.json"), meta.get("source"))


def read_meta(data_dir: Path) -> dict | None:
    """A prepared folder's `meta.json`, or None when the folder is not prepared."""
    path = Path(data_dir) / "meta.json"
    return json.loads(path.read_text()) if path.is_file() else None


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a text file's bytes: the identity of a corpus that `prepare` records."""
    return hashlib.sha256(read_text_file(path).encode("utf-8")).hexdigest()


def default_data_dir(tokenizer: str = "char", sha256: str | None = None, name: str = "corpus") -> Path:
    """`data/shakespeare_<tokenizer>` for Tiny Shakespeare; any other text gets its own folder, keyed by its
    file name and hash (`data/<name>-<sha256[:8]>_<tokenizer>`), so two corpora never share token files."""
    if sha256 is None or sha256 == TINY_SHAKESPEARE_SHA256:
        return data_root() / f"shakespeare_{tokenizer}"
    return data_root() / f"{name}-{sha256[:8]}_{tokenizer}"


def load_corpus(data_dir: str | Path | None = None, tokenizer: str = "char", input_path: str | Path | None = None,
                **tokenizer_kwargs) -> Corpus:
    """Load prepared token files, preparing them first when they are missing or were made from other text.

    Without `data_dir`, the text asked for (`input_path`, else `$NANOGPT_DATA`, else Tiny Shakespeare) picks
    the folder: `data/shakespeare_<tokenizer>` for Tiny Shakespeare, a folder keyed by name and hash for
    any other text, and a folder made from a different text before is prepared again. A `data_dir` named
    explicitly is used as it is (its meta.json says what it holds), but refused when `input_path` names
    another text: training never runs on other data than the text asked for, silently.
    """
    if data_dir:
        data_dir = Path(data_dir)
        meta = read_meta(data_dir)
        recorded = ((meta or {}).get("source") or {}).get("sha256")
        if meta is not None and input_path is not None and recorded != file_sha256(input_path):
            made_from = (meta.get("source") or {}).get("path", "an unrecorded text")
            raise ValueError(
                f"{data_dir} was prepared from {made_from}, not from {input_path}; use another data_dir, or run "
                f"`nanogpt prepare --input {input_path} --data-dir {data_dir}` to replace it"
            )
    else:
        requested = input_path or os.environ.get(DATA_ENV) or None
        sha = file_sha256(requested) if requested else None
        data_dir = default_data_dir(tokenizer, sha, Path(requested or "corpus").stem)
        meta = read_meta(data_dir)
        recorded = ((meta or {}).get("source") or {}).get("sha256")
        if meta is not None and sha is not None and recorded != sha:
            meta = None  # made from another text before (an older version did not record it): prepare again
    if meta is None:
        prepare(data_dir, input_path, tokenizer=tokenizer, **tokenizer_kwargs)
        meta = read_meta(data_dir)
    wanted = tokenizer_kwargs.get("vocab_size")
    if wanted and meta["vocab_size"] != wanted:  # an old preparation must not silently win over the request
        raise ValueError(
            f"{data_dir} was prepared with a {meta['tokenizer']} vocabulary of {meta['vocab_size']}, but "
            f"vocab_size {wanted} was asked for; choose another data_dir or delete {data_dir} to re-prepare"
        )
    return load_prepared(data_dir)
