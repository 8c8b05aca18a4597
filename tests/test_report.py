"""`nanogpt report`: the README's pictures and numbers come from a real run folder."""

import json

import pytest
import torch

from nanogpt_lib import GPT, GPTConfig, get_config, train
from nanogpt_lib.cli import main
from nanogpt_lib.cli.report import SECTION_END, SECTION_START, attention_weights, make_report

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(get_config("tiny"), out_dir=out, progress=False, verbose=False)
    return out


def test_attention_weights_are_what_the_layer_uses():
    torch.manual_seed(0)
    model = GPT(GPTConfig(vocab_size=11, block_size=16, n_layer=2, n_head=4, n_embd=32)).eval()
    idx = torch.randint(0, 11, (2, 9))
    weights = attention_weights(model, idx, layer=1)
    assert weights.shape == (2, 4, 9, 9)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 4, 9))
    assert torch.all(weights.triu(diagonal=1) == 0), "a position must not attend to later positions"

    # The layer's own output before its output projection must be weights @ values.
    attn, seen = model.transformer.h[1].attn, {}
    hooks = [attn.register_forward_pre_hook(lambda m, a: seen.setdefault("x", a[0])),
             attn.c_proj.register_forward_pre_hook(lambda m, a: seen.setdefault("y", a[0]))]
    with torch.no_grad():
        model(idx)
    for h in hooks:
        h.remove()
    v = attn.c_attn(seen["x"]).split(32, dim=2)[2].view(2, 9, 4, 8).transpose(1, 2)
    torch.testing.assert_close((weights @ v).transpose(1, 2).reshape(2, 9, 32), seen["y"])


def test_report_draws_pictures_and_numbers_from_the_run(run_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\nintro\n\n{SECTION_START}\nstale body to replace\n{SECTION_END}\n\n## rest\n")
    out = tmp_path / "docs" / "img"
    report = make_report(run_dir, out, readme=readme)

    for name in ("loss_curves.png", "attention.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) <= 150_000, f"{name}: {len(data)} bytes"
    history = json.loads((run_dir / "history.json").read_text())
    assert report["gpt"]["val_loss"] == round(history["eval_val_loss"][-1], 4)
    assert report["gpt"]["step"] == history["eval_step"][-1] == report["bigram"]["step"]
    assert report["training"]["steps"] == len(history["step"])
    assert report["sample"]["text"].startswith("ROMEO:")
    assert json.loads((out / "report.json").read_text()) == report

    text = readme.read_text()
    assert "stale body" not in text and text.startswith("# project\n\nintro\n") and text.endswith("## rest\n")
    section = text[text.index(SECTION_START):text.index(SECTION_END)]
    assert "](docs/img/loss_curves.png)" in section and "](docs/img/attention.png)" in section
    assert f"**{report['gpt']['val_loss']:.4f}**" in section and report["sample"]["text"].strip() in section
    assert section.split("\n", 1)[1] == (out / "report.md").read_text()


def test_report_refuses_a_folder_without_a_run(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path), "--out", str(tmp_path / "img")]) == 2
    assert "history.json" in capsys.readouterr().err


def test_report_needs_the_readme_markers(run_dir, tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# no markers here\n")
    with pytest.raises(ValueError, match="SECTION:pictures"):
        make_report(run_dir, tmp_path / "img", readme=readme)
    assert not (tmp_path / "img").exists(), "it should refuse before drawing anything"
