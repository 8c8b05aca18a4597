"""Tokenizers: round trips, BPE training against the naive algorithm, fast == slow encoding, save/load,
the tiktoken wrapper and its offline error, SentencePiece, and `prepare` with every trainable tokenizer."""

import json
import os

import numpy as np
import pytest

from nanogpt_lib.data import load_prepared, load_text, prepare
from nanogpt_lib.tokenizers import (
    BPETokenizer,
    CharTokenizer,
    SentencePieceTokenizer,
    TiktokenTokenizer,
    TokenizerFilesMissing,
    best_pair,
    get_tokenizer,
    load_tokenizer,
    merge_pair,
    pair_counts,
    _split_regex,
)

PARAGRAPH = (
    "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n\n"
    "First Citizen:\nYou are all resolved rather to die than to famish? Don't they? It's 1,234 years.\n"
    "Ünïcödé wörds: naïve café — “quotes” 🎭\n"
)


def have_corpus() -> bool:
    try:
        load_text(download_if_missing=False)
        return True
    except FileNotFoundError:
        return False


needs_corpus = pytest.mark.skipif(not have_corpus(), reason="Tiny Shakespeare not available (set NANOGPT_DATA)")


@pytest.fixture(scope="module")
def corpus() -> str:
    return load_text(download_if_missing=False)


@pytest.fixture(scope="module")
def bpe_corpus(corpus) -> BPETokenizer:
    return BPETokenizer.train(corpus, 768)


def naive_merges(text: str, num_merges: int) -> list:
    """BPE the slow, obvious way: recount every pair of every chunk after every merge."""
    words = [list(c.encode("utf-8")) for c in _split_regex().findall(text)]
    merges = []
    for i in range(num_merges):
        stats = pair_counts(words)
        if not stats:
            break
        pair = best_pair(stats)
        merges.append(pair)
        words = [merge_pair(w, pair, 256 + i) for w in words]
    return merges


def test_merge_pair():
    assert merge_pair([1, 2, 2, 2, 3, 1, 2], (2, 2), 9) == [1, 9, 2, 3, 1, 2]
    assert merge_pair([5], (5, 5), 9) == [5]


def test_incremental_training_matches_naive():
    tok = BPETokenizer.train(PARAGRAPH, 257 + 60)
    assert tok.merges == naive_merges(PARAGRAPH, 60)
    assert len(tok.merges) == 60 and tok.vocab_size == 256 + 60 + 1


def test_training_stops_when_no_pairs_are_left():
    tok = BPETokenizer.train("ab ab", 1000)
    assert tok.merges == naive_merges("ab ab", 1000)
    assert tok.vocab_size < 1000


def test_bpe_round_trip_and_fast_equals_slow():
    tok = BPETokenizer.train(PARAGRAPH, 400)
    for text in (PARAGRAPH, "unseen words: zebra, 42!\t\n  ", "", "<|endoftext|> stays text", "日本語"):
        fast, slow = tok.encode(text), tok.encode_slow(text)
        assert fast == slow
        assert tok.decode(fast) == text
    assert tok.eot_id not in tok.encode("<|endoftext|>")
    assert tok.decode([tok.eot_id]) == "<|endoftext|>"


def test_bpe_rejects_bad_sizes():
    with pytest.raises(ValueError, match="at least 257"):
        BPETokenizer.train(PARAGRAPH, 100)
    with pytest.raises(ValueError, match="empty"):
        BPETokenizer.train("", 300)


@needs_corpus
def test_bpe_on_the_corpus(corpus, bpe_corpus):
    ids = bpe_corpus.encode(corpus)
    assert ids == bpe_corpus.encode_slow(corpus)
    assert bpe_corpus.decode(ids) == corpus
    assert len(corpus.encode()) / len(ids) > 2.0  # merges must actually compress
    assert max(ids) < bpe_corpus.vocab_size


def test_bpe_save_load(tmp_path):
    tok = BPETokenizer.train(PARAGRAPH, 320)
    loaded = load_tokenizer(tok.save(tmp_path / "t.json"))
    assert isinstance(loaded, BPETokenizer)
    assert loaded.merges == tok.merges and loaded.encode(PARAGRAPH) == tok.encode(PARAGRAPH)
    assert json.loads((tmp_path / "t.json").read_text())["kind"] == "bpe"


def test_tiktoken_wrapper_with_our_bpe(tmp_path):
    bpe = BPETokenizer.train(PARAGRAPH, 300)
    tok = TiktokenTokenizer(bpe.to_tiktoken())
    assert tok.encode(PARAGRAPH) == bpe.encode_slow(PARAGRAPH)
    assert tok.decode(tok.encode(PARAGRAPH)) == PARAGRAPH
    assert tok.vocab_size == bpe.vocab_size and tok.eot_id == bpe.eot_id
    assert tok.to_dict() == {"name": tok.encoding.name}


def test_gpt2_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    import tiktoken.load
    import tiktoken.registry

    def no_network(url):
        raise ConnectionError(f"no network for {url}")  # what requests raises offline (an OSError)

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))  # empty: nothing cached
    monkeypatch.setattr(tiktoken.load, "read_file", no_network)
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})  # forget an encoding loaded earlier in-process
    with pytest.raises(TokenizerFilesMissing, match="TIKTOKEN_CACHE_DIR"):
        get_tokenizer("gpt2")
    assert issubclass(TokenizerFilesMissing, FileNotFoundError)  # the CLI reports it as a one-line error


def test_sentencepiece_round_trip_and_save(tmp_path):
    text = PARAGRAPH * 20
    tok = get_tokenizer("sentencepiece", text, data_dir=tmp_path, vocab_size=400)
    assert isinstance(tok, SentencePieceTokenizer) and tok.vocab_size == 400
    for t in (PARAGRAPH, "  two  spaces\n\nand a new line", "unseen: ZQX ✓"):
        assert tok.decode(tok.encode(t)) == t
    assert (tmp_path / "sentencepiece.model").read_bytes() == tok.model_proto
    loaded = load_tokenizer(tok.save(tmp_path / "tokenizer.json"))
    assert loaded.encode(PARAGRAPH) == tok.encode(PARAGRAPH)
    with pytest.raises(ValueError, match="larger vocab_size"):
        get_tokenizer("sentencepiece", text, vocab_size=270)


def test_get_tokenizer_names():
    assert isinstance(get_tokenizer("char", PARAGRAPH, data_dir="/nonexistent", vocab_size=None), CharTokenizer)
    assert get_tokenizer("bpe", PARAGRAPH, vocab_size=300).vocab_size == 300
    with pytest.raises(ValueError, match="unknown tokenizer"):
        get_tokenizer("wordpiece", PARAGRAPH)
    with pytest.raises(ValueError, match="text="):
        get_tokenizer("bpe")


@pytest.mark.parametrize("name", ["bpe", "sentencepiece"])
def test_prepare_with_trainable_tokenizers(tmp_path, name):
    src = tmp_path / "input.txt"
    src.write_text(PARAGRAPH * 30)
    meta = prepare(tmp_path / "data", src, name, vocab_size=320)
    assert meta["tokenizer"] == name and meta["vocab_size"] == 320 and meta["dtype"] == "uint16"
    corpus = load_prepared(tmp_path / "data")
    ids = np.concatenate([corpus.train.numpy(), corpus.val.numpy()])
    assert corpus.tokenizer.decode(ids.tolist()) == PARAGRAPH * 30
    assert os.path.getsize(tmp_path / "data" / "train.bin") == 2 * meta["train_tokens"]


def test_load_corpus_refuses_a_different_vocab_size(tmp_path, monkeypatch):
    from nanogpt_lib.data import load_corpus

    src = tmp_path / "input.txt"
    src.write_text(PARAGRAPH * 30)
    monkeypatch.setenv("NANOGPT_DATA", str(src))
    assert load_corpus(tmp_path / "d", "bpe", vocab_size=300).vocab_size == 300
    with pytest.raises(ValueError, match="vocab_size 320 was asked"):
        load_corpus(tmp_path / "d", "bpe", vocab_size=320)
