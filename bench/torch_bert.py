#!/usr/bin/python3
"""PyTorch side of ja-bert's benchmark: the same BERT shape, steps and batch.

A plain Hugging Face-style BertForSequenceClassification written with torch.nn
(transformers is not installed here), Adam-style optimizer, dropout on in
training. --dtype bf16 runs under torch.autocast('cpu', dtype=torch.bfloat16),
PyTorch's fastest CPU mode where the CPU has native bf16. Prints one JSON line.

Debian's torch calls whatever libblas.so.3 the alternatives system points to.
Without libopenblas0-pthread that is the reference BLAS (a few GFLOP/s), and
every f32 number would be void: the script finds the BLAS library actually
mapped into the process and refuses (exit 3) to run on the reference one.
"""
import argparse
import ctypes
import json
import os
import sys
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(s, D, H, I, p):
        super().__init__()
        s.H = H
        s.q, s.k, s.v, s.o = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        s.ln1, s.ln2 = nn.LayerNorm(D, eps=1e-12), nn.LayerNorm(D, eps=1e-12)
        s.i, s.out = nn.Linear(D, I), nn.Linear(I, D)
        s.drop = nn.Dropout(p)

    def forward(s, x, madd):
        B, S, D = x.shape
        dh = D // s.H
        sp = lambda t: t.view(B, S, s.H, dh).transpose(1, 2)
        q, k, v = sp(s.q(x)), sp(s.k(x)), sp(s.v(x))
        p = s.drop(torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + madd, -1))
        ctx = (p @ v).transpose(1, 2).reshape(B, S, D)
        h = s.ln1(s.drop(s.o(ctx)) + x)
        return s.ln2(s.drop(s.out(F.gelu(s.i(h)))) + h)


class Bert(nn.Module):
    def __init__(s, V, D, L, H, I, P=512, p=0.1):
        super().__init__()
        s.we, s.pe, s.te = nn.Embedding(V, D), nn.Embedding(P, D), nn.Embedding(2, D)
        s.ln = nn.LayerNorm(D, eps=1e-12)
        s.layers = nn.ModuleList([Layer(D, H, I, p) for _ in range(L)])
        s.pool, s.cls = nn.Linear(D, D), nn.Linear(D, 2)
        s.drop = nn.Dropout(p)

    def forward(s, ids, tt, mask):
        S = ids.shape[1]
        x = s.drop(s.ln(s.we(ids) + s.pe(torch.arange(S))[None] + s.te(tt)))
        madd = (1.0 - mask[:, None, None, :].float()) * -10000.0
        for l in s.layers:
            x = l(x, madd)
        return s.cls(s.drop(torch.tanh(s.pool(x[:, 0]))))


def blas_in_use():
    """(path, OpenBLAS core name or None) of the BLAS library torch's f32 matmul runs on"""
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    a @ b  # make sure the BLAS is loaded
    libs = sorted({os.path.realpath(l.split()[-1]) for l in open("/proc/self/maps") if "blas" in l.rsplit("/", 1)[-1]})
    core = None
    for lib in libs:
        if "openblas" in lib:
            try:
                f = ctypes.CDLL(lib).openblas_get_corename
                f.restype = ctypes.c_char_p
                core = f().decode()
            except (OSError, AttributeError):
                pass
    return libs, core


def bench_args(ints, flags=()):
    """the twins' command line: integer options with their defaults, --mode, --dtype and on/off flags; then the thread count set and
    the BLAS checked (exit 3 on the reference BLAS, a comparison against which would be void). Returns (options, libs, core)."""
    a = argparse.ArgumentParser()
    for k, d in ints:
        a.add_argument("--" + k, type=int, default=d)
    a.add_argument("--mode", default="train")
    a.add_argument("--dtype", default="f32")
    for f in flags:
        a.add_argument("--" + f, action="store_true")
    o = a.parse_args()
    torch.set_num_threads(o.threads)
    libs, core = blas_in_use()
    if not any("openblas" in l or "mkl" in l or "blis" in l for l in libs):
        sys.stderr.write("PyTorch runs on the reference BLAS (%s): install libopenblas0-pthread (JA_BERT_DEV=1 bash scripts/setup.sh); "
                         "comparing against it would be void\n" % ", ".join(libs or ["none found"]))
        sys.exit(3)
    return o, libs, core


def main():
    o, libs, core = bench_args([("layers", 12), ("hidden", 768), ("heads", 12), ("intermediate", 3072), ("vocab", 32768), ("seq", 128),
                                ("batch", 8), ("steps", 10), ("warmup", 2), ("threads", 2)])
    torch.manual_seed(0)
    m = Bert(o.vocab, o.hidden, o.layers, o.heads, o.intermediate, max(512, o.seq))
    ids = torch.randint(0, o.vocab, (o.batch, o.seq))
    tt = (torch.arange(o.seq)[None].expand(o.batch, -1) >= o.seq // 2).long()
    mask = torch.ones(o.batch, o.seq, dtype=torch.long)
    y = torch.randint(0, 2, (o.batch,))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5, eps=1e-6, weight_decay=0.01)
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if o.dtype == "bf16" else (lambda: torch.autocast("cpu", enabled=False))

    def forward():
        return m(ids, tt, mask)

    run_and_report(m, forward, y, opt, ac, o, o.batch * o.seq, libs, core)


def run_and_report(m, forward, y, opt, ac, o, tokens, libs, core, **extra):
    """the timed steps both PyTorch twins run: inference (no grad) or a training step (cross-entropy, backward, clip
    norm 1, AdamW) under `ac`, warm-up steps first; prints the one JSON line (tokens: counted per step)"""
    def step():
        if o.mode == "infer":
            m.eval()
            with torch.no_grad(), ac():
                forward()
            return
        m.train()
        with ac():
            loss = F.cross_entropy(forward().float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
        opt.step()

    for _ in range(o.warmup):
        step()
    t = time.perf_counter()
    for _ in range(o.steps):
        step()
    sec = time.perf_counter() - t
    print(json.dumps({"engine": "pytorch", "torch": torch.__version__, "mode": o.mode, "dtype": o.dtype, "layers": o.layers,
                      "hidden": o.hidden, "seq": o.seq, "batch": o.batch, "steps": o.steps, "seconds": sec,
                      "steps_per_s": o.steps / sec, "tokens_per_s": o.steps * tokens / sec,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "threads": torch.get_num_threads(),
                      "blas": libs, "openblas_core": core, "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
                      "autocast_bf16": o.dtype == "bf16", **extra}))


if __name__ == "__main__":
    main()
