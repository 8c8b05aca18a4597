"""Corpus resolution, tokenizer, splits, batches and prepared token files."""

import io
import json

import numpy as np
import pytest
import torch

import nanogpt_lib.data as data
from nanogpt_lib import BatchSampler, CharTokenizer, get_batch, load_prepared, load_text, prepare, split_ids
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
    assert torch.equal(corpus.train[:100], torch.tensor(tok.encode(text[:100])))


def test_load_prepared_without_files_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="nanogpt prepare"):
        load_prepared(tmp_path)
