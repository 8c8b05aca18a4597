# ruff: noqa
# Exploratory script of 2026-12-05 (see README.md here), kept as it was run; paths point to /tmp/nb10.
import sys
import time

import torch

torch.set_num_threads(1)
from nanogpt_lib import GPT, get_config, load_corpus
from nanogpt_lib.finetune import chat_model
from nanogpt_lib.rl import RLConfig, grpo, prefix_reward
from nanogpt_lib.tasks import make_examples

corpus = load_corpus()
model, tok = chat_model(GPT(get_config("modern").model_config(65)), corpus.tokenizer)
model.load_state_dict(torch.load("/tmp/nb10/sft_lr0.001_600.pt"))
train_set = make_examples("train", 2000, 0)
t0 = time.time()
grpo(model, tok, train_set, RLConfig(steps=int(sys.argv[2]), seed=0, learning_rate=float(sys.argv[1]), kl_coef=0.0, log_interval=5), reward_fn=prefix_reward,
     callback=lambda s, m: print(s, round(time.time() - t0), {k: round(v, 3) for k, v in m.items()}, flush=True))
