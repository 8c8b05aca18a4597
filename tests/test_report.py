"""`nanogpt report`: the pictures and numbers of docs/results.md come from a real run folder."""

import json
import re
from pathlib import Path

import pytest

from nanogpt_lib import get_config, train
from nanogpt_lib.cli import main
from nanogpt_lib.cli.report import make_report, markdown_snippet

ROOT = Path(__file__).resolve().parents[1]

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    train(get_config("tiny"), out_dir=out, progress=False, verbose=False)
    return out


def local_links(markdown: str) -> list[str]:
    """Targets of the markdown links and images that are not web addresses."""
    return [m for m in re.findall(r"\]\(([^)\s]+)\)", markdown) if not re.match(r"[a-z]+://", m)]


def test_report_draws_pictures_and_numbers_from_the_run(run_dir, tmp_path):
    out = tmp_path / "docs" / "img"
    report = make_report(run_dir, out)

    for name in ("loss_curves.png", "attention.png"):
        data = (out / name).read_bytes()
        assert data[:8] == PNG and len(data) <= 150_000, f"{name}: {len(data)} bytes"
    history = json.loads((run_dir / "history.json").read_text())
    assert report["gpt"]["val_loss"] == round(history["eval_val_loss"][-1], 4)
    assert report["gpt"]["step"] == history["eval_step"][-1] == report["bigram"]["step"]
    assert report["training"]["steps"] == len(history["step"])
    assert report["sample"]["text"].startswith("ROMEO:")
    assert json.loads((out / "report.json").read_text()) == report

    md = (out / "report.md").read_text()
    assert f"**{report['gpt']['val_loss']:.4f}**" in md and f"**{report['bigram']['val_loss']:.4f}**" in md
    assert report["sample"]["text"].strip() in md
    links = local_links(md)
    assert {"loss_curves.png", "attention.png", "report.json"} <= set(links), links
    assert all((out / link).is_file() for link in links), f"report.md links to missing files: {links}"
    written = {f.relative_to(tmp_path).as_posix() for f in tmp_path.rglob("*") if f.is_file()}
    assert written == {f"docs/img/{n}" for n in ("loss_curves.png", "attention.png", "report.json", "report.md")}


def test_report_cli_writes_only_its_folder(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("# untouched\n")
    assert main(["report", "--run", str(run_dir), "--out", "img", "--bigram-iters", "5"]) == 0
    assert "wrote img/loss_curves.png" in capsys.readouterr().out
    assert (tmp_path / "README.md").read_text() == "# untouched\n"
    assert sorted(p.name for p in (tmp_path / "img").iterdir()) == ["attention.png", "loss_curves.png", "report.json",
                                                                   "report.md"]
    report = json.loads((tmp_path / "img" / "report.json").read_text())
    assert report["command"] == f"nanogpt report --run {run_dir} --out img --bigram-iters 5"
    assert report["bigram"]["step"] == 5


def test_report_no_longer_rewrites_a_readme(run_dir, tmp_path, capsys):
    assert main(["report", "--run", str(run_dir), "--out", str(tmp_path / "img"), "--readme", "README.md"]) == 2
    assert "--readme" in capsys.readouterr().err
    assert not (tmp_path / "img").exists()


def test_report_refuses_a_folder_without_a_run(tmp_path, capsys):
    assert main(["report", "--run", str(tmp_path), "--out", str(tmp_path / "img")]) == 2
    assert "history.json" in capsys.readouterr().err


# ------------------------------------------------------------------ the committed report and the docs
def test_committed_report_md_is_made_from_report_json():
    """The numbers shown in the docs are those of docs/img/report.json, rendered by `markdown_snippet`."""
    img = ROOT / "docs" / "img"
    report = json.loads((img / "report.json").read_text())
    assert (img / "report.md").read_text() == markdown_snippet(report)
    assert all((img / link).is_file() for link in local_links((img / "report.md").read_text()))


def test_results_page_includes_the_report_and_the_readme_links_it():
    results = (ROOT / "docs" / "results.md").read_text()
    assert re.search(r"^```\{include\} img/report\.md\n:relative-images:\n", results, re.MULTILINE), \
        "docs/results.md must include img/report.md (MyST include with :relative-images:)"
    assert "](img/report.md)" in results, "docs/results.md must also link img/report.md (GitHub shows no include)"
    readme = (ROOT / "README.md").read_text()
    assert "](docs/results.md)" in readme
    for name in ("loss_curves.png", "attention.png"):
        assert f"](docs/img/{name})" in readme and (ROOT / "docs" / "img" / name).is_file()
    generated_numbers = json.loads((ROOT / "docs" / "img" / "report.json").read_text())["gpt"]
    assert f"{generated_numbers['val_loss']:.4f}" not in readme, \
        "the README must not copy generated numbers: link docs/results.md instead"
