"""nanogpt_lib: the finished pieces of the nanogpt notebooks series.

The notebooks build each piece by hand and then check it against the version imported from here.
"""

from .checkpoint import CheckpointError, atomic_save, load_checkpoint, load_model
from .config import PRESETS, TrainConfig, get_config
from .data import (
    BatchSampler,
    Corpus,
    get_batch,
    load_corpus,
    load_prepared,
    load_text,
    prepare,
    split_ids,
)
from .model import (
    GPT,
    BigramLanguageModel,
    Block,
    CausalSelfAttention,
    FeedForward,
    GPTConfig,
    Head,
    KVCache,
    MultiHeadAttention,
    sample_next_token,
)
from .notebook import REPO_URL, is_fast, notebook_config, pick
from .plot import LiveLossPlot, plot_attention, plot_losses, plot_lr, plot_runs
from .tokenizers import (
    BPETokenizer,
    CharTokenizer,
    SentencePieceTokenizer,
    TiktokenTokenizer,
    Tokenizer,
    get_tokenizer,
    load_tokenizer,
)
from .train import (
    History,
    RunExistsError,
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    estimate_loss,
    lr_at,
    sample_text,
    train,
)

__version__ = "0.1.0"
