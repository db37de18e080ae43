#!/usr/bin/python3
"""PyTorch parity fixtures for ModernBERT (dev-time only), a plain twin written from Hugging Face's
modeling_modernbert.py (the eager attention path, eval mode) and configuration_modernbert.py:

- ModernBertEmbeddings: tok_embeddings, norm (LayerNorm, bias only with norm_bias), dropout (identity in eval).
- ModernBertRotaryEmbedding: inv_freq = 1 / theta ** (arange(0, head_dim, 2).float() / head_dim) in float32, freqs =
  inv_freq x position in float32, emb = cat(freqs, freqs), cos and sin in float32 then cast to the activations' dtype;
  apply_rotary_pos_emb: q * cos + rotate_half(q) * sin, rotate_half(x) = cat(-x2, x1).
- _update_attention_mask: the padding mask with the dtype's minimum; the sliding-window mask is it, also masked where
  |i - j| > local_attention // 2. Layer l attends locally when l % global_attn_every_n_layers != 0; its rotary theta
  comes from layer_types[l] (full_attention: the global theta, sliding_attention: the local one).
- ModernBertEncoderLayer: h + Wo(attention(Wqkv(attn_norm(h)))) with attn_norm an identity on layer 0; then
  h + mlp(mlp_norm(h)), mlp = Wo(act(input) * gate) with input, gate = Wi(x).chunk(2).
- ModernBertModel: final_norm. ModernBertForSequenceClassification: the first token or the mean over attention_mask
  (classifier_pooling), head = norm(act(dense(x))), dropout, classifier.

Writes test/fixtures/parity-modernbert/ (the published models' settings: no biases, exact GELU, cls pooling, legacy
rope keys), parity-modernbert-bias/ (every bias on, tanh GELU in the layers, tanh in the head, mean pooling,
rope_parameters and layer_types in transformers 5's form) and parity-modernbert-long/ (one 4,200-token row, so that
rotary positions beyond 4,096 are exercised; hidden states at chosen positions and the logits of mean pooling).
Re-run:  /usr/bin/python3 tools/make_modernbert_fixtures.py
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_parity_fixture import write_reference, write_safetensors  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")


def act_fn(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    if name in ("gelu_new", "gelu_pytorch_tanh"):
        return lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))
    if name == "tanh":
        return torch.tanh
    if name == "relu":
        return torch.relu
    raise ValueError(name)


def thetas(cfg):
    rp = cfg.get("rope_parameters") or {}
    g = (rp.get("full_attention") or {}).get("rope_theta", cfg.get("global_rope_theta", 160000.0))
    l = (rp.get("sliding_attention") or {}).get("rope_theta", cfg.get("local_rope_theta", 10000.0))
    return {"full_attention": g, "sliding_attention": l}


def rope(theta, dh, S, dtype):
    inv_freq = 1.0 / (theta ** (torch.arange(0, dh, 2, dtype=torch.int64).float() / dh))
    freqs = (inv_freq[:, None].float() @ torch.arange(S)[None, :].float()).transpose(0, 1)
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x):
    x1, x2 = x[..., : x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)


def forward(p, cfg, ids, mask):
    B, S = ids.shape
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    dh, eps = D // H, cfg.get("norm_eps", 1e-5)
    every = cfg.get("global_attn_every_n_layers", 3)
    types = cfg.get("layer_types") or ["sliding_attention" if i % every else "full_attention" for i in range(L)]

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (D,), p[name + ".weight"], p.get(name + ".bias"), eps)

    def lin(x, name):
        y = x @ p[name + ".weight"].T
        return y + p[name + ".bias"] if name + ".bias" in p else y

    h = ln(p["model.embeddings.tok_embeddings.weight"][ids], "model.embeddings.norm")
    minv = torch.finfo(h.dtype).min
    gmask = ((1.0 - mask[:, None, None, :].to(h.dtype)) * minv).expand(B, 1, S, S)
    rows = torch.arange(S)[None]
    window = (torch.abs(rows - rows.T) <= cfg.get("local_attention", 128) // 2)[None, None]
    smask = gmask.masked_fill(window.logical_not(), minv)
    th = thetas(cfg)
    cs = {t: rope(th[t], dh, S, h.dtype) for t in set(types)}
    act = act_fn(cfg.get("hidden_activation", "gelu"))
    for l in range(L):
        pre = f"model.layers.{l}."
        a = h if l == 0 else ln(h, pre + "attn_norm")
        qkv = lin(a, pre + "attn.Wqkv").view(B, S, 3, H, dh)
        q, k, v = qkv.transpose(3, 1).unbind(dim=2)
        cos, sin = cs[types[l]]
        q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
        w = q @ k.transpose(2, 3) * dh ** -0.5 + (smask if l % every else gmask)
        w = torch.softmax(w, dim=-1)
        o = (w @ v).transpose(1, 2).reshape(B, S, D)
        h = h + lin(o, pre + "attn.Wo")
        x, g = lin(ln(h, pre + "mlp_norm"), pre + "mlp.Wi").chunk(2, dim=-1)
        h = h + lin(act(x) * g, pre + "mlp.Wo")
    h = ln(h, "model.final_norm")
    if cfg.get("classifier_pooling", "cls") == "cls":
        x = h[:, 0]
    else:
        m = mask.to(h.dtype)
        x = (h * m.unsqueeze(-1)).sum(dim=1) / m.sum(dim=1, keepdim=True)
    pooled = ln(act_fn(cfg.get("classifier_activation", "gelu"))(lin(x, "head.dense")), "head.norm")
    return h, pooled, lin(pooled, "classifier")


def shapes_of(cfg, C):
    D, I, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    nb, ab, mb, cb = (cfg.get(k, False) for k in ("norm_bias", "attention_bias", "mlp_bias", "classifier_bias"))
    s = {"model.embeddings.tok_embeddings.weight": (V, D)}

    def norm(n):
        s[n + ".weight"] = (D,)
        if nb:
            s[n + ".bias"] = (D,)

    def lin(n, o, i, b):
        s[n + ".weight"] = (o, i)
        if b:
            s[n + ".bias"] = (o,)
    norm("model.embeddings.norm")
    for l in range(L):
        pre = f"model.layers.{l}."
        if l:
            norm(pre + "attn_norm")
        lin(pre + "attn.Wqkv", 3 * D, D, ab)
        lin(pre + "attn.Wo", D, D, ab)
        norm(pre + "mlp_norm")
        lin(pre + "mlp.Wi", 2 * I, D, mb)
        lin(pre + "mlp.Wo", D, I, mb)
    norm("model.final_norm")
    lin("head.dense", D, D, cb)
    norm("head.norm")
    lin("classifier", C, D, True)
    return s


def random_weights(shapes):
    p = {}
    for n, s in shapes.items():
        if "norm" in n and n.endswith(".weight"):
            p[n] = (1 + 0.2 * torch.randn(s)).float()
        elif n.endswith("bias"):
            p[n] = (0.1 * torch.randn(s)).float()
        else:
            p[n] = (0.2 * torch.randn(s)).float()
    return p


LABELS = {"num_labels": 3, "id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2}}
CLS, SEP, PAD = 1, 2, 0


def pair_batch(seed, V, S, lens):
    """[CLS] a [SEP] b [SEP], right-padded"""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lens), S), PAD, dtype=torch.int64)
    mask = torch.zeros(len(lens), S, dtype=torch.int64)
    for b, n in enumerate(lens):
        a = (n - 3) // 2
        toks = [CLS] + torch.randint(5, V, (a,), generator=g).tolist() + [SEP] + torch.randint(5, V, (n - 3 - a,), generator=g).tolist() + [SEP]
        ids[b, :n] = torch.tensor(toks)
        mask[b, :n] = 1
    return ids, mask


def make(name, cfg, seed, S, lens, keep_rows=None):
    torch.manual_seed(seed)
    out_dir = os.path.join(ROOT, name)
    p32 = random_weights(shapes_of(cfg, 3))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    ids, mask = pair_batch(seed + 1, cfg["vocab_size"], S, lens)
    labels = torch.tensor([0, 2, 1][: len(lens)])
    p64 = {n: t.double().requires_grad_(keep_rows is None) for n, t in p32.items()}
    seq, pooled, logits = forward(p64, cfg, ids, mask)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    ref = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask, "labels": labels,
           "pooled_output": pooled.detach(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    if keep_rows is None:
        loss.backward()
        ref["sequence_output"] = seq.detach()
        for n, t in p64.items():
            ref["grad." + n] = t.grad.detach()
    else:
        ref["positions"] = torch.tensor(keep_rows, dtype=torch.int64)
        ref["sequence_output"] = seq.detach()[:, keep_rows].contiguous()
    write_reference(out_dir, ref, "tools/make_modernbert_fixtures.py")
    print(f"{out_dir}: loss {loss.item():.6f}, {len(p32)} parameters")


def make_mlm(name, cfg, seed, S, lens):
    """ModernBertForMaskedLM: the prediction head (head.dense, classifier_activation, head.norm) on the final_norm rows at masked
    positions (flat b * S + s), then the decoder tied to the word embeddings plus its bias (decoder_bias): loss and every gradient"""
    torch.manual_seed(seed)
    out_dir = os.path.join(ROOT, name)
    shapes = {n: s for n, s in shapes_of(cfg, 1).items() if not n.startswith("classifier.")}
    if cfg.get("decoder_bias", True):
        shapes["decoder.bias"] = (cfg["vocab_size"],)
    p32 = random_weights(shapes)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    ids, mask = pair_batch(seed + 1, cfg["vocab_size"], S, lens)
    g = torch.Generator().manual_seed(seed + 2)
    positions = torch.tensor([1, 4, 7, 8, S + 2, S + 3, 2 * S + 1])  # all real tokens
    targets = torch.randint(5, cfg["vocab_size"], (len(positions),), generator=g)
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    D = cfg["hidden_size"]
    p64.update({"classifier.weight": torch.zeros(1, D, dtype=torch.float64), "classifier.bias": torch.zeros(1, dtype=torch.float64)})
    seq, _, _ = forward(p64, cfg, ids, mask)
    x = seq.reshape(-1, D)[positions]
    y = x @ p64["head.dense.weight"].T + (p64["head.dense.bias"] if "head.dense.bias" in p64 else 0)
    y = act_fn(cfg.get("classifier_activation", "gelu"))(y)
    y = torch.nn.functional.layer_norm(y, (D,), p64["head.norm.weight"], p64.get("head.norm.bias"), cfg.get("norm_eps", 1e-5))
    logits = y @ p64["model.embeddings.tok_embeddings.weight"].T + (p64["decoder.bias"] if "decoder.bias" in p64 else 0)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": torch.zeros_like(ids), "attention_mask": mask, "positions": positions, "targets": targets,
           "mlm_logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n in p32:
        ref["grad." + n] = p64[n].grad.detach()
    write_reference(out_dir, ref, "tools/make_modernbert_fixtures.py")
    print(f"{out_dir}: MLM loss {loss.item():.6f}, {len(p32)} parameters")


BASE = {"architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert", "vocab_size": 99, "hidden_size": 32,
        "intermediate_size": 24, "num_hidden_layers": 4, "num_attention_heads": 4, "max_position_embeddings": 8192,
        "pad_token_id": PAD, "cls_token_id": CLS, "sep_token_id": SEP, "bos_token_id": CLS, "eos_token_id": SEP,
        "local_attention": 8, "global_attn_every_n_layers": 3, "norm_eps": 1e-5, "initializer_range": 0.02, **LABELS}

if __name__ == "__main__":
    make("parity-modernbert", {**BASE, "hidden_activation": "gelu", "global_rope_theta": 160000.0, "local_rope_theta": 10000.0,
                               "norm_bias": False, "attention_bias": False, "mlp_bias": False, "classifier_bias": False,
                               "classifier_pooling": "cls", "classifier_activation": "gelu", "embedding_dropout": 0.0,
                               "attention_dropout": 0.0, "mlp_dropout": 0.0, "classifier_dropout": 0.0}, 7, 23, [23, 15, 6])
    make("parity-modernbert-bias", {**BASE, "hidden_activation": "gelu_pytorch_tanh", "norm_bias": True, "attention_bias": True,
                                    "mlp_bias": True, "classifier_bias": True, "classifier_pooling": "mean", "classifier_activation": "tanh",
                                    "global_attn_every_n_layers": 2, "local_attention": 6,
                                    "layer_types": ["full_attention", "sliding_attention", "full_attention", "sliding_attention"],
                                    "rope_parameters": {"full_attention": {"rope_type": "default", "rope_theta": 80000.0},
                                                        "sliding_attention": {"rope_type": "default", "rope_theta": 5000.0}},
                                    "embedding_dropout": 0.1, "attention_dropout": 0.1, "mlp_dropout": 0.1, "classifier_dropout": 0.1}, 11, 19, [19, 12, 5])
    # ModernBertForMaskedLM: the published settings (no biases but the decoder's, exact GELU), and every bias with a tanh head
    mlm = {k: v for k, v in BASE.items() if k not in ("num_labels", "id2label", "label2id")}
    mlm["architectures"] = ["ModernBertForMaskedLM"]
    make_mlm("parity-modernbert-mlm", {**mlm, "norm_bias": False, "attention_bias": False, "mlp_bias": False, "classifier_bias": False,
                                       "decoder_bias": True, "classifier_activation": "gelu"}, 17, 17, [17, 12, 9])
    make_mlm("parity-modernbert-mlm-bias", {**mlm, "norm_bias": True, "attention_bias": True, "mlp_bias": True, "classifier_bias": True,
                                            "decoder_bias": False, "classifier_activation": "tanh", "hidden_activation": "gelu_pytorch_tanh"}, 19, 17, [17, 12, 9])
    S = 4200
    make("parity-modernbert-long", {**BASE, "hidden_size": 16, "num_attention_heads": 2, "intermediate_size": 16, "num_hidden_layers": 3,
                                    "local_attention": 128, "classifier_pooling": "mean"}, 13, S, [S],
         keep_rows=[0, 1, 2, 63, 64, 65, 2048, 4094, 4095, 4096, 4097, 4100, 4150, 4198, 4199])
