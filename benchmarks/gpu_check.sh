#!/usr/bin/env bash
# One-shot GPU check (issue 6): run once on a CUDA machine, then copy the numbers into RESULTS.md and the
# README's "Scaling up" section.
#
#   1. GPT-2 124M shape (12 layers, 12 heads, 768, block 1024, vocab padded to 50304), bf16 autocast,
#      torch.compile, flash SDPA: ms/iter, tokens/s, MFU and peak memory (`nanogpt bench train`), with the
#      eager bf16 run beside it for the compile speed-up;
#   2. the list-of-heads attention vs the fused one at that shape (`nanogpt bench attention`);
#   3. the `shakespeare_char` preset trained end to end in bf16 + compile: best val loss and wall time.
#
# Usage, from anywhere:  bash benchmarks/gpu_check.sh [RESULTS_DIR]   (default: $OUT, else benchmarks/gpu_results)
# Data: data/shakespeare_char/ (carry it), or NANOGPT_DATA=/path/tinyshakespeare.txt to prepare it here.
# No pip install needed: the repository is put on PYTHONPATH. About 5-8 minutes on one H100.
set -euo pipefail
cd "$(dirname "$0")/.."
results="${1:-${OUT:-benchmarks/gpu_results}}"
mkdir -p "$results"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$results/gpu.txt"

# Is the flash kernel usable for bf16 causal attention at this shape? (SDPA picks it automatically.)
"$py" - <<'EOF' | tee "$results/flash_sdpa.txt"
import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

q = torch.randn(16, 12, 1024, 64, device="cuda", dtype=torch.bfloat16)
with sdpa_kernel(SDPBackend.FLASH_ATTENTION):  # raises if flash cannot run these inputs
    F.scaled_dot_product_attention(q, q, q, is_causal=True)
print("flash SDPA: available for bf16 causal attention, (16, 12, 1024, 64)")
EOF

gpt2=(--preset gpt2 --vocab-size 50304 --dtype bfloat16)
"$py" -m nanogpt_lib bench train "${gpt2[@]}" --compile --warmup 10 --iters 30 --json "$results/train_gpt2_bf16_compile.json"
"$py" -m nanogpt_lib bench train "${gpt2[@]}" --warmup 5 --iters 20 --json "$results/train_gpt2_bf16_eager.json"
"$py" -m nanogpt_lib bench attention --preset gpt2 --dtype bfloat16 --json "$results/attention_gpt2_bf16.json"

[ -f data/shakespeare_char/meta.json ] || "$py" -m nanogpt_lib prepare
start=$(date +%s)
"$py" -m nanogpt_lib train --preset shakespeare_char --dtype bfloat16 --compile --sample_tokens 0 \
  --out-dir runs/gpu_check_shakespeare_char --force --no-progress 2>&1 | tee "$results/shakespeare_char.log"
wall=$(( $(date +%s) - start ))

"$py" - "$results" "$wall" <<'EOF'
import json
import sys
from pathlib import Path

results, wall = Path(sys.argv[1]), int(sys.argv[2])
history = json.loads(Path("runs/gpu_check_shakespeare_char/history.json").read_text())
summary = {"shakespeare_char": {"best_val_loss": min(history["eval_val_loss"]), "wall_seconds": wall,
                                "command": "nanogpt train --preset shakespeare_char --dtype bfloat16 --compile"}}
for name in ("train_gpt2_bf16_compile", "train_gpt2_bf16_eager"):
    r = json.loads((results / f"{name}.json").read_text())
    summary[name] = {k: r[k] for k in ("machine", "ms_per_iter", "tokens_per_sec", "mfu", "peak_flops",
                                       "peak_flops_source", "peak_memory_bytes", "first_iter_seconds")}
attention = json.loads((results / "attention_gpt2_bf16.json").read_text())
summary["attention_gpt2_bf16"] = {k: attention[k] for k in ("forward_backward_ms", "speedup_fused_over_heads_loop")}
(results / "summary.json").write_text(json.dumps(summary, indent=2))
print(json.dumps(summary, indent=2))
EOF
