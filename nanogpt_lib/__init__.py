"""nanogpt_lib: the finished pieces of the nanogpt notebooks series.

The notebooks build each piece by hand and then check it against the version imported from here. The
modules, bottom to top: tokenizers → data → config, sampling, kv_cache, pretrained, model → optim →
device, history, checkpoint, train, evaluate, plot, notebook (the last two load on first use; `plot` is the
package that draws every picture). Notebook 10's chat pieces sit just above model (chat: the format; tasks) and
above train (finetune: SFT; rl: GRPO and DPO). The `nanogpt` command lives in `nanogpt_lib.cli`, which imports
these and is never imported by them.
"""

from .chat import ChatTokenizer, Message, generate_replies
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
from .finetune import SFTConfig, assistant_loss, chat_model, grow_vocab, pad_batch, sft, show_loss_mask, text_loss
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
    ReLUSquared,
    RMSNorm,
    RotaryEmbedding,
    SwiGLU,
)
from .optim import Muon
from .rl import DPOConfig, RLConfig, dpo, dpo_loss, exact_reward, group_advantages, grpo, kl_k3, preference_pairs
from .sampling import sample_next_token, sample_text
from .tasks import TASKS, Example, check, dataset_stats, grade, make_examples, wilson_interval
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

# Imported on first use (PEP 562): matplotlib takes about a second to import, and `nanogpt train` and most
# scripts never draw, so `from nanogpt_lib import plot_losses` loads it only when it is asked for.
_LAZY = {
    "LiveLossPlot": "plot", "plot_attention": "plot", "plot_losses": "plot", "plot_lr": "plot", "plot_runs": "plot",
    "REPO_URL": "notebook", "is_fast": "notebook", "notebook_config": "notebook", "pick": "notebook",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value  # later look-ups skip this function
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
