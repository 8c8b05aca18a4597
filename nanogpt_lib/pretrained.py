"""GPT-2 weights in and out: Hugging Face's format ↔ our `GPT`.

Our module names already mirror Hugging Face's GPT-2 (`transformer.h.0.attn.c_attn`, ...), so mapping is
mostly one-to-one. Two differences: HF's attention and MLP layers are `Conv1D`, which store weights as
(in, out) where `nn.Linear` stores (out, in), so those four matrices are transposed; and `lm_head.weight`
is tied to `transformer.wte.weight`, so it is not stored separately.

A Hugging Face folder holds `config.json` (a `GPT2Config`) and `model.safetensors` (or the older
`pytorch_model.bin`). `load_pretrained` reads such a folder, or downloads one (`gpt2`, `gpt2-medium`,
`gpt2-large`, `gpt2-xl`) with `huggingface_hub`; `write_pretrained` writes one that `transformers` loads.
This module works on configs and state dicts only; `GPT.from_pretrained` and `GPT.save_pretrained` call it.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .config import GPTConfig
from .files import atomic_write, atomic_write_text
from .tokenizers import Tokenizer, load_tokenizer

HF_MODELS = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
TOKENIZER_FILE = "nanogpt_tokenizer.json"  # not "tokenizer.json": that name is HF tokenizers' own format
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
IGNORED = (".attn.bias", ".attn.masked_bias")  # causal-mask buffers in old checkpoints, not weights
LAYER_NORM_EPS = 1e-5  # nn.LayerNorm's default, and GPT-2's


class PretrainedMismatchError(ValueError):
    """The checkpoint's tensors do not fit our GPT: missing, unexpected or wrongly shaped keys."""


def _is_conv1d(key: str) -> bool:
    return key.endswith(CONV1D)


def config_from_hf(hf: dict, dropout: float | None = None, bias: bool = True) -> GPTConfig:
    """Our `GPTConfig` from a `GPT2Config` dict, refusing variants our GPT does not compute."""
    unsupported = []
    if hf.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        unsupported.append(f"activation_function={hf['activation_function']!r} (we use tanh GELU = gelu_new)")
    if hf.get("n_inner") not in (None, 4 * hf["n_embd"]):
        unsupported.append(f"n_inner={hf['n_inner']} (we use 4 * n_embd)")
    if abs(hf.get("layer_norm_epsilon", LAYER_NORM_EPS) - LAYER_NORM_EPS) > 1e-12:
        unsupported.append(f"layer_norm_epsilon={hf['layer_norm_epsilon']} (we use {LAYER_NORM_EPS})")
    if hf.get("scale_attn_by_inverse_layer_idx") or not hf.get("scale_attn_weights", True):
        unsupported.append("non-standard attention scaling")
    if not hf.get("tie_word_embeddings", True):
        unsupported.append("tie_word_embeddings=false (our lm_head is tied to wte)")
    if unsupported:
        raise ValueError(f"this GPT-2 variant cannot be loaded into our GPT: {'; '.join(unsupported)}")
    return GPTConfig(
        vocab_size=hf["vocab_size"], block_size=hf["n_positions"], n_layer=hf["n_layer"], n_head=hf["n_head"],
        n_embd=hf["n_embd"], dropout=hf.get("resid_pdrop", 0.0) if dropout is None else dropout, bias=bias,
    )


def config_to_hf(config: GPTConfig, eot_id: int | None = None) -> dict:
    """The `config.json` of a `GPT2LMHeadModel` with our shape (`nanogpt_bias` records bias=False models)."""
    return {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "vocab_size": config.vocab_size,
        "n_positions": config.block_size, "n_embd": config.n_embd, "n_layer": config.n_layer,
        "n_head": config.n_head, "n_inner": None, "activation_function": "gelu_new",
        "resid_pdrop": config.dropout, "embd_pdrop": config.dropout, "attn_pdrop": config.dropout,
        "layer_norm_epsilon": LAYER_NORM_EPS, "initializer_range": 0.02, "scale_attn_weights": True,
        "scale_attn_by_inverse_layer_idx": False, "reorder_and_upcast_attn": False, "tie_word_embeddings": True,
        "use_cache": True, "bos_token_id": eot_id, "eos_token_id": eot_id, "nanogpt_bias": config.bias,
    }


def read_hf_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of `model.safetensors`, or of `pytorch_model.bin` loaded with weights_only=True."""
    if (folder / "model.safetensors").is_file():
        return _safetensors().load_file(folder / "model.safetensors")
    if (folder / "pytorch_model.bin").is_file():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise FileNotFoundError(f"{folder} has no model.safetensors or pytorch_model.bin")


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise ImportError(
            "GPT-2 folders are read and written with safetensors: pip install 'nanogpt-notebooks[hf]'"
        ) from None
    return safetensors.torch


def hf_to_ours(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename HF keys to ours (adding the `transformer.` prefix GPT2Model omits) and transpose Conv1D weights."""
    out = {}
    for key, tensor in sd.items():
        if key.endswith(IGNORED) or key == "lm_head.weight":
            continue  # mask buffers; the tied head is wte
        key = key if key.startswith("transformer.") else f"transformer.{key}"
        out[key] = tensor.t() if _is_conv1d(key) else tensor
    return out


def check_keys(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], source: str) -> None:
    """Every key of our model must be given with the right shape, and every given key must be used."""
    missing = sorted(k for k in ours if k not in theirs)
    unexpected = sorted(k for k in theirs if k not in ours)
    shapes = [f"{k}: checkpoint {tuple(theirs[k].shape)} vs model {tuple(ours[k].shape)}"
              for k in sorted(ours) if k in theirs and theirs[k].shape != ours[k].shape]
    problems = []
    if missing:
        problems.append(f"missing keys: {', '.join(missing)}")
    if unexpected:
        problems.append(f"unexpected keys: {', '.join(unexpected)}")
    if shapes:
        problems.append(f"shape mismatches: {'; '.join(shapes)}")
    if problems:
        raise PretrainedMismatchError(f"{source} does not fit a GPT of its config.json: " + " | ".join(problems))


def _drop_zero_biases(sd: dict[str, torch.Tensor], source: str) -> dict[str, torch.Tensor]:
    """For bias=False: biases may only be dropped if they are all zero (as `save_pretrained` writes them)."""
    biases = [k for k in sd if k.endswith(".bias")]
    nonzero = [k for k in biases if sd[k].any()]
    if nonzero:
        raise ValueError(f"bias=False, but {source} has non-zero biases: {', '.join(nonzero[:5])}"
                         f"{' ...' if len(nonzero) > 5 else ''}; load it with bias=True")
    return {k: v for k, v in sd.items() if k not in biases}


def resolve_folder(name_or_path: str | Path) -> Path:
    """A local Hugging Face folder, or the downloaded snapshot of a named GPT-2 model."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        return path
    if str(name_or_path) not in HF_MODELS:
        raise FileNotFoundError(
            f"{name_or_path!r} is neither a folder nor a GPT-2 model name; use one of {', '.join(HF_MODELS)} "
            "or a folder with config.json and model.safetensors (or pytorch_model.bin)"
        )
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        raise ImportError(
            f"loading {name_or_path!r} needs huggingface_hub: pip install 'nanogpt-notebooks[hf]'"
        ) from None
    try:
        return Path(snapshot_download(str(name_or_path), allow_patterns=["config.json", "model.safetensors"]))
    except Exception as e:  # offline, no cache, proxy errors: all say "could not get the files"
        raise FileNotFoundError(
            f"could not download {name_or_path!r} from the Hugging Face Hub and it is not cached "
            f"({type(e).__name__}). Go online once (files are cached in ~/.cache/huggingface), or pass a local "
            "folder with config.json and model.safetensors."
        ) from None


def read_pretrained(name_or_path: str | Path, dropout: float | None = None,
                    bias: bool | None = None) -> tuple[GPTConfig, dict[str, torch.Tensor], str]:
    """The `GPTConfig`, the weights (in our key names and layout) and a description of a GPT-2 name or folder.

    `dropout` overrides the config's (for fine-tuning). `bias=None` means "as saved": True for GPT-2;
    False for our bias-free models saved with `save_pretrained` (their zero biases are dropped again).
    """
    folder = resolve_folder(name_or_path)
    config_path = folder / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json, so it is not a Hugging Face model folder")
    hf_config = json.loads(config_path.read_text())
    bias = hf_config.get("nanogpt_bias", True) if bias is None else bias
    weights = hf_to_ours(read_hf_state_dict(folder))
    if not bias:
        weights = _drop_zero_biases(weights, str(folder))
    return config_from_hf(hf_config, dropout, bias), weights, str(folder)


def copy_pretrained_weights(ours: dict[str, torch.Tensor], theirs: dict[str, torch.Tensor], source: str) -> None:
    """Copy `theirs` into the tensors of a fresh model's `state_dict()` after checking every name and shape."""
    ours = {k: v for k, v in ours.items() if k != "lm_head.weight"}  # tied to wte
    check_keys(ours, theirs, source)
    with torch.no_grad():
        for key, tensor in ours.items():
            tensor.copy_(theirs[key])


def folder_tokenizer(folder: str | Path) -> Tokenizer | None:
    """The tokenizer a folder written by `save_pretrained` carries, or None."""
    path = Path(folder) / TOKENIZER_FILE
    return load_tokenizer(path) if path.is_file() else None


def pretrained_tokenizer(name_or_path: str | Path) -> Tokenizer:
    """The tokenizer that goes with pretrained weights: the folder's own, else GPT-2's (tiktoken)."""
    from .tokenizers import TiktokenTokenizer

    path = Path(name_or_path).expanduser()
    return (folder_tokenizer(path) if path.is_dir() else None) or TiktokenTokenizer.named("gpt2")


def write_pretrained(config: GPTConfig, state_dict: dict[str, torch.Tensor], folder: str | Path,
                     tokenizer: Tokenizer | None = None) -> Path:
    """Write `config.json` + `model.safetensors` that `GPT2LMHeadModel.from_pretrained(folder)` loads.

    A bias=False model is written with zero biases: the same function, in GPT-2's layout. With a
    `tokenizer`, it is saved beside the weights as `nanogpt_tokenizer.json`. Each file is written atomically.
    Notebook 08's variants (RoPE, RMSNorm, ...) have no place in GPT-2's format and are refused.
    """
    if config.non_gpt2_fields():
        raise ValueError(f"GPT-2's format cannot express {', '.join(config.non_gpt2_fields())}: only models "
                         "with GPT-2's architecture can be saved with save_pretrained; keep the run's checkpoint")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {}
    for key, tensor in state_dict.items():
        if key == "lm_head.weight":
            continue
        tensors[key] = (tensor.t() if _is_conv1d(key) else tensor).detach().float().cpu().contiguous()
    if not config.bias:  # every Linear and LayerNorm weight (not the embeddings) gets a zero bias
        for key in list(tensors):
            if key.endswith(".weight") and not key.endswith(("wte.weight", "wpe.weight")):
                width = tensors[key].shape[-1] if _is_conv1d(key) else tensors[key].shape[0]
                tensors[key.removesuffix(".weight") + ".bias"] = torch.zeros(width)
    data = _safetensors().save(tensors, metadata={"format": "pt"})
    atomic_write(folder / "model.safetensors", lambda f: f.write(data))
    eot = tokenizer.eot_id if tokenizer is not None else None
    atomic_write_text(folder / "config.json", json.dumps(config_to_hf(config, eot), indent=2))
    if tokenizer is not None:
        tokenizer.save(folder / TOKENIZER_FILE)
    return folder
