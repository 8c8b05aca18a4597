"""Typical wrong answers to notebook 03's exercises (tests/test_exercises.py runs each self-check against them)."""
WRONG = {
    "ex03-block-params": [
        ("LayerNorm weights forgotten", """\
def block_params(n_embd: int) -> int:
    return 4 * n_embd * n_embd + 2 * n_embd * 4 * n_embd
""", r"LayerNorm.*missing"),
        ("LayerNorm biases counted although bias=False", """\
def block_params(n_embd: int) -> int:
    return 12 * n_embd * n_embd + 4 * n_embd
""", r"LayerNorm biases"),
        ("q, k, v only: the output projection forgotten", """\
def block_params(n_embd: int) -> int:
    return 3 * n_embd * n_embd + 8 * n_embd * n_embd + 2 * n_embd
""", r"output projection"),
        ("the MLP counted as one matrix", """\
def block_params(n_embd: int) -> int:
    return 4 * n_embd * n_embd + n_embd * 4 * n_embd + 2 * n_embd
""", r"MLP has two matrices"),
        ("Linear biases counted although bias=False", """\
def block_params(n_embd: int) -> int:
    return 12 * n_embd * n_embd + 2 * n_embd + 9 * n_embd
""", r"Linear biases"),
    ],
    "ex03-post-norm": [
        ("pre-norm, as in our Block", """\
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = LayerNorm(n_embd)
        self.ln_2 = LayerNorm(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))
""", r"pre-norm"),
        ("no residual connections", """\
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = LayerNorm(n_embd)
        self.ln_2 = LayerNorm(n_embd)

    def forward(self, x):
        x = self.ln_1(self.attn(x))
        return self.ln_2(self.mlp(x))
""", r"no residual"),
        ("the residual around the MLP forgotten", """\
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = LayerNorm(n_embd)
        self.ln_2 = LayerNorm(n_embd)

    def forward(self, x):
        x = self.ln_1(x + self.attn(x))
        return self.ln_2(self.mlp(x))
""", r"residual connection around the MLP"),
        ("ln_1 and ln_2 swapped", """\
class PostNormBlock(nn.Module):
    def __init__(self, n_embd: int, n_head: int, block_size: int):
        super().__init__()
        self.attn = MultiHeadAttention(n_embd, n_head, block_size)
        self.mlp = FeedForward(n_embd)
        self.ln_1 = LayerNorm(n_embd)
        self.ln_2 = LayerNorm(n_embd)

    def forward(self, x):
        x = self.ln_2(x + self.attn(x))
        return self.ln_1(x + self.mlp(x))
""", r"swapped"),
    ],
    "ex03-gradient-depth": [
        ("the ratio upside down", """\
g = grad_norms["plain"]
shrink_per_block = (g[0] / g[-1]) ** (1 / (depths[-1] - depths[0]))
blocks_per_decade = math.log(10) / math.log(shrink_per_block)
""", r"inverted"),
        ("off by one: 16 blocks in the exponent instead of the 15 added", """\
g = grad_norms["plain"]
shrink_per_block = (g[-1] / g[0]) ** (1 / depths[-1])
blocks_per_decade = math.log(10) / -math.log(shrink_per_block)
""", r"off by one"),
        ("per step of the list (a doubling of depth), not per block", """\
g = grad_norms["plain"]
shrink_per_block = (g[-1] / g[0]) ** (1 / (len(depths) - 1))
blocks_per_decade = math.log(10) / -math.log(shrink_per_block)
""", r"per doubling"),
        ("the residual stack's norms", """\
g = grad_norms["residual"]
shrink_per_block = (g[-1] / g[0]) ** (1 / (depths[-1] - depths[0]))
blocks_per_decade = math.log(10) / -math.log(shrink_per_block)
""", r"residual stack"),
        ("blocks per factor e, not per factor 10", """\
g = grad_norms["plain"]
shrink_per_block = (g[-1] / g[0]) ** (1 / (depths[-1] - depths[0]))
blocks_per_decade = 1 / -math.log(shrink_per_block)
""", r"natural log"),
    ],
}
