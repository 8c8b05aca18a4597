"""nanogpt_lib: the finished pieces of the nanogpt notebooks series.

The notebooks build each piece by hand and then check it against the version imported from here. The
modules, bottom to top: tokenizers → data → config, sampling, kv_cache, pretrained, model → device,
history, checkpoint, train, evaluate, plot, notebook. The `nanogpt` command lives in `nanogpt_lib.cli`,
which imports these and is never imported by them.
"""

from .checkpoint import (
    CheckpointError,
    RunExistsError,
    RunFolder,
    RunLockedError,
    atomic_save,
    load_checkpoint,
    load_model,
    load_model_and_tokenizer,
)
from .config import PRESETS, GPTConfig, TrainConfig, get_config, parse_overrides
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
from .evaluate import EvalResult, evaluate_text_ids
from .history import History
from .kv_cache import KVCache, generate_cached
from .model import (
    GPT,
    BigramLanguageModel,
    Block,
    CausalSelfAttention,
    FeedForward,
    Head,
    MultiHeadAttention,
)
from .notebook import REPO_URL, is_fast, notebook_config, pick
from .plot import LiveLossPlot, plot_attention, plot_losses, plot_lr, plot_runs
from .sampling import sample_next_token, sample_text
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
    TrainingDiverged,
    TrainingInterrupted,
    TrainResult,
    estimate_loss,
    lr_at,
    train,
)

__version__ = "0.1.0"
