"""Corpus resolution, tokenizer, splits, batches and prepared token files."""

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import nanogpt_lib.data as data
from nanogpt_lib import (
    BatchSampler,
    CharTokenizer,
    Corpus,
    get_batch,
    get_config,
    load_prepared,
    load_text,
    prepare,
    split_ids,
    train,
)
from nanogpt_lib.tokenizers import load_tokenizer


def test_corpus_is_tiny_shakespeare(text):
    assert len(text) == data.TINY_SHAKESPEARE_BYTES
    assert CharTokenizer.from_text(text).vocab_size == 65


@pytest.fixture
def no_local_corpus(tmp_path, monkeypatch):
    """Nothing on disk, no NANOGPT_DATA, and a cache location inside tmp_path."""
    monkeypatch.delenv(data.DATA_ENV, raising=False)
    cache = tmp_path / "cache" / "input.txt"
    monkeypatch.setattr(data, "cached_corpus_path", lambda: cache)
    return cache


def test_resolution_order(tmp_path, monkeypatch, no_local_corpus):
    explicit, env = tmp_path / "a.txt", tmp_path / "b.txt"
    explicit.write_text("explicit")
    env.write_text("environment")
    no_local_corpus.parent.mkdir(parents=True)
    no_local_corpus.write_text("cached")
    monkeypatch.setenv(data.DATA_ENV, str(env))
    assert load_text(explicit) == "explicit"
    assert load_text() == "environment"
    monkeypatch.delenv(data.DATA_ENV)
    assert load_text() == "cached"


def test_offline_error_lists_the_three_ways(no_local_corpus, monkeypatch):
    def offline(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(data.urllib.request, "urlopen", offline)
    with pytest.raises(FileNotFoundError) as e:
        load_text()
    msg = str(e.value)
    assert "network unreachable" in msg and "NANOGPT_DATA" in msg and "pass a path" in msg
    assert str(no_local_corpus) in msg
    assert not list(no_local_corpus.parent.glob("*"))  # nothing half-written


class FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def test_download_checks_size_and_writes_atomically(no_local_corpus, monkeypatch):
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(b"short"))
    with pytest.raises(FileNotFoundError, match="downloaded 5 bytes"):
        load_text()
    assert not list(no_local_corpus.parent.glob("*"))
    body = b"x" * data.TINY_SHAKESPEARE_BYTES
    monkeypatch.setattr(data.urllib.request, "urlopen", lambda url, timeout: FakeResponse(body))
    assert len(load_text()) == data.TINY_SHAKESPEARE_BYTES
    assert [p.name for p in no_local_corpus.parent.iterdir()] == ["input.txt"]


@pytest.mark.parametrize(
    "content, message", [(None, "does not exist"), (b"", "is empty"), (b"ab\x00\x01cd", "looks binary"),
                         (b"\xff\xfe\xfa", "not UTF-8")]
)
def test_bad_data_files(tmp_path, content, message):
    path = tmp_path / "corpus.txt"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises((FileNotFoundError, ValueError), match=message) as e:
        load_text(path)
    assert str(path) in str(e.value) and "NANOGPT_DATA" in str(e.value)


def test_char_tokenizer_roundtrip_and_save(tmp_path, text):
    tok = CharTokenizer.from_text(text)
    sample = text[:1000]
    assert tok.decode(tok.encode(sample)) == sample
    assert tok.encode("a") == [tok.chars.index("a")]
    loaded = load_tokenizer(tok.save(tmp_path / "tok.json"))
    assert isinstance(loaded, CharTokenizer) and loaded.encode(sample) == tok.encode(sample)


def test_unknown_characters_are_named(text):
    tok = CharTokenizer.from_text(text)
    with pytest.raises(ValueError, match="'é', '€'"):
        tok.encode("café costs 3€")


def test_split_is_ninety_ten():
    train, val = split_ids(torch.arange(1000))
    assert len(train) == 900 and len(val) == 100 and val[0] == 900


def test_get_batch_targets_are_shifted_inputs():
    data_ = torch.arange(100)
    x, y = get_batch(data_, batch_size=4, block_size=8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8)
    assert torch.equal(y, x + 1)  # data is 0..99, so "the next token" is +1
    assert x.is_contiguous() and y.is_contiguous()  # so students can call .view(-1) on them


def test_get_batch_is_reproducible_and_checks_length():
    d = torch.arange(1000)
    a = get_batch(d, 4, 8, torch.Generator().manual_seed(3))
    b = get_batch(d, 4, 8, torch.Generator().manual_seed(3))
    assert all(torch.equal(p, q) for p, q in zip(a, b))
    with pytest.raises(ValueError, match="block_size \\(10\\) must be smaller than the data \\(10 tokens\\)"):
        get_batch(torch.arange(10), 2, 10)


def test_batch_sampler_state_roundtrip():
    s = BatchSampler(torch.arange(500), 4, 8, seed=1)
    s()
    state = s.state_dict()
    expected = s()
    s2 = BatchSampler(torch.arange(500), 4, 8, seed=99)
    s2.load_state_dict(state)
    assert torch.equal(s2()[0], expected[0])


def test_prepare_writes_memmappable_uint16(tmp_path, text):
    meta = prepare(tmp_path / "prep")
    assert meta["vocab_size"] == 65 and meta["dtype"] == "uint16"
    assert meta["train_tokens"] + meta["val_tokens"] == len(text)
    assert json.loads((tmp_path / "prep" / "meta.json").read_text()) == meta
    raw = np.memmap(tmp_path / "prep" / "val.bin", dtype=np.uint16, mode="r")
    corpus = load_prepared(tmp_path / "prep")
    tok = CharTokenizer.from_text(text)
    assert corpus.tokenizer.decode(raw[:50].tolist()) == text[meta["train_tokens"] :][:50]
    assert corpus.train[:100].tolist() == tok.encode(text[:100])


def test_load_prepared_without_files_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="nanogpt prepare"):
        load_prepared(tmp_path)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory, text):
    """Tiny Shakespeare's first 60k characters, prepared into token files."""
    folder = tmp_path_factory.mktemp("prepared")
    (folder / "input.txt").write_text(text[:60_000])
    prepare(folder / "data", folder / "input.txt")
    return folder / "data"


def as_tensor(ids: np.ndarray) -> torch.Tensor:
    """The whole split in RAM as int64: what `load_prepared` returned before it kept the memmap."""
    return torch.from_numpy(np.array(ids, dtype=np.int64))


def test_prepared_corpus_stays_a_memmap_of_the_file_dtype(prepared):
    corpus = load_prepared(prepared)
    for name, ids in (("train", corpus.train), ("val", corpus.val)):
        assert isinstance(ids, np.memmap) and ids.dtype == np.uint16, "not copied into RAM as int64"
        assert Path(ids.filename) == (prepared / f"{name}.bin").resolve() and not ids.flags.writeable
    meta = json.loads((prepared / "meta.json").read_text())
    assert (len(corpus.train), len(corpus.val)) == (meta["train_tokens"], meta["val_tokens"])
    assert f"{meta['train_tokens']:,} train" in corpus.describe()
    assert corpus.summary()["train_tokens"] == meta["train_tokens"]


def test_batches_from_the_memmap_equal_batches_from_a_tensor(prepared):
    """The same seed draws the same windows from the file as from the ids in RAM (the old `load_prepared`),
    as int64 tensors; so loss curves and resumed runs do not change."""
    corpus = load_prepared(prepared)
    on_disk, in_ram = BatchSampler(corpus.train, 8, 32, seed=5), BatchSampler(as_tensor(corpus.train), 8, 32, seed=5)
    for _ in range(4):
        (x, y), (x_ram, y_ram) = on_disk(), in_ram()
        assert x.dtype == y.dtype == torch.int64 and x.is_contiguous() and y.is_contiguous()
        assert torch.equal(x, x_ram) and torch.equal(y, y_ram) and torch.equal(x[:, 1:], y[:, :-1])
    state = on_disk.state_dict()
    expected = on_disk()
    on_disk.load_state_dict(state)
    assert all(torch.equal(a, b) for a, b in zip(on_disk(), expected))
    g, g_ram = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    from_val, from_val_ram = get_batch(corpus.val, 3, 16, g), get_batch(as_tensor(corpus.val), 3, 16, g_ram)
    assert all(torch.equal(a, b) for a, b in zip(from_val, from_val_ram))
    with pytest.raises(ValueError, match="must be smaller than the data"):
        get_batch(corpus.val, 2, len(corpus.val))


def test_large_vocabularies_are_stored_and_read_as_uint32(tmp_path):
    """Over 65,536 ids do not fit uint16: the file is uint32, and batches still come back as int64."""
    chars = "".join(chr(0xE000 + i) for i in range(70_000))  # past the surrogates: every one is valid UTF-8
    (tmp_path / "input.txt").write_text(chars * 2, encoding="utf-8")
    meta = prepare(tmp_path / "data", tmp_path / "input.txt")
    assert meta["vocab_size"] == 70_000 and meta["dtype"] == "uint32"
    corpus = load_prepared(tmp_path / "data")
    assert corpus.train.dtype == np.uint32 and corpus.train[-1] == 69_999 - 14_000 and corpus.val[-1] == 69_999
    x, y = get_batch(corpus.train, 64, 100, torch.Generator().manual_seed(0))
    assert x.dtype == torch.int64 and int(x.max()) > 65_535 and torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal((y - x) % 70_000, torch.ones_like(x))  # this text: each id is the one before + 1


@pytest.mark.skipif(not Path("/proc/self/statm").exists(), reason="reads this process's RSS from /proc (Linux)")
def test_a_large_prepared_corpus_is_not_read_into_memory(tmp_path):
    """A 256 MiB token file (sparse: it takes no disk space) loads and gives batches without growing the
    process by its size; the old `load_prepared` made a 1 GiB int64 copy of it."""
    folder = tmp_path / "big"
    folder.mkdir()
    tokens = 128 << 20
    for name, n in (("train", tokens), ("val", 1 << 20)):
        with open(folder / f"{name}.bin", "wb") as f:
            f.truncate(2 * n)
    CharTokenizer("ab").save(folder / "tokenizer.json")
    (folder / "meta.json").write_text(json.dumps({"dtype": "uint16", "vocab_size": 2, "tokenizer": "char"}))

    def rss() -> int:
        return int(Path("/proc/self/statm").read_text().split()[1]) * 4096  # resident pages (4 KiB here)

    before = rss()
    corpus = load_prepared(folder)
    for _ in range(10):
        x, _ = get_batch(corpus.train, 64, 256, torch.Generator().manual_seed(0))
    grown = rss() - before
    assert len(corpus.train) == tokens and int(x.sum()) == 0 and x.shape == (64, 256)
    assert grown < 64 << 20, f"loading and 10 batches grew the process by {grown / 2**20:.0f} MiB"


def test_exact_resume_on_a_prepared_corpus(prepared, tmp_path):
    """Training on the memmap is the same run as on the ids in RAM, and stopping half way and resuming it
    ends with the same weights (the batch generator's state is saved with the checkpoint)."""
    corpus = load_prepared(prepared)
    in_ram = Corpus(as_tensor(corpus.train), as_tensor(corpus.val), corpus.tokenizer, corpus.source)
    full = get_config("tiny", max_iters=8, lr_decay_iters=8, eval_interval=4, eval_iters=2, dropout=0.1)
    half = dataclasses.replace(full, max_iters=4)
    straight = train(full, corpus, out_dir=tmp_path / "straight", progress=False, verbose=False)
    ram = train(full, in_ram, progress=False, verbose=False)
    train(half, corpus, out_dir=tmp_path / "resumed", progress=False, verbose=False)
    resumed = train(full, load_prepared(prepared), out_dir=tmp_path / "resumed", resume=True, progress=False,
                    verbose=False)
    assert straight.history.train_loss == ram.history.train_loss == resumed.history.train_loss
    for a, b, c in zip(straight.model.parameters(), ram.model.parameters(), resumed.model.parameters()):
        assert torch.equal(a, b) and torch.equal(a, c)
