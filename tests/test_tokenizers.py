"""Tokenizers: round trips, BPE training against the naive algorithm, fast == slow encoding, save/load,
the tiktoken wrapper and its offline error, GPT-2's ranks from a local file and recovered as merges (our
pure-Python BPE against tiktoken), SentencePiece, `prepare` with every trainable tokenizer, every registered
kind saved and loaded, `name` (what get_tokenizer was given, and what logs show), the package's exports."""

import ast
import importlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

import nanogpt_lib.tokenizers as tokenizers_package
from nanogpt_lib.chat import ChatTokenizer
from nanogpt_lib.data import Corpus, load_prepared, load_text, prepare
from nanogpt_lib.tokenizers import (
    GPT2_RANKS_ENV,
    TOKENIZER_TYPES,
    BPETokenizer,
    CharTokenizer,
    SentencePieceTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    TokenizerFilesMissing,
    best_pair,
    get_tokenizer,
    load_tokenizer,
    merge_pair,
    pair_counts,
    tokenizer_from_dict,
)
from nanogpt_lib.tokenizers.bpe import _split_regex

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


def gpt2_ranks_file() -> Path | None:
    """GPT-2's ranks: $NANOGPT_GPT2_RANKS, else the shared copy beside the checkout (where .ci/run looks)."""
    candidates = [os.environ.get(GPT2_RANKS_ENV), Path(__file__).resolve().parents[2] / "shared/data/gpt2.tiktoken"]
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


needs_gpt2_ranks = pytest.mark.skipif(gpt2_ranks_file() is None,
                                      reason=f"GPT-2's ranks file not available (set {GPT2_RANKS_ENV})")
# Unicode, emoji (with joiners and skin tones), every kind of whitespace run, contractions, digits, edge positions
EDGE_CASES = [
    "", " ", "\n", "  \n  \n", "\r\n\r\n", "\t\tx", "trailing   ", "trailing\n", "a\n\nb", "a  \t b",
    "x \u00a0 y", "\u3000全角スペース", "naïve café 🎭👩‍👩‍👧‍👦 👍🏽", "I'm you'RE it's they'll we've 'tis",
    "123456789 3.14 1,234", "Ünïcödé wörds — “quotes” «guillemets»", "e\u0301 combining", "🎭" * 5,
    "ok?!?! ... ---", "zalgo t̸̢e̴x̷t", "\x00\x01\x7f", "<|endoftext|> is plain text here", "日本語のテキスト",
    "مرحبا بالعالم", "Ελληνικά", "  leading spaces", "tabs\tin\tthe\tmiddle",
]


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


def test_from_tiktoken_recovers_our_own_merges():
    bpe = BPETokenizer.train(PARAGRAPH, 400)
    recovered = BPETokenizer.from_tiktoken(bpe.to_tiktoken())
    assert recovered.merges == bpe.merges and recovered.byte_order == list(range(256))


def test_from_tiktoken_recovers_a_permuted_byte_order(tmp_path):
    """Like GPT-2: the single bytes are ranks 0-255, but not in byte order."""
    import tiktoken

    bpe = BPETokenizer.train(PARAGRAPH * 3, 360)
    order = sorted(range(256), key=lambda b: (not chr(b).isprintable(), -b))  # printable first, reversed
    ranks = {bytes([b]): i for i, b in enumerate(order)}
    for token in bpe.vocab[256:]:
        ranks[token] = len(ranks)
    encoding = tiktoken.Encoding("permuted", pat_str=bpe.to_tiktoken()._pat_str, mergeable_ranks=ranks,
                                 special_tokens={})
    tok = BPETokenizer.from_tiktoken(ranks)
    assert tok.byte_order == order and len(tok.merges) == len(bpe.merges)
    for text in [PARAGRAPH, *EDGE_CASES]:
        assert tok.encode_slow(text) == encoding.encode_ordinary(text) == tok.encode(text), repr(text)
        assert tok.decode(tok.encode_slow(text)) == text
    loaded = load_tokenizer(tok.save(tmp_path / "t.json"))
    assert loaded.byte_order == order and loaded.encode_slow(PARAGRAPH) == tok.encode_slow(PARAGRAPH)


def test_from_tiktoken_refuses_ranks_that_are_not_bpe():
    singles = {bytes([b]): b for b in range(256)}
    with pytest.raises(ValueError, match="without gaps"):
        BPETokenizer.from_tiktoken({**singles, b"ab": 300})
    with pytest.raises(ValueError, match="single bytes"):
        BPETokenizer.from_tiktoken({**{bytes([b]): b for b in range(255)}, b"ab": 255})
    with pytest.raises(ValueError, match="not the merge of two earlier tokens"):
        BPETokenizer.from_tiktoken({**singles, b"abc": 256})
    with pytest.raises(ValueError, match="each of the 256 byte values"):
        BPETokenizer([], byte_order=[0] * 256)


@pytest.fixture(scope="module")
def gpt2():
    return get_tokenizer("gpt2", ranks_file=gpt2_ranks_file())


@pytest.fixture(scope="module")
def gpt2_bpe(gpt2):
    return BPETokenizer.from_tiktoken(gpt2.encoding)


@needs_gpt2_ranks
def test_gpt2_from_a_local_ranks_file(gpt2, monkeypatch):
    assert gpt2.vocab_size == 50257 and gpt2.eot_id == 50256
    assert gpt2.encode("Hello world") == [15496, 995]  # GPT-2's published ids
    assert gpt2.to_dict() == {"name": "gpt2"} and gpt2.saved_form() == {"kind": "tiktoken", "name": "gpt2"}
    monkeypatch.setenv(GPT2_RANKS_ENV, str(gpt2_ranks_file()))
    assert get_tokenizer("gpt2").encode(PARAGRAPH) == gpt2.encode(PARAGRAPH)
    assert load_tokenizer_dict_gpt2().encode(PARAGRAPH) == gpt2.encode(PARAGRAPH)


def load_tokenizer_dict_gpt2():
    return tokenizer_from_dict({"kind": "tiktoken", "name": "gpt2"})


def test_gpt2_ranks_file_is_checked(tmp_path, monkeypatch):
    wrong = tmp_path / "wrong.tiktoken"
    wrong.write_text("IQ== 0\n")
    with pytest.raises(ValueError, match="SHA-256"):
        get_tokenizer("gpt2", ranks_file=wrong)
    monkeypatch.setenv(GPT2_RANKS_ENV, str(tmp_path / "missing.tiktoken"))
    with pytest.raises(TokenizerFilesMissing, match=GPT2_RANKS_ENV):
        get_tokenizer("gpt2")
    with pytest.raises(ValueError, match="'gpt2' only"):
        TiktokenTokenizer.named("cl100k_base", ranks_file=wrong)


@needs_gpt2_ranks
def test_gpt2_merges_recovered_from_its_ranks(gpt2_bpe, gpt2):
    assert gpt2_bpe.vocab_size == gpt2.vocab_size and gpt2_bpe.eot_id == gpt2.eot_id
    assert gpt2_bpe.vocab[0] == b"!" and sorted(gpt2_bpe.byte_order) == list(range(256))
    assert all(gpt2.encoding.decode_single_token_bytes(i) == t for i, t in enumerate(gpt2_bpe.vocab))
    for text in [PARAGRAPH, *EDGE_CASES]:
        assert gpt2_bpe.encode_slow(text) == gpt2.encode(text), repr(text)
        assert gpt2_bpe.decode(gpt2_bpe.encode_slow(text)) == text


@needs_gpt2_ranks
@needs_corpus
def test_gpt2_pure_python_bpe_equals_tiktoken_on_the_corpus(gpt2_bpe, gpt2, corpus):
    assert gpt2_bpe.encode_slow(corpus) == gpt2.encode(corpus)


def test_gpt2_offline_without_cache_says_what_to_do(tmp_path, monkeypatch):
    import tiktoken.load
    import tiktoken.registry

    monkeypatch.delenv(GPT2_RANKS_ENV, raising=False)  # no local copy either

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
    ids = np.concatenate([corpus.train, corpus.val])  # the token files, memory-mapped
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


@pytest.fixture(scope="module")
def by_name() -> dict[str, Tokenizer]:
    """One tokenizer for each name get_tokenizer knows (gpt2 only where its ranks file is available), and notebook
    10's chat tokens over the char tokenizer (kind "chat")."""
    made = {name: get_tokenizer(name, PARAGRAPH * 20, vocab_size=400) for name in ("char", "bpe", "sentencepiece")}
    if gpt2_ranks_file() is not None:
        made["gpt2"] = get_tokenizer("gpt2", ranks_file=gpt2_ranks_file())
    made["char+chat"] = ChatTokenizer(made["char"])
    return made


@pytest.mark.parametrize("name", ["char", "bpe", "sentencepiece", pytest.param("gpt2", marks=needs_gpt2_ranks)])
def test_name_is_what_get_tokenizer_was_given(by_name, name, monkeypatch):
    if name == "gpt2":
        monkeypatch.setenv(GPT2_RANKS_ENV, str(gpt2_ranks_file()))
    tok = by_name[name]
    assert tok.name == name and tokenizer_from_dict(tok.saved_form()).name == name


@pytest.mark.parametrize("kind", sorted(TOKENIZER_TYPES))
def test_every_registered_kind_saves_and_loads(by_name, kind, tmp_path, monkeypatch):
    if kind == "tiktoken" and gpt2_ranks_file() is None:
        pytest.skip(f"GPT-2's ranks file not available (set {GPT2_RANKS_ENV})")
    monkeypatch.setenv(GPT2_RANKS_ENV, str(gpt2_ranks_file()))
    (tok,) = [t for t in by_name.values() if t.kind == kind]  # a new kind needs an example in by_name
    loaded = load_tokenizer(tok.save(tmp_path / "t.json"))
    assert type(loaded) is type(tok) and loaded.saved_form() == tok.saved_form()
    assert loaded.encode(PARAGRAPH) == tok.encode(PARAGRAPH) and loaded.decode(tok.encode(PARAGRAPH)) == PARAGRAPH
    assert (loaded.name, loaded.vocab_size, loaded.eot_id) == (tok.name, tok.vocab_size, tok.eot_id)


def test_logs_and_summaries_use_the_name_not_the_saved_kind():
    tok = TiktokenTokenizer(BPETokenizer.train(PARAGRAPH, 300).to_tiktoken())
    assert tok.kind == "tiktoken" and tok.name == "nanogpt-bpe-43"
    corpus = Corpus.from_text(PARAGRAPH, tok)
    assert "; nanogpt-bpe-43 tokenizer, vocab 300;" in corpus.describe()
    assert corpus.summary()["tokenizer"] == "nanogpt-bpe-43"


@needs_gpt2_ranks
def test_prepare_with_gpt2_records_its_name(tmp_path, monkeypatch):
    monkeypatch.setenv(GPT2_RANKS_ENV, str(gpt2_ranks_file()))
    src = tmp_path / "input.txt"
    src.write_text(PARAGRAPH * 3)
    meta = prepare(tmp_path / "data", src, "gpt2")
    assert meta["tokenizer"] == "gpt2" and meta["vocab_size"] == 50257
    assert "gpt2 tokenizer" in load_prepared(tmp_path / "data").describe()


def defined_names(path: Path) -> list[str]:
    """The public names a module defines at its top level (not the ones it imports)."""
    names = []
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def test_the_package_exports_every_public_name_of_its_modules():
    modules = sorted(Path(tokenizers_package.__file__).parent.glob("[!_]*.py"))
    assert {p.stem for p in modules} >= {"base", "bpe", "gpt2"}
    for path in modules:
        module = importlib.import_module(f"nanogpt_lib.tokenizers.{path.stem}")
        for name in defined_names(path):
            assert name in tokenizers_package.__all__, f"{path.name} defines {name}, which the package does not export"
            assert getattr(tokenizers_package, name) is getattr(module, name)
