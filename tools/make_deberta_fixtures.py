#!/usr/bin/python3
"""PyTorch parity fixtures for DeBERTa-v2/v3 (dev-time only), a plain twin written from Hugging Face's
modeling_deberta_v2.py (eval mode) and configuration_deberta_v2.py:

- DebertaV2Embeddings: word_embeddings (+ position_embeddings[0..S-1] when position_biased_input, + token_type_embeddings
  when type_vocab_size > 0), LayerNorm, times the attention mask, dropout (identity in eval).
- DebertaV2Encoder: rel_embeddings (2 * span rows, span = position_buckets if > 0 else max_relative_positions, which is
  max_position_embeddings when < 1), through encoder.LayerNorm when norm_rel_ebd names layer_norm; relative_pos =
  build_relative_position(S, S, position_buckets, max_relative_positions) with make_log_bucket_position (float32 as
  HF computes it); the attention mask m_i * m_j.
- DisentangledSelfAttention: scale = sqrt(head_dim * (1 + [c2p] + [p2c])); scores = q k^T / scale; c2p: q pos_key^T gathered
  at clamp(relative_pos + span, 0, 2 span - 1), / scale; p2c: k pos_query^T gathered at clamp(-relative_pos + span, ...),
  transposed, / scale; pos_key / pos_query = key_proj / query_proj (share_att_key) or pos_key_proj / pos_query_proj of the
  rows; masked_fill(min) then softmax.
- DebertaV2Layer: BERT's post-LN self-output, intermediate and output.
- DebertaV2ForSequenceClassification: ContextPooler (dense on the first token, pooler_hidden_act), classifier.

Writes test/fixtures/parity-deberta/ (ku-nlp's settings: shared keys, log buckets, LayerNorm on the table, no absolute
positions, no token types; the buckets clamp at both ends), parity-deberta-sep/ (own pos_key_proj / pos_query_proj, no
buckets and a span shorter than the input, absolute positions and token types, "c2p|p2c" as a string, tanh GELU),
parity-deberta-c2p/ (c2p only) and deberta-buckets.safetensors (make_log_bucket_position over relative positions
-1023 ... 1023 for the published bucket settings).
Re-run:  /usr/bin/python3 tools/make_deberta_fixtures.py
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
    raise ValueError(name)


def make_log_bucket_position(relative_pos, bucket_size, max_position):
    # HF's, verbatim in its arithmetic: abs_pos / mid and the logs in float32
    sign = torch.sign(relative_pos)
    mid = bucket_size // 2
    abs_pos = torch.where(
        (relative_pos < mid) & (relative_pos > -mid),
        torch.tensor(mid - 1).type_as(relative_pos),
        torch.abs(relative_pos),
    )
    log_pos = (
        torch.ceil(torch.log(abs_pos / mid) / torch.log(torch.tensor((max_position - 1) / mid)) * (mid - 1)) + mid
    )
    bucket_pos = torch.where(abs_pos <= mid, relative_pos.type_as(log_pos), log_pos * sign)
    return bucket_pos


def build_relative_position(query_size, key_size, bucket_size=-1, max_position=-1):
    q_ids = torch.arange(query_size, dtype=torch.long)
    k_ids = torch.arange(key_size, dtype=torch.long)
    rel_pos_ids = q_ids[:, None] - k_ids[None, :]
    if bucket_size > 0 and max_position > 0:
        rel_pos_ids = make_log_bucket_position(rel_pos_ids, bucket_size, max_position)
    return rel_pos_ids.to(torch.long)[:query_size, :].unsqueeze(0)


def pos_att_type(cfg):
    t = cfg.get("pos_att_type") or []
    if isinstance(t, str):
        t = [x.strip() for x in t.lower().split("|")]
    return t


def forward(p, cfg, ids, tt, mask):
    B, S = ids.shape
    D, H, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    dh, eps = D // H, cfg.get("layer_norm_eps", 1e-7)
    pat = pos_att_type(cfg)

    def ln(x, name):
        return torch.nn.functional.layer_norm(x, (D,), p[name + ".weight"], p[name + ".bias"], eps)

    def lin(x, name):
        return x @ p[name + ".weight"].T + p[name + ".bias"]

    def heads(x):  # [.., n, D] -> [.., H, n, dh]
        return x.view(*x.shape[:-1], H, dh).transpose(-3, -2)

    x = p["deberta.embeddings.word_embeddings.weight"][ids]
    if cfg.get("position_biased_input", True):
        x = x + p["deberta.embeddings.position_embeddings.weight"][torch.arange(S)][None]
    if cfg.get("type_vocab_size", 0) > 0:
        x = x + p["deberta.embeddings.token_type_embeddings.weight"][tt]
    x = ln(x, "deberta.embeddings.LayerNorm") * mask[..., None].to(x.dtype)
    am = (mask[:, None, None, :] * mask[:, None, :, None]).bool()
    rel_on = cfg.get("relative_attention", False)
    if rel_on:
        max_rel = cfg.get("max_relative_positions", -1)
        if max_rel < 1:
            max_rel = cfg["max_position_embeddings"]
        buckets = cfg.get("position_buckets", -1)
        span = buckets if buckets > 0 else max_rel
        relative_pos = build_relative_position(S, S, buckets, max_rel)[None]  # [1, 1, S, S]
        rel = p["deberta.encoder.rel_embeddings.weight"]
        if "layer_norm" in [t.strip() for t in cfg.get("norm_rel_ebd", "none").lower().split("|")]:
            rel = ln(rel, "deberta.encoder.LayerNorm")
        rel = rel[0: 2 * span]
    factor = 1 + ("c2p" in pat) + ("p2c" in pat)
    scale = math.sqrt(dh * factor)
    act = act_fn(cfg.get("hidden_act", "gelu"))
    for l in range(L):
        pre = f"deberta.encoder.layer.{l}."
        sa = pre + "attention.self."
        q, k, v = heads(lin(x, sa + "query_proj")), heads(lin(x, sa + "key_proj")), heads(lin(x, sa + "value_proj"))
        s = q @ k.transpose(-1, -2) / scale
        if rel_on:
            share = cfg.get("share_att_key", False)
            if "c2p" in pat:
                pos_key = heads(lin(rel, sa + ("key_proj" if share else "pos_key_proj")))  # [H, 2span, dh]
                c2p = q @ pos_key.transpose(-1, -2)  # [B, H, S, 2span]
                c2p_pos = torch.clamp(relative_pos + span, 0, span * 2 - 1)
                s = s + torch.gather(c2p, -1, c2p_pos.expand(B, H, S, S)) / scale
            if "p2c" in pat:
                pos_query = heads(lin(rel, sa + ("query_proj" if share else "pos_query_proj")))
                p2c = k @ pos_query.transpose(-1, -2)  # [B, H, S(key), 2span]
                p2c_pos = torch.clamp(-relative_pos + span, 0, span * 2 - 1)
                s = s + torch.gather(p2c, -1, p2c_pos.expand(B, H, S, S)).transpose(-1, -2) / scale
        s = s.masked_fill(~am, torch.finfo(s.dtype).min)
        w = torch.softmax(s, dim=-1)
        ctx = (w @ v).transpose(1, 2).reshape(B, S, D)
        a = ln(lin(ctx, pre + "attention.output.dense") + x, pre + "attention.output.LayerNorm")
        x = ln(lin(act(lin(a, pre + "intermediate.dense")), pre + "output.dense") + a, pre + "output.LayerNorm")
    pooled = act_fn(cfg.get("pooler_hidden_act", "gelu"))(lin(x[:, 0], "pooler.dense"))
    return x, pooled, lin(pooled, "classifier")


def shapes_of(cfg, C):
    D, I, L, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["num_hidden_layers"], cfg["vocab_size"]
    pat = pos_att_type(cfg)
    s = {"deberta.embeddings.word_embeddings.weight": (V, D)}
    if cfg.get("position_biased_input", True):
        s["deberta.embeddings.position_embeddings.weight"] = (cfg["max_position_embeddings"], D)
    if cfg.get("type_vocab_size", 0) > 0:
        s["deberta.embeddings.token_type_embeddings.weight"] = (cfg["type_vocab_size"], D)

    def lin(n, o, i):
        s[n + ".weight"] = (o, i)
        s[n + ".bias"] = (o,)

    def norm(n):
        s[n + ".weight"] = (D,)
        s[n + ".bias"] = (D,)
    norm("deberta.embeddings.LayerNorm")
    for l in range(L):
        pre = f"deberta.encoder.layer.{l}."
        for n in ("query_proj", "key_proj", "value_proj"):
            lin(pre + "attention.self." + n, D, D)
        if cfg.get("relative_attention") and not cfg.get("share_att_key", False):
            if "c2p" in pat:
                lin(pre + "attention.self.pos_key_proj", D, D)
            if "p2c" in pat:
                lin(pre + "attention.self.pos_query_proj", D, D)
        lin(pre + "attention.output.dense", D, D)
        norm(pre + "attention.output.LayerNorm")
        lin(pre + "intermediate.dense", I, D)
        lin(pre + "output.dense", D, I)
        norm(pre + "output.LayerNorm")
    if cfg.get("relative_attention"):
        max_rel = cfg.get("max_relative_positions", -1)
        if max_rel < 1:
            max_rel = cfg["max_position_embeddings"]
        buckets = cfg.get("position_buckets", -1)
        s["deberta.encoder.rel_embeddings.weight"] = (2 * (buckets if buckets > 0 else max_rel), D)
        if "layer_norm" in cfg.get("norm_rel_ebd", "none"):
            norm("deberta.encoder.LayerNorm")
    lin("pooler.dense", D, D)
    lin("classifier", C, D)
    return s


def random_weights(shapes):
    p = {}
    for n, s in shapes.items():
        if "LayerNorm" in n and n.endswith(".weight"):
            p[n] = (1 + 0.2 * torch.randn(s)).float()
        elif n.endswith("bias"):
            p[n] = (0.1 * torch.randn(s)).float()
        else:
            p[n] = (0.2 * torch.randn(s)).float()
    return p


LABELS = {"num_labels": 3, "id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2}}
CLS, SEP, PAD = 1, 2, 0


def pair_batch(seed, V, S, lens):
    """[CLS] a [SEP] b [SEP], right-padded; token types 0 then 1"""
    g = torch.Generator().manual_seed(seed)
    ids = torch.full((len(lens), S), PAD, dtype=torch.int64)
    tt = torch.zeros(len(lens), S, dtype=torch.int64)
    mask = torch.zeros(len(lens), S, dtype=torch.int64)
    for b, n in enumerate(lens):
        a = (n - 3) // 2
        toks = [CLS] + torch.randint(5, V, (a,), generator=g).tolist() + [SEP] + torch.randint(5, V, (n - 3 - a,), generator=g).tolist() + [SEP]
        ids[b, :n] = torch.tensor(toks)
        tt[b, a + 2:n] = 1
        mask[b, :n] = 1
    return ids, tt, mask


def make(name, cfg, seed, S, lens):
    torch.manual_seed(seed)
    out_dir = os.path.join(ROOT, name)
    p32 = random_weights(shapes_of(cfg, 3))
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    ids, tt, mask = pair_batch(seed + 1, cfg["vocab_size"], S, lens)
    if cfg.get("type_vocab_size", 0) == 0:
        tt = torch.zeros_like(ids)
    labels = torch.tensor([0, 2, 1][: len(lens)])
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    seq, pooled, logits = forward(p64, cfg, ids, tt, mask)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "labels": labels, "sequence_output": seq.detach(),
           "pooled_output": pooled.detach(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n, t in p64.items():
        ref["grad." + n] = t.grad.detach()
    write_reference(out_dir, ref, "tools/make_deberta_fixtures.py")
    print(f"{out_dir}: loss {loss.item():.6f}, {len(p32)} parameters")


def mlm_names(cfg):
    """DebertaV2ForMaskedLM's head: legacy (the default) LegacyDebertaV2OnlyMLMHead under cls.predictions, else
    DebertaV2OnlyMLMHead under lm_predictions.lm_head; both dense, hidden_act, LayerNorm, the tied decoder plus a bias"""
    if cfg.get("legacy", True):
        return "cls.predictions.transform.dense", "cls.predictions.transform.LayerNorm", "cls.predictions.bias"
    return "lm_predictions.lm_head.dense", "lm_predictions.lm_head.LayerNorm", "lm_predictions.lm_head.bias"


def make_mlm(name, cfg, seed, S, lens):
    """the encoder under DebertaV2ForMaskedLM's head: MLM logits, loss and every gradient at masked positions (flat b * S + s)"""
    torch.manual_seed(seed)
    out_dir = os.path.join(ROOT, name)
    D, V = cfg["hidden_size"], cfg["vocab_size"]
    shapes = {n: s for n, s in shapes_of(cfg, 1).items() if not n.startswith(("pooler.", "classifier."))}
    dense, norm, bias = mlm_names(cfg)
    shapes.update({dense + ".weight": (D, D), dense + ".bias": (D,), norm + ".weight": (D,), norm + ".bias": (D,), bias: (V,)})
    p32 = random_weights(shapes)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    ids, tt, mask = pair_batch(seed + 1, V, S, lens)
    tt = torch.zeros_like(ids)
    g = torch.Generator().manual_seed(seed + 2)
    positions = torch.tensor([1, 4, 7, 8, S + 2, S + 3, 2 * S + 1])  # all real tokens
    targets = torch.randint(5, V, (len(positions),), generator=g)
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    p64.update({"pooler.dense.weight": torch.zeros(D, D, dtype=torch.float64), "pooler.dense.bias": torch.zeros(D, dtype=torch.float64),
                "classifier.weight": torch.zeros(1, D, dtype=torch.float64), "classifier.bias": torch.zeros(1, dtype=torch.float64)})
    seq, _, _ = forward(p64, cfg, ids, tt, mask)
    x = seq.reshape(-1, D)[positions]
    h = act_fn(cfg.get("hidden_act", "gelu"))(x @ p64[dense + ".weight"].T + p64[dense + ".bias"])
    h = torch.nn.functional.layer_norm(h, (D,), p64[norm + ".weight"], p64[norm + ".bias"], cfg.get("layer_norm_eps", 1e-7))
    logits = h @ p64["deberta.embeddings.word_embeddings.weight"].T + p64[bias]
    loss = torch.nn.functional.cross_entropy(logits, targets)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "positions": positions, "targets": targets,
           "mlm_logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n in p32:
        ref["grad." + n] = p64[n].grad.detach()
    write_reference(out_dir, ref, "tools/make_deberta_fixtures.py")
    print(f"{out_dir}: MLM loss {loss.item():.6f}, {len(p32)} parameters")


BASE = {"architectures": ["DebertaV2ForSequenceClassification"], "model_type": "deberta-v2", "vocab_size": 99, "hidden_size": 32,
        "intermediate_size": 48, "num_hidden_layers": 3, "num_attention_heads": 4, "max_position_embeddings": 64,
        "pad_token_id": PAD, "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "layer_norm_eps": 1e-7, "initializer_range": 0.02, "pooler_hidden_act": "gelu", "pooler_dropout": 0, **LABELS}

if __name__ == "__main__":
    # ku-nlp/deberta-v2-base-japanese's settings at a small width: buckets of 8 with relative distances resolved up to 12, so
    # that the 23-token rows reach the log buckets and the clamp at both ends of the 16-row table
    make("parity-deberta", {**BASE, "relative_attention": True, "pos_att_type": ["p2c", "c2p"], "position_buckets": 8,
                            "max_relative_positions": 12, "share_att_key": True, "norm_rel_ebd": "layer_norm",
                            "position_biased_input": False, "type_vocab_size": 0}, 5, 23, [23, 15, 6])
    make("parity-deberta-sep", {**BASE, "relative_attention": True, "pos_att_type": "c2p|p2c", "position_buckets": -1,
                                "max_relative_positions": 6, "share_att_key": False, "norm_rel_ebd": "none",
                                "position_biased_input": True, "type_vocab_size": 2, "hidden_act": "gelu_new",
                                "cls_dropout": 0.2, "pooler_dropout": 0.1}, 9, 19, [19, 12, 5])
    make("parity-deberta-c2p", {**BASE, "relative_attention": True, "pos_att_type": ["c2p"], "position_buckets": 16,
                                "max_relative_positions": -1, "share_att_key": True, "norm_rel_ebd": "layer_norm",
                                "position_biased_input": False, "type_vocab_size": 0}, 3, 21, [21, 9])
    # DebertaV2ForMaskedLM at ku-nlp's settings: the legacy head (cls.predictions, as ku-nlp's checkpoints) and legacy: false's
    mlm_cfg = {**BASE, "architectures": ["DebertaV2ForMaskedLM"], "relative_attention": True, "pos_att_type": ["p2c", "c2p"],
               "position_buckets": 8, "max_relative_positions": 12, "share_att_key": True, "norm_rel_ebd": "layer_norm",
               "position_biased_input": False, "type_vocab_size": 0}
    for k in ("num_labels", "id2label", "label2id"):
        mlm_cfg.pop(k)
    make_mlm("parity-deberta-mlm", mlm_cfg, 11, 17, [17, 12, 9])
    make_mlm("parity-deberta-mlm-lm", {**mlm_cfg, "legacy": False, "hidden_act": "gelu_new"}, 13, 17, [17, 12, 9])
    # make_log_bucket_position as HF computes it, for ku-nlp's and microsoft's v3 settings and the fixtures'
    rel = torch.arange(-1023, 1024, dtype=torch.long)
    table = {f"buckets.{b}.{m}": make_log_bucket_position(rel, b, m).to(torch.int64)
             for b, m in [(256, 512), (256, 1024), (128, 512), (8, 12), (16, 64), (32, 128)]}
    table["relative_positions"] = rel
    write_safetensors(os.path.join(ROOT, "deberta-buckets.safetensors"), table, {"format": "pt", "generator": "tools/make_deberta_fixtures.py"})
    print("deberta-buckets.safetensors")
