# ruff: noqa
# Exploratory script of 2026-12-05 (see README.md here), kept as it was run; paths point to /tmp/nb10.
import sys
import time

import torch

torch.set_num_threads(1)
import copy

from nanogpt_lib import get_config, load_corpus, train
from nanogpt_lib.finetune import SFTConfig, chat_model, sft, text_loss
from nanogpt_lib.rl import RLConfig, grpo
from nanogpt_lib.tasks import grade, make_examples

steps = int(sys.argv[1])
corpus = load_corpus()
t = time.time()
cfg = get_config("modern", max_iters=steps, eval_interval=steps, eval_iters=10)
res = train(cfg, corpus, progress=False, verbose=False)
print("pretrain", steps, time.time()-t, res.history.eval_val_loss, flush=True)
torch.save(res.model.state_dict(), f"/tmp/nb10/base{steps}.pt")
model, tok = chat_model(res.model, corpus.tokenizer)
train_set = make_examples("train", 2000, 0); test_set = make_examples("test", 100, 0)
t = time.time(); g = grade(model, tok, test_set); print("base", time.time()-t, g.table(), flush=True)
val = corpus.val
print("text loss base", text_loss(model, val))
t = time.time()
h = sft(model, tok, [e.conversation() for e in train_set], SFTConfig(steps=300, seed=0))
print("sft", time.time()-t, h.train_loss[-5:], flush=True)
g = grade(model, tok, test_set); print("sft", g.table(), flush=True)
print("text loss sft", text_loss(model, val))
sftm = copy.deepcopy(model)
t = time.time()
logs = grpo(model, tok, train_set, RLConfig(steps=100, seed=0), callback=lambda s, m: print(s, {k: round(v, 3) for k, v in m.items()}, flush=True))
print("grpo", time.time()-t)
g = grade(model, tok, test_set); print("grpo", g.table(), flush=True)
print("text loss grpo", text_loss(model, val))
torch.save(sftm.state_dict(), f"/tmp/nb10/sft{steps}.pt")
