#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Builds the tiny GPT-2-format tokenizer in this folder (vocab.json + merges.txt).

Byte-level BPE trained on CORPUS below, exactly as GPT-2's files are laid out: ids 0..255 are
the 256 byte tokens in GPT-2's bytes_to_unicode order, then one id per merge (in rank order),
then <|endoftext|>. Deterministic: the most frequent pair wins, ties by the smaller pair.
Run from anywhere: python3 make_tiny_bpe.py  (standard library only).
"""
import collections
import json
import os
import re

CORPUS = """
the cat sat on the mat. the dog sat on the log.
the cat and the dog are friends; they're happy, aren't they?
we'll see the cats and the dogs in the morning.
it's 2024 and the year 1999 was long ago.
hello world, hello there, the world is wide.
"""
NUM_MERGES = 48

def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return bs, [chr(c) for c in cs]

# GPT-2's pattern with ASCII classes (the corpus is ASCII): \p{L} -> [A-Za-z], \p{N} -> [0-9].
PAT = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")

def main():
    here = os.path.dirname(os.path.abspath(__file__))
    bs, cs = bytes_to_unicode()
    enc = dict(zip(bs, cs))
    words = collections.Counter(tuple(enc[b] for b in w.encode()) for w in PAT.findall(CORPUS.strip()))
    vocab = {cs[i]: i for i in range(256)}
    merges = []
    for _ in range(NUM_MERGES):
        pairs = collections.Counter()
        for w, c in words.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] += c
        if not pairs:
            break
        best = min(pairs, key=lambda p: (-pairs[p], p))
        merges.append(best)
        vocab[best[0] + best[1]] = len(vocab)
        new = collections.Counter()
        for w, c in words.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1]); i += 2
                else:
                    out.append(w[i]); i += 1
            new[tuple(out)] += c
        words = new
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(here, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(here, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        for a, b in merges:
            f.write(f"{a} {b}\n")

if __name__ == "__main__":
    main()
