# ruff: noqa
# Exploratory script of 2026-12-05 (see README.md here), kept as it was run; paths point to /tmp/nb10.
import sys
import time

import torch

torch.set_num_threads(1)
from nanogpt_lib import GPT, get_config, load_corpus
from nanogpt_lib.finetune import SFTConfig, chat_model, sft, text_loss
from nanogpt_lib.tasks import grade, make_examples

lr = float(sys.argv[1]); steps = int(sys.argv[2])
corpus = load_corpus()
cfg = get_config("modern")
base = GPT(cfg.model_config(65)); base.load_state_dict(torch.load("/tmp/nb10/base900.pt")); base.eval()
model, tok = chat_model(base, corpus.tokenizer)
train_set = make_examples("train", 2000, 0); test_set = make_examples("test", 50, 0)
t0 = time.time()
def cb(s, h):
    if s % 100 == 0 or s == steps:
        g = grade(model, tok, test_set)
        print(s, round(time.time()-t0), round(h.train_loss[-1], 3), {k: v.accuracy for k, v in g.scores().items()}, "text", round(text_loss(model, corpus.val, 5000), 3), flush=True)
        model.train()
sft(model, tok, [e.conversation() for e in train_set], SFTConfig(steps=steps, seed=0, learning_rate=lr, min_lr=lr/10, log_interval=50, optimizer=sys.argv[3], muon_lr=float(sys.argv[4])), callback=cb)
torch.save(model.state_dict(), f"/tmp/nb10/sft_lr{lr}_{steps}.pt")
