#!/usr/bin/python3
"""PyTorch side of ja-bert's DeBERTa benchmark: the same shape, steps and batch as the ja-bert run.

DebertaV2ForSequenceClassification written with torch.nn from Hugging Face's modeling_deberta_v2.py (transformers is not
installed here), with ku-nlp/deberta-v2-base-japanese's settings: no absolute positions, no token types, the
relative-position table (2 * 256 rows) through encoder.LayerNorm, log buckets (256 over 512 positions), share_att_key,
c2p and p2c as HF computes them (the q and k products against all 512 projected rows, then torch.gather, then p2c's
transpose), post-LN layers, ContextPooler (dense, GELU) on the first token, classifier; dropout 0.1 everywhere HF has it
(pos_dropout on the table per layer included). AdamW, clip norm 1; --dtype bf16 runs under torch.autocast('cpu',
dtype=torch.bfloat16), PyTorch's fastest CPU mode where bf16 is native. Prints one JSON line.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_bert import bench_args, run_and_report  # noqa: E402


def make_log_bucket_position(relative_pos, bucket_size, max_position):
    sign = torch.sign(relative_pos)
    mid = bucket_size // 2
    abs_pos = torch.where((relative_pos < mid) & (relative_pos > -mid), torch.tensor(mid - 1).type_as(relative_pos), torch.abs(relative_pos))
    log_pos = torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    return torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)


class Layer(nn.Module):
    def __init__(s, D, H, I, p):
        super().__init__()
        s.H = H
        s.query_proj, s.key_proj, s.value_proj, s.o = nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D), nn.Linear(D, D)
        s.ln1, s.ln2 = nn.LayerNorm(D, eps=1e-7), nn.LayerNorm(D, eps=1e-7)
        s.i, s.out = nn.Linear(D, I), nn.Linear(I, D)
        s.drop = nn.Dropout(p)

    def forward(s, x, am, rel, relative_pos, span):
        B, S, D = x.shape
        H, dh = s.H, D // s.H
        t = lambda y: y.view(*y.shape[:-1], H, dh).transpose(-3, -2)
        q, k, v = t(s.query_proj(x)), t(s.key_proj(x)), t(s.value_proj(x))
        scale = math.sqrt(dh * 3)
        scores = q @ k.transpose(-1, -2) / scale
        r = s.drop(rel)  # pos_dropout
        pos_q, pos_k = t(s.query_proj(r)), t(s.key_proj(r))  # share_att_key: [H, 2 span, dh]
        c2p = torch.gather(q @ pos_k.transpose(-1, -2), -1, torch.clamp(relative_pos + span, 0, 2 * span - 1).expand(B, H, S, S))
        p2c = torch.gather(k @ pos_q.transpose(-1, -2), -1, torch.clamp(-relative_pos + span, 0, 2 * span - 1).expand(B, H, S, S)).transpose(-1, -2)
        scores = scores + c2p / scale + p2c / scale
        p = s.drop(torch.softmax(scores.masked_fill(~am, torch.finfo(scores.dtype).min), -1, dtype=torch.float32).to(v.dtype))
        ctx = (p @ v).transpose(1, 2).reshape(B, S, D)
        h = s.ln1(s.drop(s.o(ctx)) + x)
        return s.ln2(s.drop(s.out(F.gelu(s.i(h)))) + h)


class Deberta(nn.Module):
    def __init__(s, V, D, L, H, I, buckets=256, max_rel=512, p=0.1):
        super().__init__()
        s.span, s.buckets, s.max_rel = buckets, buckets, max_rel
        s.we = nn.Embedding(V, D)
        s.ln = nn.LayerNorm(D, eps=1e-7)
        s.rel_embeddings, s.rel_ln = nn.Embedding(2 * buckets, D), nn.LayerNorm(D, eps=1e-7)
        s.layers = nn.ModuleList([Layer(D, H, I, p) for _ in range(L)])
        s.pool, s.cls = nn.Linear(D, D), nn.Linear(D, 2)
        s.drop = nn.Dropout(p)

    def forward(s, ids, mask):
        S = ids.shape[1]
        x = s.drop(s.ln(s.we(ids)) * mask[..., None])
        am = (mask[:, None, None, :] * mask[:, None, :, None]).bool()
        ids_ = torch.arange(S)
        relative_pos = make_log_bucket_position(ids_[:, None] - ids_[None, :], s.buckets, s.max_rel).long()[None, None]
        rel = s.rel_ln(s.rel_embeddings.weight)
        for l in s.layers:
            x = l(x, am, rel, relative_pos, s.span)
        return s.cls(s.drop(F.gelu(s.pool(x[:, 0]))))


def main():
    o, libs, core = bench_args([("layers", 12), ("hidden", 768), ("heads", 12), ("intermediate", 3072), ("vocab", 32000), ("seq", 128), ("batch", 8), ("steps", 3), ("warmup", 1), ("threads", 2)])
    torch.manual_seed(0)
    m = Deberta(o.vocab, o.hidden, o.layers, o.heads, o.intermediate)
    ids = torch.randint(0, o.vocab, (o.batch, o.seq))
    mask = torch.ones(o.batch, o.seq, dtype=torch.long)
    y = torch.randint(0, 2, (o.batch,))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-5, eps=1e-6, weight_decay=0.01)
    ac = (lambda: torch.autocast("cpu", dtype=torch.bfloat16)) if o.dtype == "bf16" else (lambda: torch.autocast("cpu", enabled=False))
    run_and_report(m, lambda: m(ids, mask), y, opt, ac, o, o.batch * o.seq, libs, core)


if __name__ == "__main__":
    main()
