"""The package's shape: layers and no cycles (import-linter), the teaching order of model.py, a short train()."""

import ast
import subprocess
import sys
from pathlib import Path

import nanogpt_lib

PACKAGE = Path(nanogpt_lib.__file__).parent


def test_import_linter_contracts_are_kept():
    done = subprocess.run([sys.executable, "-c", "from importlinter.cli import lint_imports_command; "
                           "lint_imports_command()"], capture_output=True, text=True, cwd=PACKAGE.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 kept, 0 broken" in done.stdout


def test_the_core_never_imports_the_command_line():
    code = "import sys, nanogpt_lib; print(sorted(m for m in sys.modules if m.startswith('nanogpt_lib.cli')))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def _top_level(path: Path, kind) -> list[ast.AST]:
    return [n for n in ast.parse(path.read_text()).body if isinstance(n, kind)]


def test_model_py_defines_the_pieces_in_teaching_order():
    names = [c.name for c in _top_level(PACKAGE / "model.py", ast.ClassDef)]
    order = ["BigramLanguageModel", "Head", "MultiHeadAttention", "CausalSelfAttention", "FeedForward", "Block",
             "GPT"]
    assert [n for n in names if n in order] == order


def test_train_reads_in_one_sitting():
    (fn,) = [f for f in _top_level(PACKAGE / "train.py", ast.FunctionDef) if f.name == "train"]
    assert fn.end_lineno - fn.lineno + 1 <= 100
