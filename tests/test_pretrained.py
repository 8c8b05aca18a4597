"""GPT-2 weights: a tiny random Hugging Face GPT2LMHeadModel, built offline, must give the same logits and
greedy tokens through our GPT, survive a round trip back into transformers, and mismatches must be named."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")
safetensors_torch = pytest.importorskip("safetensors.torch")

from nanogpt_lib import GPT, GPTConfig  # noqa: E402
from nanogpt_lib.pretrained import TOKENIZER_FILE, PretrainedMismatchError, pretrained_tokenizer  # noqa: E402
from nanogpt_lib.tokenizers import BPETokenizer  # noqa: E402

VOCAB, CTX = 97, 24


def tiny_hf(seed: int = 0, **overrides):
    torch.manual_seed(seed)
    cfg = transformers.GPT2Config(vocab_size=VOCAB, n_positions=CTX, n_embd=32, n_layer=2, n_head=4,
                                  bos_token_id=None, eos_token_id=None, **overrides)
    model = transformers.GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # random biases and LayerNorm affines, so a mapping mistake cannot hide behind zeros
        for name, p in model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                p.normal_(0, 0.1)
    return model


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hf")
    model = tiny_hf()
    model.save_pretrained(folder)
    return folder, model


def hf_logits(model, x):
    with torch.no_grad():
        return model(x).logits


def test_logits_match_hf(hf_folder):
    folder, hf = hf_folder
    ours = GPT.from_pretrained(str(folder)).eval()
    assert ours.config == GPTConfig(vocab_size=VOCAB, block_size=CTX, n_layer=2, n_head=4, n_embd=32,
                                    dropout=0.1, bias=True)
    x = torch.randint(VOCAB, (3, CTX), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], hf_logits(hf, x), atol=1e-5, rtol=0)


def test_greedy_generation_matches_hf(hf_folder):
    folder, hf = hf_folder
    ours = GPT.from_pretrained(str(folder), dropout=0.0).eval()
    prompt = torch.randint(VOCAB, (1, 5), generator=torch.Generator().manual_seed(2))
    expected = hf.generate(prompt, max_new_tokens=15, do_sample=False, pad_token_id=0)
    for use_cache in (True, False):
        assert ours.generate(prompt, 15, temperature=0, use_cache=use_cache).tolist() == expected.tolist()


def test_round_trip_into_transformers(hf_folder, tmp_path):
    folder, hf = hf_folder
    ours = GPT.from_pretrained(str(folder))
    ours.save_pretrained(tmp_path)
    back = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    x = torch.randint(VOCAB, (2, 10))
    torch.testing.assert_close(hf_logits(back, x), hf_logits(hf, x), atol=1e-5, rtol=0)


def test_bias_free_model_is_saved_with_zero_biases(tmp_path):
    torch.manual_seed(0)
    ours = GPT(GPTConfig(vocab_size=VOCAB, block_size=CTX, n_layer=2, n_head=2, n_embd=16, bias=False)).eval()
    ours.save_pretrained(tmp_path)
    x = torch.randint(VOCAB, (2, 12))
    hf = transformers.GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    with torch.no_grad():
        torch.testing.assert_close(hf_logits(hf, x), ours(x)[0], atol=1e-5, rtol=0)
        again = GPT.from_pretrained(str(tmp_path)).eval()
        assert again.config.bias is False
        torch.testing.assert_close(again(x)[0], ours(x)[0])


def test_bias_false_refuses_nonzero_biases(hf_folder):
    folder, _ = hf_folder
    with pytest.raises(ValueError, match="non-zero biases"):
        GPT.from_pretrained(str(folder), bias=False)


def test_pytorch_model_bin_and_gpt2model_keys(tmp_path):
    hf = tiny_hf(seed=3)
    state = {k.removeprefix("transformer."): v for k, v in hf.state_dict().items() if k != "lm_head.weight"}
    state["h.0.attn.bias"] = torch.ones(1, 1, CTX, CTX)  # old checkpoints' mask buffers are ignored
    torch.save(state, tmp_path / "pytorch_model.bin")
    hf.config.to_json_file(tmp_path / "config.json")
    x = torch.randint(VOCAB, (1, 8))
    with torch.no_grad():
        torch.testing.assert_close(GPT.from_pretrained(str(tmp_path)).eval()(x)[0], hf_logits(hf, x), atol=1e-5, rtol=0)


def _copy_with(folder, dest, edit):
    state = safetensors_torch.load_file(folder / "model.safetensors")
    edit(state)
    safetensors_torch.save_file(state, dest / "model.safetensors", metadata={"format": "pt"})
    (dest / "config.json").write_text((folder / "config.json").read_text())
    return dest


def test_missing_and_unexpected_keys_are_named(hf_folder, tmp_path):
    folder, _ = hf_folder

    def edit(state):
        del state["transformer.h.1.mlp.c_fc.bias"]
        state["transformer.h.0.extra.weight"] = torch.zeros(2)

    with pytest.raises(PretrainedMismatchError, match=r"missing keys: transformer\.h\.1\.mlp\.c_fc\.bias") as e:
        GPT.from_pretrained(str(_copy_with(folder, tmp_path, edit)))
    assert "unexpected keys: transformer.h.0.extra.weight" in str(e.value)


def test_wrong_shape_is_named(hf_folder, tmp_path):
    folder, _ = hf_folder

    def edit(state):
        state["transformer.wpe.weight"] = torch.zeros(CTX + 1, 32)

    with pytest.raises(PretrainedMismatchError, match=r"transformer\.wpe\.weight: checkpoint \(25, 32\)"):
        GPT.from_pretrained(str(_copy_with(folder, tmp_path, edit)))


def test_unsupported_variants_and_bad_paths(hf_folder, tmp_path):
    folder, _ = hf_folder
    cfg = json.loads((folder / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**cfg, "activation_function": "relu"}))
    (tmp_path / "model.safetensors").write_bytes((folder / "model.safetensors").read_bytes())
    with pytest.raises(ValueError, match="activation_function='relu'"):
        GPT.from_pretrained(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="neither a folder nor a GPT-2 model name"):
        GPT.from_pretrained("gpt3-ultra")


def test_folder_carries_its_tokenizer(hf_folder, tmp_path):
    folder, _ = hf_folder
    tok = BPETokenizer.train("to be or not to be, that is the question " * 5, 300)
    GPT.from_pretrained(str(folder)).save_pretrained(tmp_path, tokenizer=tok)
    assert (tmp_path / TOKENIZER_FILE).is_file()
    assert pretrained_tokenizer(tmp_path).merges == tok.merges
    assert json.loads((tmp_path / "config.json").read_text())["eos_token_id"] == tok.eot_id
