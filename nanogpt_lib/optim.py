"""Muon (Jordan et al., 2024): orthogonalised momentum for the hidden weight matrices, AdamW for the rest.

AdamW scales every weight's update separately. Muon treats a weight matrix as one object: it takes the
matrix of momentum and replaces it by the nearest orthogonal matrix (all singular values 1), so every
direction of the update moves by the same amount and the few directions that dominate the raw gradient
cannot drown out the rest. It is meant for the 2-D matrices inside the blocks; embeddings, the LM head and
the gains/biases (vectors) keep AdamW, in other parameter groups of the same optimizer (`make_muon`).
The modded-nanogpt speedruns use this split.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from .config import TrainConfig

# Coefficients of the quintic Newton–Schulz iteration tuned by Keller Jordan for modded-nanogpt: they push
# singular values towards 1 as fast as possible; after five steps most lie in a band around 1, not at 1
# (notebook 08 counts them for a real gradient: 91% within [0.6, 1.25]).
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def newton_schulz(G: torch.Tensor, steps: int = 5, eps: float = 1e-7) -> torch.Tensor:
    """Approximately orthogonalise the matrix `G`: ≈ U Vᵀ where G = U Σ Vᵀ (its SVD), with no SVD.

    Scale G so its singular values are ≤ 1, then repeat X ← a X + b (X Xᵀ) X + c (X Xᵀ)² X. Each step maps
    every singular value σ to a σ + b σ³ + c σ⁵ and leaves U and V alone, so the σ's move towards 1.
    Works on the short side (X Xᵀ is the smaller Gram matrix), in bfloat16 on GPUs. `G` may also be a stack
    of same-shape matrices (n, rows, cols): each is orthogonalised alone, with one batched matmul per product.
    """
    a, b, c = NS_COEFFICIENTS
    X = G.bfloat16() if G.is_cuda else G.float()
    X = X.reshape(-1, *G.shape[-2:])  # always a stack, so baddbmm below serves one matrix and many
    X = X / (X.norm(dim=(1, 2), keepdim=True) + eps)  # Frobenius norm ≥ spectral norm, so every σ ≤ 1
    tall = X.size(1) > X.size(2)
    if tall:
        X = X.mT
    for _ in range(steps):
        A = X @ X.mT
        B = torch.baddbmm(A, A, A, beta=b, alpha=c)  # b A + c A²: the scaling fused into the matmul
        X = torch.baddbmm(X, B, X, beta=a)  # a X + B X
    return (X.mT if tall else X).reshape(G.shape).to(G.dtype)


class Muon(torch.optim.Optimizer):
    """Muon for the groups with `use_muon=True`, AdamW for the others; one optimizer, one state dict.

    Muon, for a matrix W (rows × cols) with gradient G, momentum μ and learning rate η (Nesterov form):

        M ← μ M + G
        W ← W (1 − η λ) − η · sqrt(max(1, rows/cols)) · NewtonSchulz(G + μ M)

    (λ: the group's weight decay, `muon_weight_decay`, 0 by default. An orthogonal update has a fixed size,
    so without decay the weights' norm only grows; benchmarks/speedrun_exploration.md measures what decay
    does to a long run.)

    AdamW, for every other parameter θ (β₁, β₂, ε, weight decay λ, step t):

        m ← β₁ m + (1 − β₁) g,   v ← β₂ v + (1 − β₂) g²
        θ ← θ (1 − η λ) − η · (m / (1 − β₁ᵗ)) / (sqrt(v / (1 − β₂ᵗ)) + ε)

    The training loop sets one learning rate for all groups (its schedule); each group multiplies it by
    its `lr_scale`, so Muon's larger rate follows the same warmup and decay.
    """

    def __init__(self, params, lr: float, lr_scale: float = 1.0, use_muon: bool = True, momentum: float = 0.95,
                 betas: tuple[float, float] = (0.9, 0.99), eps: float = 1e-8, weight_decay: float = 0.0,
                 ns_steps: int = 5) -> None:
        defaults = dict(lr=lr, lr_scale=lr_scale, use_muon=use_muon, momentum=momentum, betas=betas, eps=eps,
                        weight_decay=weight_decay, ns_steps=ns_steps)
        super().__init__(params, defaults)
        for group in self.param_groups:
            if group["use_muon"] and any(p.dim() != 2 for p in group["params"]):
                raise ValueError("Muon orthogonalises matrices: its groups may only hold 2-D parameters")

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr = group["lr"] * group["lr_scale"]
            params = [p for p in group["params"] if p.grad is not None]
            if group["use_muon"]:
                self._muon(params, group, lr)
            else:
                for p in params:
                    self._adamw(p, self.state[p], group, lr)
        return loss

    def _muon(self, params: list[torch.Tensor], group: dict, lr: float) -> None:
        mu = group["momentum"]
        by_shape: dict[torch.Size, list[torch.Tensor]] = {}
        for p in params:
            by_shape.setdefault(p.shape, []).append(p)
        # All matrices of one shape (e.g. every layer's c_fc) share one batched Newton–Schulz: 4 calls per step
        # instead of 16, fewer and larger matmuls (part of the `modern` step's speed-up in benchmarks/RESULTS.md).
        for (rows, cols), same in by_shape.items():
            nesterov = []
            for p in same:
                if "momentum_buffer" not in self.state[p]:
                    self.state[p]["momentum_buffer"] = torch.zeros_like(p)
                buf = self.state[p]["momentum_buffer"].mul_(mu).add_(p.grad)
                nesterov.append(p.grad.add(buf, alpha=mu))
            updates = newton_schulz(torch.stack(nesterov), group["ns_steps"])
            # An orthogonal update has entries of size ~1/sqrt(cols); tall matrices get a larger step to match.
            for p, update in zip(same, updates):
                if group["weight_decay"]:
                    p.mul_(1 - lr * group["weight_decay"])
                p.add_(update, alpha=-lr * math.sqrt(max(1.0, rows / cols)))

    @staticmethod
    def _adamw(p: torch.Tensor, state: dict, group: dict, lr: float) -> None:
        beta1, beta2 = group["betas"]
        if not state:
            state.update(step=0, exp_avg=torch.zeros_like(p), exp_avg_sq=torch.zeros_like(p))
        state["step"] += 1
        m = state["exp_avg"].lerp_(p.grad, 1 - beta1)
        v = state["exp_avg_sq"].mul_(beta2).addcmul_(p.grad, p.grad, value=1 - beta2)
        denom = (v / (1 - beta2 ** state["step"])).sqrt_().add_(group["eps"])
        p.mul_(1 - lr * group["weight_decay"])
        p.addcdiv_(m, denom, value=-lr / (1 - beta1 ** state["step"]))


def make_muon(model: nn.Module, cfg: TrainConfig) -> Muon:
    """Muon (with `muon_weight_decay`) for the matrices of every `nn.Linear` except the LM head; AdamW
    (`learning_rate`, betas) for the embeddings and head (with `weight_decay`) and for all vectors (without)."""
    head = getattr(model, "lm_head", None)
    hidden = {id(m.weight) for m in model.modules() if isinstance(m, nn.Linear) and m is not head}
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if id(p) in hidden], "use_muon": True,
         "lr_scale": cfg.muon_lr / cfg.learning_rate, "weight_decay": cfg.muon_weight_decay},
        {"params": [p for p in params if id(p) not in hidden and p.dim() >= 2], "use_muon": False,
         "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if id(p) not in hidden and p.dim() < 2], "use_muon": False},
    ]
    return Muon([g for g in groups if g["params"]], lr=cfg.learning_rate, momentum=cfg.muon_momentum,
                betas=(cfg.beta1, cfg.beta2))
