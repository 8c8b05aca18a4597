"""The `nanogpt` command: the main job end to end, aliases, and one clear message per mistake."""

import subprocess
import sys

import pytest

from nanogpt_lib import PRESETS
from nanogpt_lib.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", "--preset", "tiny", "--out-dir", str(out), "--force", "--no-progress"]) == 0
    return out


def test_train_writes_the_run_folder(run_dir):
    names = {p.name for p in run_dir.iterdir()}
    assert {"ckpt.pt", "best.pt", "config.json", "history.json", "loss.png", "tokenizer.json"} <= names


def test_sample_continues_the_prompt(run_dir, capsys):
    assert main(["sample", "--out-dir", str(run_dir), "--prompt", "ROMEO:", "--max-new-tokens", "40"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("ROMEO:") and len(out.rstrip("\n")) == len("ROMEO:") + 40


def test_sample_is_reproducible_with_a_seed(run_dir, capsys):
    texts = []
    for seed in ("1", "1", "2"):
        main(["sample", "--out-dir", str(run_dir), "--max-new-tokens", "30", "--seed", seed])
        texts.append(capsys.readouterr().out)
    assert texts[0] == texts[1] != texts[2]


def test_sample_prompt_with_unknown_characters(run_dir, capsys):
    assert main(["sample", "--out-dir", str(run_dir), "--prompt", "Ω hello"]) == 2
    assert "'Ω'" in capsys.readouterr().err


def test_seed_aliases_and_dashes(tmp_path, capsys):
    code = main(["train", "--preset", "tiny", "--n_transformers", "1", "--n_embed", "16", "--context_size", "8",
                 "--n_iters", "3", "--learning-rate", "0.01", "--out-dir", str(tmp_path), "--no-progress"])
    assert code == 0
    import json

    cfg = json.loads((tmp_path / "config.json").read_text())
    assert (cfg["n_layer"], cfg["n_embd"], cfg["block_size"], cfg["max_iters"]) == (1, 16, 8, 3)
    assert cfg["learning_rate"] == 0.01


@pytest.mark.parametrize(
    "argv, message",
    [
        (["train", "--preset", "huge"], f"unknown preset 'huge'; valid presets: {', '.join(PRESETS)}"),
        (["train", "--n_layers", "3"], "--n_layers (did you mean --n_layer"),
        (["train", "--preset", "tiny", "--n_head", "3"], "n_embd (32) must be divisible by n_head (3)"),
        (["train", "--preset", "tiny", "--batch_size", "0"], "batch_size must be > 0"),
        (["train", "--preset", "tiny", "--learning_rate", "-1"], "learning_rate must be > 0"),
        (["sample"], "sample needs --out-dir"),
        (["train", "--resume"], "--resume needs --out-dir"),
    ],
)
def test_mistakes_get_one_clear_message(argv, message, capsys, tmp_path):
    assert main(argv + (["--out-dir", str(tmp_path)] if "--resume" not in argv and argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_wrong_type_is_reported_by_name(capsys):
    with pytest.raises(SystemExit) as e:
        main(["train", "--batch_size", "many"])
    assert e.value.code == 2
    assert "--batch_size" in capsys.readouterr().err


def test_unknown_option_lists_valid_options(capsys):
    assert main(["train", "--colour", "blue"]) == 2
    err = capsys.readouterr().err
    assert "--colour" in err and "Valid options:" in err and "--n_layer" in err


def test_python_dash_m_and_help():
    out = subprocess.run([sys.executable, "-m", "nanogpt_lib", "train", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--n_transformers" in out.stdout and "--preset" in out.stdout


def test_prepare_prints_sizes(tmp_path, capsys):
    assert main(["prepare", "--data-dir", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    assert "1,115,394 characters" in out and "vocab size 65" in out and "train: 1,003,854 tokens" in out
