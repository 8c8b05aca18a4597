# ruff: noqa
# Exploratory script of 2026-12-05 (see README.md here), kept as it was run; paths point to /tmp/nb10.
import sys
import time

import torch

torch.set_num_threads(1)
from nanogpt_lib import GPT, get_config, load_corpus
from nanogpt_lib.finetune import chat_model
from nanogpt_lib.rl import RLConfig, grpo
from nanogpt_lib.tasks import grade, make_examples

lr = float(sys.argv[1]); steps = int(sys.argv[2]); kl = float(sys.argv[3])
corpus = load_corpus()
base = GPT(get_config("modern").model_config(65))
model, tok = chat_model(base, corpus.tokenizer)
model.load_state_dict(torch.load(sys.argv[6])); model.eval()
train_set = [e for e in make_examples("train", 2000, 0) if e.task in sys.argv[4].split(",")]; test_set = make_examples("test", 100, 0)
g = grade(model, tok, test_set); print("sft", {k: v.accuracy for k, v in g.scores().items()}, flush=True)
t0 = time.time()
def cb(s, m):
    print(s, round(time.time()-t0), {k: round(v, 3) for k, v in m.items()}, flush=True)
    if s % 30 == 0:
        g = grade(model, tok, test_set); print("  eval", {k: v.accuracy for k, v in g.scores().items()}, flush=True)
        model.train()
grpo(model, tok, train_set, RLConfig(steps=steps, seed=0, learning_rate=lr, kl_coef=kl, temperature=float(sys.argv[5]), scale_advantage=sys.argv[7] == "1"), callback=cb)
