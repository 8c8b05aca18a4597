"""Shared fixtures: the corpus (through NANOGPT_DATA or the cache) and small corpora for fast tests."""

import pytest
import torch

from nanogpt_lib import Corpus, load_text


@pytest.fixture(scope="session")
def text() -> str:
    return load_text()


@pytest.fixture(scope="session")
def small_corpus(text) -> Corpus:
    """The first 60k characters, with the full corpus's vocabulary so prompts like 'ROMEO:' encode."""
    from nanogpt_lib import CharTokenizer

    return Corpus.from_text(text[:60_000], CharTokenizer.from_text(text))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
