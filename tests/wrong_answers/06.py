"""Typical wrong answers to notebook 06's exercises (tests/test_exercises.py runs each self-check against them)."""

WRONG = {
    "bpe-encode-hand": [
        ("no regex pre-split: merges the whole text as one sequence of bytes", """\
ranks = {pair: 256 + i for i, pair in enumerate(merges)}
ids = list(text.encode("utf-8"))
while len(ids) >= 2:
    pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
    if pair not in ranks:
        break
    ids = merge(ids, pair, ranks[pair])
return ids
""", r"chunk boundary.*GPT2_SPLIT_PATTERN"),
        ("merges the leftmost mergeable pair, not the one learned first", """\
ranks = {pair: 256 + i for i, pair in enumerate(merges)}
out = []
for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
    ids = list(chunk.encode("utf-8"))
    while True:
        pair = next((p for p in zip(ids, ids[1:]) if p in ranks), None)
        if pair is None:
            break
        ids = merge(ids, pair, ranks[pair])
    out.extend(ids)
return out
""", r"lowest rank"),
        ("merges the most frequent pair, as in training", """\
ranks = {pair: 256 + i for i, pair in enumerate(merges)}
out = []
for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
    ids = list(chunk.encode("utf-8"))
    while True:
        stats = get_stats([ids])
        known = [p for p in stats if p in ranks]
        if not known:
            break
        pair = max(known, key=lambda p: stats[p])
        ids = merge(ids, pair, ranks[pair])
    out.extend(ids)
return out
""", r"lowest rank"),
        ("one merge per chunk: no loop until nothing merges", """\
ranks = {pair: 256 + i for i, pair in enumerate(merges)}
out = []
for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
    ids = list(chunk.encode("utf-8"))
    if len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair in ranks:
            ids = merge(ids, pair, ranks[pair])
    out.extend(ids)
return out
""", r"repeat"),
        ("merge k gets id 255 + k (off by one)", """\
ranks = {pair: 255 + i for i, pair in enumerate(merges)}
out = []
for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
    ids = list(chunk.encode("utf-8"))
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            break
        ids = merge(ids, pair, ranks[pair])
    out.extend(ids)
return out
""", r"256 \+ k"),
        ("code points instead of UTF-8 bytes", """\
ranks = {pair: 256 + i for i, pair in enumerate(merges)}
out = []
for chunk in regex.findall(GPT2_SPLIT_PATTERN, text):
    ids = [ord(c) for c in chunk]
    while len(ids) >= 2:
        pair = min(zip(ids, ids[1:]), key=lambda p: ranks.get(p, float("inf")))
        if pair not in ranks:
            break
        ids = merge(ids, pair, ranks[pair])
    out.extend(ids)
return out
""", r"UTF-8 bytes"),
    ],
    "bpe-decode-hand": [
        ("decodes each token on its own: splits characters whose bytes span two tokens", """\
table = [bytes([i]) for i in range(256)]
for a, b in merges:
    table.append(table[a] + table[b])
return "".join(table[i].decode("utf-8", errors="replace") for i in ids)
""", r"split across tokens"),
        ("a merge's parts joined in the wrong order", """\
table = [bytes([i]) for i in range(256)]
for a, b in merges:
    table.append(table[b] + table[a])
return b"".join(table[i] for i in ids).decode("utf-8", errors="replace")
""", r"first part"),
        ("strict UTF-8 decoding: fails on bytes that are not valid UTF-8", """\
table = [bytes([i]) for i in range(256)]
for a, b in merges:
    table.append(table[a] + table[b])
return b"".join(table[i] for i in ids).decode("utf-8")
""", r"errors=.replace"),
        ("returns the bytes, not the text", """\
table = [bytes([i]) for i in range(256)]
for a, b in merges:
    table.append(table[a] + table[b])
return b"".join(table[i] for i in ids)
""", r"str"),
    ],
    "bpe-vocab-sweep": [
        ("tokens per byte instead of bytes per token", """\
big = BPETokenizer.train(train_text, max(sizes))
bytes_per_token = [len(BPETokenizer(big.merges[: size - 257]).encode(val_text)) / val_bytes for size in sizes]
""", r"tokens per byte"),
        ("measured on the training text, which the tokenizer learned from", """\
big = BPETokenizer.train(train_text, max(sizes))
train_bytes = len(train_text.encode("utf-8"))
bytes_per_token = [train_bytes / len(BPETokenizer(big.merges[: size - 257]).encode(train_text)) for size in sizes]
""", r"val_text"),
        ("every size uses all the merges of the largest vocabulary", """\
big = BPETokenizer.train(train_text, max(sizes))
bytes_per_token = [val_bytes / len(big.encode(val_text)) for size in sizes]
""", r"its own merges"),
        ("one merge too many per size (size - 256: forgets <|endoftext|>)", """\
big = BPETokenizer.train(train_text, max(sizes))
bytes_per_token = [val_bytes / len(BPETokenizer(big.merges[: size - 256]).encode(val_text)) for size in sizes]
""", r"size - 257"),
    ],
}
