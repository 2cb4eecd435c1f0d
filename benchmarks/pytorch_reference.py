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
With --dpo: the DPO step of benchmarks/dpo_bench.cpp (BM_dpo_step) — the same 16 pairs x 64 tokens
(16 prompt + 48 response tokens a side, both sides in one forward pass of 32 rows) through the
policy (tied LM head), summed log-probs of the response tokens, the reference's the same way
(a second model under no_grad, "ref:1"; or computed once before the timed loop, "ref:0"), the
sigmoid DPO loss -log sigmoid(beta ((pi_w - ref_w) - (pi_l - ref_l))) with beta 0.1, backward,
AdamW; reported as ms/step, pairs/s and tokens/s next to BM_dpo_step's counters.
Every timing also gives the process CPU time per step: on 1 thread it is the work itself, robust
to other processes sharing the cores (compare it with Google Benchmark's CPU column).

With --case NAME: one case of benchmarks/compare.sh (train, score = no_grad per-token log-probs, or
greedy KV-cache decoding, on the tiny GPT or GPT-2 small), printed as one JSON line per thread count
with its peak resident memory. With --check: loads an `rlhf init` model.safetensors into this
PyTorch GPT and compares its per-token log-probs with `rlhf logprobs` (the same function?).

Usage:  /usr/bin/python3 benchmarks/pytorch_reference.py [--threads 1 2] [--steps 20] [--reward | --dpo]
        /usr/bin/python3 benchmarks/pytorch_reference.py --case train_tiny --threads 1 2 --reps 10
        /usr/bin/python3 benchmarks/pytorch_reference.py --check MODEL_DIR IDS.jsonl OURS.jsonl

BLAS. Needs torch (CPU build is enough; Debian: apt-get install python3-torch). Debian's
python3-torch (1.13.1+dfsg) is built with BLAS_INFO=generic: its matmuls go through
libblas.so.3, which by default is the netlib *reference* BLAS (package libblas3) — about 200 ms
for one 512^3 sgemm, which makes PyTorch artificially slow and every ratio against it
meaningless. The ratios in docs/performance.md assume OpenBLAS (OpenMP build) behind
libblas.so.3:
    apt-get install -y libopenblas0-openmp
    update-alternatives --display libblas.so.3-x86_64-linux-gnu   # must point to openblas-openmp
(the OpenMP build, not libopenblas0-pthread, so that torch.set_num_threads, which sets the OpenMP
thread count, controls the BLAS threads too). This script prints the BLAS library torch has loaded
and the time of a 512^3 sgemm (a few ms with OpenBLAS) before timing, so a run on the reference
BLAS is visible in its output. PyTorch wheels from download.pytorch.org bring MKL or OpenBLAS of
their own and need none of this.
On a machine whose cores are busy with other work, set OMP_WAIT_POLICY=PASSIVE for this script and
for the C++ benchmarks alike (both use libgomp): with the default spinning waits, 2-thread runs
without a free second core take several times longer than 1-thread runs; on an idle machine leave
it unset (passive waits cost every parallel region a wake-up). benchmarks/compare.sh runs every
case of both sides and prints the ratios; the measured table is in docs/performance.md.
"""
import argparse
import math
import time


TINY = dict(V=256, C=128, L=4, H=4)
GPT2_SMALL = dict(V=50257, C=768, L=12, H=12)


def build(torch, n_positions=64, V=256, C=128, L=4, H=4):
    nn = torch.nn
    F = torch.nn.functional

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

        def token_log_probs(self, idx):
            """log p(idx[:, t] | idx[:, <t]) for t >= 1: the (B, T-1) values our lm_head returns."""
            logp = F.log_softmax(self(idx)[:, :-1], dim=-1)
            return logp.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)

        def load_safetensors(self, path):
            """Loads a model.safetensors in Hugging Face GPT-2's names (Conv1D weights [in, out])."""
            import json
            import struct
            raw = open(path, "rb").read()
            (n,) = struct.unpack("<Q", raw[:8])
            header = json.loads(raw[8:8 + n])
            data = raw[8 + n:]
            own = dict(self.named_parameters())

            def tensor(name):
                meta = header[name]
                if meta["dtype"] != "F32":
                    raise ValueError(f"{path}: {name} is {meta['dtype']}; this check reads F32")
                b, e = meta["data_offsets"]
                return torch.frombuffer(bytearray(data[b:e]), dtype=torch.float32).reshape(meta["shape"])

            for name in header:
                if name == "__metadata__":
                    continue
                key = name.removeprefix("transformer.")
                mine = key.replace("attn.c_attn", "c_attn").replace("attn.c_proj", "c_proj") \
                          .replace("mlp.c_fc", "c_fc").replace("mlp.c_proj", "mlp_proj")
                if mine not in own:
                    continue
                t = tensor(name)
                if t.dim() == 2 and mine.endswith(".weight") and not mine.startswith(("wte", "wpe")):
                    t = t.t()  # Conv1D [in, out] -> Linear [out, in]
                with torch.no_grad():
                    own[mine].copy_(t.reshape(own[mine].shape))

    return GPT(), V


def reward_step(torch):
    """The step of BM_reward_train_step: 16 pairs x 64 tokens, scalar head at the last token."""
    model, V = build(torch)
    score = torch.nn.Linear(128, 1, bias=False)
    params = list(model.parameters()) + list(score.parameters())
    opt = torch.optim.AdamW(params, lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    P, T = 16, 64
    x = torch.randint(0, V, (2 * P, T))  # rows [0, P) chosen, [P, 2P) rejected

    def step():
        r = score(model.hidden(x))[:, -1, 0]
        loss = -torch.nn.functional.logsigmoid(r[:P] - r[P:]).mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
    return step


def dpo_step(torch, on_the_fly):
    """The step of BM_dpo_step: 16 pairs x 64 tokens, policy and reference log-probs, sigmoid DPO."""
    import copy
    F = torch.nn.functional
    policy, V = build(torch)
    reference = copy.deepcopy(policy)  # the same weights, as in dpo_bench.cpp
    reference.requires_grad_(False)
    opt = torch.optim.AdamW(policy.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
    P, T, prompt, beta = 16, 64, 16, 0.1
    x = torch.randint(0, V, (2 * P, T))  # rows [0, P) chosen, [P, 2P) rejected
    mask = torch.zeros(2 * P, T - 1)
    mask[:, prompt - 1:] = 1.0  # log-prob of tokens prompt..T-1, predicted at positions prompt-1..T-2

    def response_logps(model):
        logp = F.log_softmax(model(x)[:, :-1], dim=-1)
        return (logp.gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1) * mask).sum(-1)

    def ref_logps():
        with torch.no_grad():
            return response_logps(reference)
    pre = None if on_the_fly else ref_logps()

    def step():
        ref = ref_logps() if on_the_fly else pre
        pi = response_logps(policy)
        h = beta * ((pi[:P] - ref[:P]) - (pi[P:] - ref[P:]))
        loss = -F.logsigmoid(h).mean()
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
    return step


def reward_step_bench(torch, threads_list, steps):
    step = reward_step(torch)
    for threads in threads_list:
        torch.set_num_threads(threads)
        ms, cpu = timed(step, steps, warmup=3)
        print(f"reward step 16 pairs x 64 tokens, {threads} thread(s): {ms:.1f} ms ({16 / ms * 1e3:.0f} pairs/s; "
              f"process CPU {cpu:.1f} ms)")


def dpo_step_bench(torch, threads_list, steps):
    for threads in threads_list:
        torch.set_num_threads(threads)
        for on_the_fly in (True, False):
            ms, cpu = timed(dpo_step(torch, on_the_fly), steps, warmup=3)
            print(f"dpo step ref:{int(on_the_fly)} 16 pairs x 64 tokens, {threads} thread(s): {ms:.1f} ms "
                  f"({16 / ms * 1e3:.0f} pairs/s, {2 * 16 * 64 / ms * 1e3:.0f} tokens/s; process CPU {cpu:.1f} ms)")


def blas_report(torch):
    """The BLAS library loaded into this process and the time of one 512^3 sgemm on 1 thread."""
    libs = sorted({line.split()[-1] for line in open("/proc/self/maps") if "blas" in line.split()[-1]})
    torch.set_num_threads(1)
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    ms = (time.perf_counter() - t0) / 10 * 1e3
    print(f"torch {torch.__version__}; BLAS loaded: {', '.join(libs) or 'none found (bundled?)'}; "
          f"512^3 sgemm on 1 thread: {ms:.1f} ms")


def peak_rss_mb():
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def timed(fn, reps, warmup=2):
    """Median wall ms per call over `reps` calls after `warmup` calls, and the mean process CPU ms per call."""
    for _ in range(warmup):
        fn()
    walls, c0 = [], time.process_time()
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        walls.append(time.perf_counter() - t0)
    walls.sort()
    mid = walls[len(walls) // 2] if len(walls) % 2 else 0.5 * (walls[len(walls) // 2 - 1] + walls[len(walls) // 2])
    return mid * 1e3, (time.process_time() - c0) / reps * 1e3


def run_case(torch, case, threads, reps):
    """One benchmark case of benchmarks/compare.sh, the same work as its C++ counterpart."""
    F = torch.nn.functional
    torch.set_num_threads(threads)
    base_rss = peak_rss_mb()
    small = case.endswith("_small") or case.endswith("_small_1x32")
    cfg = GPT2_SMALL if small else TINY
    if case.startswith("train"):
        B, T = (4, 256) if small else (16, 64)
        model, V = build(torch, n_positions=1024 if small else 64, **cfg)
        opt = torch.optim.AdamW(model.parameters(), lr=3e-4, betas=(0.9, 0.95), weight_decay=0.1)
        x = torch.randint(0, V, (B, T))

        def step():  # the SFT step of BM_transformer_train_step: mean token NLL, backward, AdamW
            loss = -model.token_log_probs(x).mean()
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()
        ms, cpu = timed(step, reps, warmup=1 if small else 2)
        tokens = B * T
    elif case.startswith("score"):
        B, T = (1, 32) if case.endswith("1x32") else (4, 256) if small else (16, 64)
        model, V = build(torch, n_positions=1024 if small else 64, **cfg)
        model.eval()
        x = torch.randint(0, V, (B, T))

        def score():  # BM_transformer_pass/.../1 (rlhf's score): per-token log-probs, no autograd
            with torch.no_grad():
                return model.token_log_probs(x)
        ms, cpu = timed(score, reps)
        tokens = B * T
    elif case.startswith("decode"):
        rows = 16 if case.startswith("decode16") else 1
        steps = 16 if small else 64
        decoder, V = build(torch, n_positions=(1024 if small else steps + 1), **cfg)
        decoder.eval()

        def decode():  # BM_transformer_decode: greedy, KV cache, after a 1-token prompt
            with torch.no_grad():
                caches = [[None, None] for _ in range(cfg["L"])]
                tok = torch.arange(rows).remainder(V).view(rows, 1)
                for t in range(steps):
                    logits = decoder(tok, caches, start=t)
                    tok = logits[:, -1].argmax(-1, keepdim=True)
        ms, cpu = timed(decode, reps, warmup=1)
        tokens = rows * steps
    elif case in ("reward", "dpo_ref1", "dpo_ref0"):
        step = reward_step(torch) if case == "reward" else dpo_step(torch, case == "dpo_ref1")
        ms, cpu = timed(step, reps)
        tokens = 2 * 16 * 64
    else:
        raise SystemExit(f"unknown case {case}")
    return dict(case=case, threads=threads, ms=ms, cpu_ms=cpu, tokens_per_s=tokens / ms * 1e3,
                peak_rss_mb=peak_rss_mb(), torch_rss_mb=base_rss)


def check_equal(torch, model_dir, ids_file, ours_file, tol):
    """Loads an `rlhf init` model into the PyTorch GPT and compares per-token log-probs with `rlhf logprobs`."""
    import json
    cfg = json.load(open(f"{model_dir}/config.json"))
    model, _ = build(torch, n_positions=cfg["n_positions"], V=cfg["vocab_size"], C=cfg["n_embd"],
                     L=cfg["n_layer"], H=cfg["n_head"])
    model.load_safetensors(f"{model_dir}/model.safetensors")
    model.eval()
    worst = 0.0
    rows = [json.loads(line) for line in open(ids_file)]
    ours = [json.loads(line) for line in open(ours_file)]
    for rec, out in zip(rows, ours):
        ids = rec["prompt_ids"] + rec["completion_ids"]
        with torch.no_grad():
            lp = model.token_log_probs(torch.tensor([ids]))[0]
        theirs = lp[len(rec["prompt_ids"]) - 1:].tolist()  # the completion tokens' log-probs
        mine = out["completion_logprobs"]
        if len(mine) != len(theirs):
            raise SystemExit(f"length mismatch: ours {len(mine)}, PyTorch {len(theirs)}")
        worst = max(worst, max(abs(a - b) for a, b in zip(mine, theirs)))
    ok = worst <= tol
    print(json.dumps(dict(check="same function", records=len(rows), max_abs_diff=worst, tolerance=tol, ok=ok)))
    if not ok:
        raise SystemExit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--reward", action="store_true", help="the reward-model step of reward_bench.cpp")
    ap.add_argument("--dpo", action="store_true", help="the DPO step of dpo_bench.cpp")
    ap.add_argument("--case", help="one case of benchmarks/compare.sh (train_tiny, train_small, score_tiny, "
                    "score_small, score_small_1x32, decode1_tiny, decode16_tiny, decode1_small, decode16_small, reward, "
                    "dpo_ref1, dpo_ref0); "
                    "prints one JSON line per thread count")
    ap.add_argument("--reps", type=int, default=10, help="timed repetitions of --case")
    ap.add_argument("--check", nargs=3, metavar=("MODEL_DIR", "IDS_JSONL", "OURS_JSONL"),
                    help="compare per-token log-probs with `rlhf logprobs` on the same safetensors")
    ap.add_argument("--tol", type=float, default=1e-4)
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        print("torch is not installed; nothing to compare (pip install torch --index-url "
              "https://download.pytorch.org/whl/cpu)")
        return
    torch.manual_seed(0)
    if args.check:
        check_equal(torch, *args.check, args.tol)
        return
    if args.case:
        import json
        for threads in args.threads:
            print(json.dumps(run_case(torch, args.case, threads, args.reps)), flush=True)
        return
    blas_report(torch)
    if args.dpo:
        dpo_step_bench(torch, args.threads, args.steps)
        return
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
