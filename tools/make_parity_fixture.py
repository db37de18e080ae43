#!/usr/bin/python3
"""Write the PyTorch parity fixtures for ja-bert's tests (dev-time only).

For each activation (gelu = exact erf, gelu_new = tanh form) this writes
test/fixtures/parity-<act>/ holding a small random BERT in Hugging Face layout
(config.json, model.safetensors, pytorch_model.bin) and reference.safetensors:
float64 reference outputs for a padded pair batch (inputs, sequence output,
pooled output, logits, loss and the gradient of every parameter), computed by
a plain PyTorch BERT from the same float32 weights. The reference file's
__metadata__ carries format "ja-bert-parity" and version "1".

Needs Debian's python3-torch. Re-run:  /usr/bin/python3 tools/make_parity_fixture.py
"""
import json
import math
import os
import struct
import sys

import torch

FORMAT, VERSION = "ja-bert-parity", "1"


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    dtypes = {torch.float32: "F32", torch.float64: "F64", torch.int64: "I64", torch.int32: "I32"}
    for name, t in tensors.items():
        t = t.detach().contiguous().cpu()
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def layer_norm(x, w, b, eps):
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    return (x - mu) / torch.sqrt(var + eps) * w + b


def act_fn(name):
    if name == "gelu":
        return lambda x: 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    return lambda x: 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def bert_forward(p, cfg, ids, tt, mask):
    B, S = ids.shape
    D, H = cfg["hidden_size"], cfg["num_attention_heads"]
    dh = D // H
    eps = cfg["layer_norm_eps"]
    act = act_fn(cfg["hidden_act"])
    e = p["bert.embeddings.word_embeddings.weight"][ids] + p["bert.embeddings.position_embeddings.weight"][torch.arange(S)][None] \
        + p["bert.embeddings.token_type_embeddings.weight"][tt]
    h = layer_norm(e, p["bert.embeddings.LayerNorm.weight"], p["bert.embeddings.LayerNorm.bias"], eps)
    madd = (1.0 - mask.to(h.dtype))[:, None, None, :] * -10000.0
    for l in range(cfg["num_hidden_layers"]):
        pre = f"bert.encoder.layer.{l}."
        lin = lambda x, n: x @ p[pre + n + ".weight"].T + p[pre + n + ".bias"]
        split = lambda x: x.view(B, S, H, dh).permute(0, 2, 1, 3)
        q, k, v = (split(lin(h, f"attention.self.{n}")) for n in ("query", "key", "value"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + madd, dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, S, D)
        h1 = layer_norm(lin(ctx, "attention.output.dense") + h, p[pre + "attention.output.LayerNorm.weight"], p[pre + "attention.output.LayerNorm.bias"], eps)
        o = lin(act(lin(h1, "intermediate.dense")), "output.dense")
        h = layer_norm(o + h1, p[pre + "output.LayerNorm.weight"], p[pre + "output.LayerNorm.bias"], eps)
    pooled = torch.tanh(h[:, 0] @ p["bert.pooler.dense.weight"].T + p["bert.pooler.dense.bias"])
    logits = pooled @ p["classifier.weight"].T + p["classifier.bias"]
    return h, pooled, logits


def bert_shapes(V, D, I, L, P):
    """HF parameter shapes of the encoder and pooler, in a fixed order (the random draws follow it)."""
    shapes = {
        "bert.embeddings.word_embeddings.weight": (V, D),
        "bert.embeddings.position_embeddings.weight": (P, D),
        "bert.embeddings.token_type_embeddings.weight": (2, D),
        "bert.embeddings.LayerNorm.weight": (D,), "bert.embeddings.LayerNorm.bias": (D,),
    }
    for l in range(L):
        pre = f"bert.encoder.layer.{l}."
        for n in ("query", "key", "value"):
            shapes[pre + f"attention.self.{n}.weight"] = (D, D)
            shapes[pre + f"attention.self.{n}.bias"] = (D,)
        shapes.update({
            pre + "attention.output.dense.weight": (D, D), pre + "attention.output.dense.bias": (D,),
            pre + "attention.output.LayerNorm.weight": (D,), pre + "attention.output.LayerNorm.bias": (D,),
            pre + "intermediate.dense.weight": (I, D), pre + "intermediate.dense.bias": (I,),
            pre + "output.dense.weight": (D, I), pre + "output.dense.bias": (D,),
            pre + "output.LayerNorm.weight": (D,), pre + "output.LayerNorm.bias": (D,),
        })
    shapes.update({"bert.pooler.dense.weight": (D, D), "bert.pooler.dense.bias": (D,)})
    return shapes


def write_reference(out_dir, ref, generator):
    """out_dir/reference.safetensors in the "ja-bert-parity" format, naming the script that wrote it"""
    write_safetensors(os.path.join(out_dir, "reference.safetensors"), ref,
                      {"format": FORMAT, "version": VERSION, "generator": generator, "torch": torch.__version__})


def random_weights(shapes):
    """float32 weights well away from init, so that every path carries signal"""
    p32 = {}
    for n, s in shapes.items():
        if "LayerNorm.weight" in n:
            p32[n] = (1 + 0.2 * torch.randn(s)).float()
        elif n.endswith("bias"):
            p32[n] = (0.1 * torch.randn(s)).float()
        else:
            p32[n] = (0.2 * torch.randn(s)).float()
    return p32


def make(act, out_dir, seed):
    torch.manual_seed(seed)
    cfg = {
        "architectures": ["BertForSequenceClassification"], "model_type": "bert",
        "vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
        "intermediate_size": 37, "hidden_act": act, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
        "initializer_range": 0.02, "layer_norm_eps": 1e-12,
        "num_labels": 3, "id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2},
    }
    D, I, V = cfg["hidden_size"], cfg["intermediate_size"], cfg["vocab_size"]
    shapes = bert_shapes(V, D, I, cfg["num_hidden_layers"], cfg["max_position_embeddings"])
    shapes.update({"classifier.weight": (3, D), "classifier.bias": (3,)})
    p32 = random_weights(shapes)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    sd = dict(p32)
    sd["bert.embeddings.position_ids"] = torch.arange(cfg["max_position_embeddings"])[None]  # HF buffer, must be ignored
    torch.save(sd, os.path.join(out_dir, "pytorch_model.bin"))

    # a padded pair batch: [CLS]=2 a [SEP]=3 b [SEP]=3, lengths 11, 7, 4
    B, S = 3, 11
    lens = [11, 7, 4]
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.zeros(B, S, dtype=torch.int64)
    tt = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(lens):
        a = (n - 3) // 2
        toks = [2] + torch.randint(5, V, (a,), generator=g).tolist() + [3] + torch.randint(5, V, (n - 3 - a,), generator=g).tolist() + [3]
        ids[b, :n] = torch.tensor(toks)
        tt[b, a + 2:n] = 1
        mask[b, :n] = 1
    labels = torch.tensor([0, 2, 1])

    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    seq, pooled, logits = bert_forward(p64, cfg, ids, tt, mask)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "labels": labels,
           "sequence_output": seq.detach(), "pooled_output": pooled.detach(), "logits": logits.detach(),
           "loss": loss.detach().reshape(1)}
    for n, t in p64.items():
        ref["grad." + n] = t.grad.detach()
    write_reference(out_dir, ref, "tools/make_parity_fixture.py")
    print(f"{out_dir}: loss {loss.item():.6f}, {len(p32)} parameters")


def write_pretraining_model(out_dir, cfg, p32):
    """config.json and model.safetensors with the decoder tied to the word embeddings, as HF saves it"""
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    sd = dict(p32)
    sd["cls.predictions.decoder.weight"] = p32["bert.embeddings.word_embeddings.weight"]
    sd["cls.predictions.decoder.bias"] = p32["cls.predictions.bias"]
    write_safetensors(os.path.join(out_dir, "model.safetensors"), sd, {"format": "pt"})


def pretraining_model(out_dir, arch, V, D, I, extra_shapes):
    """A 2-layer BERT config with the masked-LM head (plus `extra_shapes`), random
    float32 weights written as model.safetensors + config.json; returns (cfg, weights)."""
    cfg = {"architectures": [arch], "model_type": "bert", "vocab_size": V, "hidden_size": D, "num_hidden_layers": 2,
           "num_attention_heads": 4, "intermediate_size": I, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
           "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
           "layer_norm_eps": 1e-12}
    shapes = bert_shapes(V, D, I, 2, 64)
    shapes.update({"cls.predictions.transform.dense.weight": (D, D), "cls.predictions.transform.dense.bias": (D,),
                   "cls.predictions.transform.LayerNorm.weight": (D,), "cls.predictions.transform.LayerNorm.bias": (D,),
                   "cls.predictions.bias": (V,), **extra_shapes})
    p32 = random_weights(shapes)
    write_pretraining_model(out_dir, cfg, p32)
    return cfg, p32


def mlm_forward(p64, cfg, ids, tt, mask, positions):
    """The encoder and the masked-LM head (decoder tied to the word embeddings) at flat
    positions b * S + s: (MLM logits, pooled output)."""
    B, S = ids.shape
    D = cfg["hidden_size"]
    seq, pooled, _ = bert_forward({**p64, "classifier.weight": torch.zeros(1, D, dtype=torch.float64), "classifier.bias": torch.zeros(1, dtype=torch.float64)}, cfg, ids, tt, mask)
    x = seq.reshape(B * S, D)[positions]
    h = act_fn("gelu")(x @ p64["cls.predictions.transform.dense.weight"].T + p64["cls.predictions.transform.dense.bias"])
    h = layer_norm(h, p64["cls.predictions.transform.LayerNorm.weight"], p64["cls.predictions.transform.LayerNorm.bias"], cfg["layer_norm_eps"])
    return h @ p64["bert.embeddings.word_embeddings.weight"].T + p64["cls.predictions.bias"], pooled


def make_mlm(out_dir, seed):
    """A BERT with the masked-LM head (cls.predictions, decoder tied to the word
    embeddings) and the float64 MLM loss and gradients at masked positions."""
    torch.manual_seed(seed)
    D, I, V = 32, 37, 97
    cfg, p32 = pretraining_model(out_dir, "BertForMaskedLM", V, D, I, {})
    B, S, lens = 2, 10, [10, 6]
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(lens):
        ids[b, :n] = torch.tensor([2] + torch.randint(5, V, (n - 2,), generator=g).tolist() + [3])
        mask[b, :n] = 1
    tt = torch.zeros(B, S, dtype=torch.int64)
    positions = torch.tensor([1, 4, 7, 8, S + 2, S + 3])  # flat b * S + s, all real tokens
    targets = torch.randint(5, V, (len(positions),), generator=g)
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    logits, _ = mlm_forward(p64, cfg, ids, tt, mask, positions)
    loss = torch.nn.functional.cross_entropy(logits, targets)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "positions": positions, "targets": targets,
           "mlm_logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n, t in p64.items():
        ref["grad." + n] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_reference(out_dir, ref, "tools/make_parity_fixture.py")
    print(f"{out_dir}: MLM loss {loss.item():.6f}")


def make_pretrain(out_dir, seed):
    """BertForPreTraining: the masked-LM head plus the sentence-pair head
    (cls.seq_relationship on the pooled output, no dropout), on [CLS] A [SEP] B [SEP]
    inputs with token types; float64 loss = MLM + pair cross-entropy and its gradients."""
    torch.manual_seed(seed)
    D, I, V = 32, 41, 89
    cfg, p32 = pretraining_model(out_dir, "BertForPreTraining", V, D, I, {"cls.seq_relationship.weight": (2, D), "cls.seq_relationship.bias": (2,)})
    B, S, lens, seps = 3, 12, [12, 9, 7], [5, 4, 2]
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.zeros(B, S, dtype=torch.int64)
    tt = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, (n, a) in enumerate(zip(lens, seps)):
        body = torch.randint(5, V, (n - 3,), generator=g).tolist()
        ids[b, :n] = torch.tensor([2] + body[:a] + [3] + body[a:] + [3])
        tt[b, a + 2:n] = 1
        mask[b, :n] = 1
    positions = torch.tensor([1, 3, 7, 10, S + 2, S + 6, 2 * S + 1, 2 * S + 4])
    targets = torch.randint(5, V, (len(positions),), generator=g)
    pair_labels = torch.tensor([0, 1, 1])
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    logits, pooled = mlm_forward(p64, cfg, ids, tt, mask, positions)
    mlm = torch.nn.functional.cross_entropy(logits, targets)
    pair_logits = pooled @ p64["cls.seq_relationship.weight"].T + p64["cls.seq_relationship.bias"]
    pair = torch.nn.functional.cross_entropy(pair_logits, pair_labels)
    (mlm + pair).backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "positions": positions, "targets": targets,
           "pair_labels": pair_labels, "pair_logits": pair_logits.detach(), "mlm_loss": mlm.detach().reshape(1), "pair_loss": pair.detach().reshape(1)}
    for n, t in p64.items():
        ref["grad." + n] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_reference(out_dir, ref, "tools/make_parity_fixture.py")
    print(f"{out_dir}: MLM loss {mlm.item():.6f}, pair loss {pair.item():.6f}")


if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
    make("gelu", os.path.join(root, "parity-gelu"), 7)
    make("gelu_new", os.path.join(root, "parity-tanh"), 8)
    make_mlm(os.path.join(root, "parity-mlm"), 9)
    make_pretrain(os.path.join(root, "parity-pretrain"), 10)
    sys.exit(0)
