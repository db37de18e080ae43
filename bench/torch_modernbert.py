#!/usr/bin/python3
"""PyTorch side of ja-bert's ModernBERT benchmark: the same shape, steps and batch as the ja-bert run.

ModernBertForSequenceClassification written with torch.nn from Hugging Face's modeling_modernbert.py (transformers is
not installed here; Debian's torch 1.13 has no scaled_dot_product_attention, so the eager attention path, which is
what HF runs on a CPU without flash-attention, padded): tok_embeddings, norm; pre-norm layers (attn_norm an identity on
layer 0) with Wqkv, rotary q and k, the sliding-window mask on local layers, Wo; mlp_norm, Wi -> GeGLU -> Wo; final_norm;
head (dense, GELU, norm) on the first token; classifier. No biases, as the published models. AdamW, clip norm 1;
--dtype bf16 runs under torch.autocast('cpu', dtype=torch.bfloat16), PyTorch's fastest CPU mode where bf16 is native.
--mixed: row lengths drawn from [16, seq] (the same generator as ja-bert's), padded; tokens/s counts real tokens.
Prints one JSON line.
"""
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bert import bench_args, run_and_report  # noqa: E402


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class Layer(nn.Module):
    def __init__(s, D, H, I, first, local, half):
        super().__init__()
        s.H, s.local, s.half = H, local, half
        s.attn_norm = None if first else nn.Parameter(torch.ones(D))
        s.Wqkv, s.Wo = nn.Linear(D, 3 * D, bias=False), nn.Linear(D, D, bias=False)
        s.mlp_norm = nn.Parameter(torch.ones(D))
        s.Wi, s.Wo2 = nn.Linear(D, 2 * I, bias=False), nn.Linear(I, D, bias=False)

    def forward(s, x, gmask, smask, cos, sin):
        B, S, D = x.shape
        dh = D // s.H
        a = x if s.attn_norm is None else F.layer_norm(x, (D,), s.attn_norm, None, 1e-5)
        q, k, v = s.Wqkv(a).view(B, S, 3, s.H, dh).transpose(3, 1).unbind(dim=2)
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        w = torch.softmax(q @ k.transpose(2, 3) * dh ** -0.5 + (smask if s.local else gmask), dim=-1, dtype=torch.float32).to(q.dtype)
        x = x + s.Wo((w @ v).transpose(1, 2).reshape(B, S, D))
        i, g = s.Wi(F.layer_norm(x, (D,), s.mlp_norm, None, 1e-5)).chunk(2, dim=-1)
        return x + s.Wo2(F.gelu(i) * g)


class ModernBert(nn.Module):
    def __init__(s, V, D, L, H, I, every, window):
        super().__init__()
        s.D, s.H, s.every, s.window = D, H, every, window
        s.emb = nn.Embedding(V, D)
        s.emb_norm = nn.Parameter(torch.ones(D))
        s.layers = nn.ModuleList([Layer(D, H, I, l == 0, l % every != 0, window // 2) for l in range(L)])
        s.final_norm, s.head_norm = nn.Parameter(torch.ones(D)), nn.Parameter(torch.ones(D))
        s.head, s.cls = nn.Linear(D, D, bias=False), nn.Linear(D, 2)

    def forward(s, ids, mask):
        B, S = ids.shape
        D, dh = s.D, s.D // s.H
        x = F.layer_norm(s.emb(ids), (D,), s.emb_norm, None, 1e-5)
        minv = torch.finfo(torch.float32).min
        gmask = ((1.0 - mask[:, None, None, :].float()) * minv).expand(B, 1, S, S)
        rows = torch.arange(S)[None]
        smask = gmask.masked_fill((torch.abs(rows - rows.T) > s.window // 2)[None, None], minv)
        cs = {}
        for theta in (160000.0, 10000.0):
            inv = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
            fr = (inv[:, None] @ torch.arange(S)[None, :].float()).transpose(0, 1)
            e = torch.cat((fr, fr), dim=-1)
            cs[theta] = (e.cos(), e.sin())
        for l, layer in enumerate(s.layers):
            cos, sin = cs[10000.0 if l % s.every else 160000.0]
            x = layer(x, gmask, smask, cos, sin)
        x = F.layer_norm(x, (D,), s.final_norm, None, 1e-5)
        return s.cls(F.layer_norm(F.gelu(s.head(x[:, 0])).float(), (D,), s.head_norm, None, 1e-5))


def mixed_lengths(batch, seq, seed):
    """the lengths ja-bert's bench draws (src/bench.ts): 16 + floor(u * (seq - 15)), u from a 32-bit LCG"""
    out, x = [], seed
    for _ in range(batch):
        x = (x * 1664525 + 1013904223) % 4294967296
        out.append(16 + (x * (seq - 15)) // 4294967296)
    return out


def main():
    o, libs, core = bench_args([("layers", 19), ("hidden", 512), ("heads", 8), ("intermediate", 2048), ("vocab", 102400), ("seq", 512), ("batch", 8), ("steps", 3), ("warmup", 1), ("threads", 2), ("every", 3), ("window", 128)], ('mixed',))
    torch.manual_seed(0)
    m = ModernBert(o.vocab, o.hidden, o.layers, o.heads, o.intermediate, o.every, o.window)
    ids = torch.randint(0, o.vocab, (o.batch, o.seq))
    lens = mixed_lengths(o.batch, o.seq, 7) if o.mixed else [o.seq] * o.batch
    mask = torch.zeros(o.batch, o.seq, dtype=torch.long)
    for b, n in enumerate(lens):
        mask[b, :n] = 1
    y = torch.randint(0, 2, (o.batch,))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5, eps=1e-6, weight_decay=0.01)
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if o.dtype == "bf16" else (lambda: torch.autocast("cpu", enabled=False))

    run_and_report(m, lambda: m(ids, mask), y, opt, ac, o, sum(lens), libs, core, real_tokens=sum(lens))


if __name__ == "__main__":
    main()
