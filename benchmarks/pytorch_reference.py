#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Times the model of benchmarks/transformer_bench.cpp in PyTorch, for the ratio in docs/transformer.md.

Same shapes: GPT-2 family, V 256, n_positions 64, C 128, 4 layers, 4 heads, tied LM head
(834,304 parameters); one training step = forward + mean token NLL + backward + AdamW on a 16 x 64
batch; plus KV-cache greedy decoding of 64 tokens at batch 1 and 16.
With --reward: the reward-model training step of benchmarks/reward_bench.cpp instead — the same
trunk with a bias-free scalar head (score.weight [1, C]) read at the last token, 16 preference
pairs x 64 tokens (both sides in one forward pass of 32 rows), mean -log sigmoid(r+ - r-),
backward, AdamW; reported as pairs/s next to BM_reward_train_step's pairs/s counter.

Usage:  python3 benchmarks/pytorch_reference.py [--threads 1 2] [--steps 20] [--reward]
Needs torch (CPU build is enough). For 2-thread numbers on Debian, PyTorch wheels bring their own
OpenMP; when PyTorch is linked against the system BLAS instead, install libopenblas0-openmp (not
libopenblas0-pthread) so that torch.set_num_threads controls the BLAS threads too.
Reference numbers given for PyTorch 1.13 on this machine: 84 ms per train step on 1 thread, 52 ms
on 2 (torch is not installed in the build image, so this script was not run here).
"""
import argparse
import math
import time


def build(torch, n_positions=64):
    nn = torch.nn
    F = torch.nn.functional
    V, C, L, H = 256, 128, 4, 4

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.ln_1 = nn.LayerNorm(C, eps=1e-5)
            self.c_attn = nn.Linear(C, 3 * C)
            self.c_proj = nn.Linear(C, C)
            self.ln_2 = nn.LayerNorm(C, eps=1e-5)
            self.c_fc = nn.Linear(C, 4 * C)
            self.mlp_proj = nn.Linear(4 * C, C)

        def forward(self, x, cache=None):
            B, T, _ = x.shape
            q, k, v = self.c_attn(self.ln_1(x)).split(C, dim=2)
            q, k, v = (t.view(B, T, H, C // H).transpose(1, 2) for t in (q, k, v))
            if cache is not None:
                if cache[0] is not None:
                    k = torch.cat([cache[0], k], dim=2)
                    v = torch.cat([cache[1], v], dim=2)
                cache[0], cache[1] = k, v
            causal = cache is None or T > 1
            y = F.scaled_dot_product_attention(q, k, v, is_causal=causal) if hasattr(F, "scaled_dot_product_attention") \
                else self._attn(q, k, v, causal)
            x = x + self.c_proj(y.transpose(1, 2).reshape(B, T, C))
            return x + self.mlp_proj(F.gelu(self.c_fc(self.ln_2(x)), approximate="tanh"))

        @staticmethod
        def _attn(q, k, v, causal):
            att = (q @ k.transpose(-2, -1)) / math.sqrt(q.size(-1))
            if causal:
                T, S = att.shape[-2:]
                mask = torch.ones(T, S, dtype=torch.bool).tril(S - T)
                att = att.masked_fill(~mask, float("-inf"))
            return att.softmax(-1) @ v

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.wte = nn.Embedding(V, C)
            self.wpe = nn.Embedding(n_positions, C)
            self.h = nn.ModuleList(Block() for _ in range(L))
            self.ln_f = nn.LayerNorm(C, eps=1e-5)

        def hidden(self, idx, caches=None, start=0):
            pos = torch.arange(start, start + idx.size(1))
            x = self.wte(idx) + self.wpe(pos)
            for i, b in enumerate(self.h):
                x = b(x, None if caches is None else caches[i])
            return self.ln_f(x)

        def forward(self, idx, caches=None, start=0):
            return self.hidden(idx, caches, start) @ self.wte.weight.t()

    return GPT(), V


def reward_step_bench(torch, threads_list, steps):
    """The step of BM_reward_train_step: 16 pairs x 64 tokens, scalar head at the last token."""
    model, V = build(torch)
    score = torch.nn.Linear(128, 1, bias=False)
    params = list(model.parameters()) + list(score.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    P, T = 16, 64
    x = torch.randint(0, V, (2 * P, T))  # rows [0, P) chosen, [P, 2P) rejected
    for threads in threads_list:
        torch.set_num_threads(threads)

        def step():
            r = score(model.hidden(x))[:, -1, 0]
            loss = -torch.nn.functional.logsigmoid(r[:P] - r[P:]).mean()
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        ms = (time.perf_counter() - t0) / steps * 1e3
        print(f"reward step 16 pairs x 64 tokens, {threads} thread(s): {ms:.1f} ms ({P / ms * 1e3:.0f} pairs/s)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reward", action="store_true", help="the reward-model step of reward_bench.cpp")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed; nothing to compare (pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu)")
        return
    torch.manual_seed(0)
    if args.reward:
        reward_step_bench(torch, args.threads, args.steps)
        return
    model, V = build(torch)
    print(f"torch {torch.__version__}, parameters {sum(p.numel() for p in model.parameters())}")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    x = torch.randint(0, V, (16, 64))
    for threads in args.threads:
        torch.set_num_threads(threads)

        def step():
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, V), x[:, 1:].reshape(-1))
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()

        for _ in range(3):
            step()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        ms = (time.perf_counter() - t0) / args.steps * 1e3
        print(f"train step 16x64, {threads} thread(s): {ms:.1f} ms ({16 * 64 / ms * 1e3:.0f} tokens/s)")

    torch.set_num_threads(1)
    decoder, _ = build(torch, n_positions=65)
    decoder.eval()
    with torch.no_grad():
        for rows in (1, 16):
            def decode():
                caches = [[None, None] for _ in range(4)]
                tok = torch.arange(rows).remainder(V).view(rows, 1)
                for t in range(64):
                    logits = decoder(tok, caches, start=t)
                    tok = logits[:, -1].argmax(-1, keepdim=True)
            decode()
            t0 = time.perf_counter()
            reps = 5
            for _ in range(reps):
                decode()
            s = (time.perf_counter() - t0) / reps
            print(f"KV-cache decode 64 tokens, batch {rows}: {rows * 64 / s:.0f} tokens/s")


if __name__ == "__main__":
    main()
