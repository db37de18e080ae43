#!/usr/bin/python3
"""PyTorch parity fixtures for BERT's relatives (dev-time only): XLM-RoBERTa, DistilBERT and ELECTRA.

For each family this writes test/fixtures/parity-<family>/: a small random model in the family's Hugging Face
layout (config.json with its model_type and keys, model.safetensors with its parameter names) and
reference.safetensors with float64 outputs for a padded pair batch (sequence output, the first layer of the
family's classification head as "pooled_output", logits, loss) and the gradient of every parameter, computed by
a plain PyTorch twin of the family written from Hugging Face's modeling files in eval mode:

- modeling_xlm_roberta.py (= modeling_roberta.py): position ids from create_position_ids_from_input_ids
  (cumsum of non-padding tokens times the mask, plus padding_idx), one token type, post-LN layers as BERT's;
  XLMRobertaClassificationHead: x = h[:, 0]; dense; tanh; out_proj (dropout is the identity in eval mode).
- modeling_distilbert.py: word + position embeddings, LayerNorm (eps 1e-12); q_lin/k_lin/v_lin/out_lin,
  sa_layer_norm(attn + x), ffn lin1 -> activation -> lin2, output_layer_norm(ffn + h); masked scores filled
  with the dtype's minimum; DistilBertForSequenceClassification: pre_classifier, ReLU, classifier on h[:, 0].
- modeling_electra.py: embeddings in embedding_size (word + position + token type, LayerNorm), then
  embeddings_project to hidden_size; BERT's layers; ElectraClassificationHead: dense, GELU (exact), out_proj.

And test/fixtures/parity-electra-pretrain/: ELECTRA's pretraining step (google-research/electra run_pretraining.py
with HF's ElectraForMaskedLM / ElectraForPreTraining heads): a generator (generator/, hidden 8, one head, 16-wide
embeddings projected to 8) and a discriminator (hidden 32) sharing one set of embedding tensors; the generator's
masked-LM loss (generator_predictions: dense to embedding_size, exact GELU, LayerNorm; generator_lm_head tied to the
word embeddings, with its bias) at given masked positions; the discriminator (discriminator_predictions: dense,
hidden_act, dense_prediction) on the input with given samples put at those positions, binary cross-entropy over the
real tokens against "replaced" (sample != original); loss = generator loss + 50 x discriminator loss, and the gradient
of every parameter of both (the shared embeddings' once, summed over both uses).

The same reference format as tools/make_parity_fixture.py ("ja-bert-parity" v1). Needs Debian's python3-torch.
Re-run:  /usr/bin/python3 tools/make_family_fixtures.py
"""
import json
import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_parity_fixture import act_fn, layer_norm, random_weights, write_reference, write_safetensors  # noqa: E402


def bert_layers(p, prefix, h, madd, L, H, eps, act, names):
    """post-LN transformer layers; `names` maps q, k, v, ao, ln1, inter, out, ln2 to the family's module names"""
    B, S, D = h.shape
    dh = D // H
    for l in range(L):
        pre = f"{prefix}.{l}."
        lin = lambda x, n: x @ p[pre + names[n] + ".weight"].T + p[pre + names[n] + ".bias"]
        split = lambda x: x.view(B, S, H, dh).permute(0, 2, 1, 3)
        q, k, v = (split(lin(h, n)) for n in ("q", "k", "v"))
        probs = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dh) + madd, dim=-1)
        ctx = (probs @ v).permute(0, 2, 1, 3).reshape(B, S, D)
        h1 = layer_norm(lin(ctx, "ao") + h, p[pre + names["ln1"] + ".weight"], p[pre + names["ln1"] + ".bias"], eps)
        o = lin(act(lin(h1, "inter")), "out")
        h = layer_norm(o + h1, p[pre + names["ln2"] + ".weight"], p[pre + names["ln2"] + ".bias"], eps)
    return h


BERT_NAMES = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value", "ao": "attention.output.dense",
              "ln1": "attention.output.LayerNorm", "inter": "intermediate.dense", "out": "output.dense", "ln2": "output.LayerNorm"}
DISTIL_NAMES = {"q": "attention.q_lin", "k": "attention.k_lin", "v": "attention.v_lin", "ao": "attention.out_lin",
                "ln1": "sa_layer_norm", "inter": "ffn.lin1", "out": "ffn.lin2", "ln2": "output_layer_norm"}


def layer_shapes(prefix, names, L, D, I):
    shapes = {}
    for l in range(L):
        pre = f"{prefix}.{l}."
        for n in ("q", "k", "v"):
            shapes[pre + names[n] + ".weight"] = (D, D)
            shapes[pre + names[n] + ".bias"] = (D,)
        shapes.update({pre + names["ao"] + ".weight": (D, D), pre + names["ao"] + ".bias": (D,),
                       pre + names["ln1"] + ".weight": (D,), pre + names["ln1"] + ".bias": (D,),
                       pre + names["inter"] + ".weight": (I, D), pre + names["inter"] + ".bias": (I,),
                       pre + names["out"] + ".weight": (D, I), pre + names["out"] + ".bias": (D,),
                       pre + names["ln2"] + ".weight": (D,), pre + names["ln2"] + ".bias": (D,)})
    return shapes


V, D, I, L, H, C = 99, 32, 37, 2, 4, 3
LABELS = {"num_labels": C, "id2label": {"0": "neg", "1": "neu", "2": "pos"}, "label2id": {"neg": 0, "neu": 1, "pos": 2}}


def batch(seed, cls, sep, pad, roberta):
    """a padded pair batch, lengths 11, 7, 4: BERT framing (cls a sep b sep, types 0/1) or RoBERTa's (<s> a </s></s> b </s>, types 0)"""
    B, S, lens = 3, 11, [11, 7, 4]
    g = torch.Generator().manual_seed(seed + 1)
    ids = torch.full((B, S), pad, dtype=torch.int64)
    tt = torch.zeros(B, S, dtype=torch.int64)
    mask = torch.zeros(B, S, dtype=torch.int64)
    for b, n in enumerate(lens):
        special = 4 if roberta else 3
        a = (n - special) // 2
        rest = n - special - a
        ra = torch.randint(5, V, (a,), generator=g).tolist()
        rb = torch.randint(5, V, (rest,), generator=g).tolist()
        toks = [cls] + ra + [sep] + ([sep] if roberta else []) + rb + [sep]
        ids[b, :n] = torch.tensor(toks)
        if not roberta:
            tt[b, a + 2:n] = 1
        mask[b, :n] = 1
    return ids, tt, mask


def xlmr_forward(p, cfg, ids, tt, mask):
    pad, eps = cfg["pad_token_id"], cfg["layer_norm_eps"]
    m = ids.ne(pad).int()
    positions = (torch.cumsum(m, dim=1).type_as(m) * m).long() + pad
    e = p["roberta.embeddings.word_embeddings.weight"][ids] + p["roberta.embeddings.position_embeddings.weight"][positions] \
        + p["roberta.embeddings.token_type_embeddings.weight"][tt]
    h = layer_norm(e, p["roberta.embeddings.LayerNorm.weight"], p["roberta.embeddings.LayerNorm.bias"], eps)
    madd = (1.0 - mask.to(h.dtype))[:, None, None, :] * torch.finfo(h.dtype).min
    h = bert_layers(p, "roberta.encoder.layer", h, madd, cfg["num_hidden_layers"], cfg["num_attention_heads"], eps, act_fn(cfg["hidden_act"]), BERT_NAMES)
    pooled = torch.tanh(h[:, 0] @ p["classifier.dense.weight"].T + p["classifier.dense.bias"])
    return h, pooled, pooled @ p["classifier.out_proj.weight"].T + p["classifier.out_proj.bias"]


def distilbert_forward(p, cfg, ids, tt, mask):
    S = ids.shape[1]
    e = p["distilbert.embeddings.word_embeddings.weight"][ids] + p["distilbert.embeddings.position_embeddings.weight"][torch.arange(S)][None]
    h = layer_norm(e, p["distilbert.embeddings.LayerNorm.weight"], p["distilbert.embeddings.LayerNorm.bias"], 1e-12)
    madd = (1.0 - mask.to(h.dtype))[:, None, None, :] * torch.finfo(h.dtype).min
    h = bert_layers(p, "distilbert.transformer.layer", h, madd, cfg["n_layers"], cfg["n_heads"], 1e-12, act_fn(cfg["activation"]), DISTIL_NAMES)
    pooled = torch.relu(h[:, 0] @ p["pre_classifier.weight"].T + p["pre_classifier.bias"])
    return h, pooled, pooled @ p["classifier.weight"].T + p["classifier.bias"]


def electra_forward(p, cfg, ids, tt, mask):
    S, eps = ids.shape[1], cfg["layer_norm_eps"]
    e = p["electra.embeddings.word_embeddings.weight"][ids] + p["electra.embeddings.position_embeddings.weight"][torch.arange(S)][None] \
        + p["electra.embeddings.token_type_embeddings.weight"][tt]
    h = layer_norm(e, p["electra.embeddings.LayerNorm.weight"], p["electra.embeddings.LayerNorm.bias"], eps)
    h = h @ p["electra.embeddings_project.weight"].T + p["electra.embeddings_project.bias"]
    madd = (1.0 - mask.to(h.dtype))[:, None, None, :] * torch.finfo(h.dtype).min
    h = bert_layers(p, "electra.encoder.layer", h, madd, cfg["num_hidden_layers"], cfg["num_attention_heads"], eps, act_fn(cfg["hidden_act"]), BERT_NAMES)
    x = h[:, 0] @ p["classifier.dense.weight"].T + p["classifier.dense.bias"]
    pooled = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    return h, pooled, pooled @ p["classifier.out_proj.weight"].T + p["classifier.out_proj.bias"]


def make(family, out_dir, seed):
    torch.manual_seed(seed)
    if family == "xlm-roberta":
        P = 11 + 1 + 1 + 3  # the longest row's positions end at padding_idx + 11, plus room
        cfg = {"architectures": ["XLMRobertaForSequenceClassification"], "model_type": "xlm-roberta", "vocab_size": V, "hidden_size": D,
               "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": I, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "max_position_embeddings": P, "type_vocab_size": 1, "initializer_range": 0.02,
               "layer_norm_eps": 1e-5, "pad_token_id": 1, "bos_token_id": 0, "eos_token_id": 2, "position_embedding_type": "absolute", **LABELS}
        shapes = {"roberta.embeddings.word_embeddings.weight": (V, D), "roberta.embeddings.position_embeddings.weight": (P, D),
                  "roberta.embeddings.token_type_embeddings.weight": (1, D),
                  "roberta.embeddings.LayerNorm.weight": (D,), "roberta.embeddings.LayerNorm.bias": (D,)}
        shapes.update(layer_shapes("roberta.encoder.layer", BERT_NAMES, L, D, I))
        shapes.update({"classifier.dense.weight": (D, D), "classifier.dense.bias": (D,), "classifier.out_proj.weight": (C, D), "classifier.out_proj.bias": (C,)})
        fwd, (cls, sep, pad, roberta) = xlmr_forward, (0, 2, 1, True)
    elif family == "distilbert":
        cfg = {"architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert", "vocab_size": V, "dim": D, "n_layers": L,
               "n_heads": H, "hidden_dim": I, "activation": "gelu", "dropout": 0.1, "attention_dropout": 0.1, "seq_classif_dropout": 0.2,
               "qa_dropout": 0.1, "max_position_embeddings": 64, "initializer_range": 0.02, "pad_token_id": 0, "sinusoidal_pos_embds": False,
               "tie_weights_": True, **LABELS}
        shapes = {"distilbert.embeddings.word_embeddings.weight": (V, D), "distilbert.embeddings.position_embeddings.weight": (64, D),
                  "distilbert.embeddings.LayerNorm.weight": (D,), "distilbert.embeddings.LayerNorm.bias": (D,)}
        shapes.update(layer_shapes("distilbert.transformer.layer", DISTIL_NAMES, L, D, I))
        shapes.update({"pre_classifier.weight": (D, D), "pre_classifier.bias": (D,), "classifier.weight": (C, D), "classifier.bias": (C,)})
        fwd, (cls, sep, pad, roberta) = distilbert_forward, (2, 3, 0, False)
    else:
        E = 16
        cfg = {"architectures": ["ElectraForSequenceClassification"], "model_type": "electra", "vocab_size": V, "embedding_size": E, "hidden_size": D,
               "num_hidden_layers": L, "num_attention_heads": H, "intermediate_size": I, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
               "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2, "initializer_range": 0.02,
               "layer_norm_eps": 1e-12, "pad_token_id": 0, "summary_type": "first", "position_embedding_type": "absolute", **LABELS}
        shapes = {"electra.embeddings.word_embeddings.weight": (V, E), "electra.embeddings.position_embeddings.weight": (64, E),
                  "electra.embeddings.token_type_embeddings.weight": (2, E),
                  "electra.embeddings.LayerNorm.weight": (E,), "electra.embeddings.LayerNorm.bias": (E,),
                  "electra.embeddings_project.weight": (D, E), "electra.embeddings_project.bias": (D,)}
        shapes.update(layer_shapes("electra.encoder.layer", BERT_NAMES, L, D, I))
        shapes.update({"classifier.dense.weight": (D, D), "classifier.dense.bias": (D,), "classifier.out_proj.weight": (C, D), "classifier.out_proj.bias": (C,)})
        fwd, (cls, sep, pad, roberta) = electra_forward, (2, 3, 0, False)
    p32 = random_weights(shapes)
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    write_safetensors(os.path.join(out_dir, "model.safetensors"), p32, {"format": "pt"})
    ids, tt, mask = batch(seed, cls, sep, pad, roberta)
    labels = torch.tensor([0, 2, 1])
    p64 = {n: t.double().requires_grad_(True) for n, t in p32.items()}
    seq, pooled, logits = fwd(p64, cfg, ids, tt, mask)
    loss = torch.nn.functional.cross_entropy(logits, labels)
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "labels": labels,
           "sequence_output": seq.detach(), "pooled_output": pooled.detach(), "logits": logits.detach(), "loss": loss.detach().reshape(1)}
    for n, t in p64.items():
        ref["grad." + n] = t.grad.detach()
    write_reference(out_dir, ref, "tools/make_family_fixtures.py")
    print(f"{out_dir}: loss {loss.item():.6f}, {len(p32)} parameters")


def electra_encoder(p, cfg, ids, tt, mask):
    """ElectraModel: embeddings in embedding_size, embeddings_project when it differs from hidden_size, BERT's layers"""
    S, eps = ids.shape[1], cfg["layer_norm_eps"]
    e = p["electra.embeddings.word_embeddings.weight"][ids] + p["electra.embeddings.position_embeddings.weight"][torch.arange(S)][None] \
        + p["electra.embeddings.token_type_embeddings.weight"][tt]
    h = layer_norm(e, p["electra.embeddings.LayerNorm.weight"], p["electra.embeddings.LayerNorm.bias"], eps)
    if cfg["embedding_size"] != cfg["hidden_size"]:
        h = h @ p["electra.embeddings_project.weight"].T + p["electra.embeddings_project.bias"]
    madd = (1.0 - mask.to(h.dtype))[:, None, None, :] * torch.finfo(h.dtype).min
    return bert_layers(p, "electra.encoder.layer", h, madd, cfg["num_hidden_layers"], cfg["num_attention_heads"], eps, act_fn(cfg["hidden_act"]), BERT_NAMES)


def electra_shapes(prefix_cfg, E, D, L, I, with_proj):
    shapes = {"electra.embeddings.word_embeddings.weight": (V, E), "electra.embeddings.position_embeddings.weight": (64, E),
              "electra.embeddings.token_type_embeddings.weight": (2, E),
              "electra.embeddings.LayerNorm.weight": (E,), "electra.embeddings.LayerNorm.bias": (E,)}
    if with_proj:
        shapes.update({"electra.embeddings_project.weight": (D, E), "electra.embeddings_project.bias": (D,)})
    shapes.update(layer_shapes("electra.encoder.layer", BERT_NAMES, L, D, I))
    return shapes


def make_electra_pretraining(out_dir, seed):
    torch.manual_seed(seed)
    E, Dg, Ig, MASK = 16, 8, 32, 4
    base = {"model_type": "electra", "vocab_size": V, "embedding_size": E, "num_hidden_layers": L, "hidden_act": "gelu",
            "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1, "max_position_embeddings": 64, "type_vocab_size": 2,
            "initializer_range": 0.02, "layer_norm_eps": 1e-12, "pad_token_id": 0}
    dcfg = {"architectures": ["ElectraForPreTraining"], **base, "hidden_size": D, "num_attention_heads": H, "intermediate_size": I}
    gcfg = {"architectures": ["ElectraForMaskedLM"], **base, "hidden_size": Dg, "num_attention_heads": 1, "intermediate_size": Ig}
    dshapes = electra_shapes(dcfg, E, D, L, I, True)
    dshapes.update({"discriminator_predictions.dense.weight": (D, D), "discriminator_predictions.dense.bias": (D,),
                    "discriminator_predictions.dense_prediction.weight": (1, D), "discriminator_predictions.dense_prediction.bias": (1,)})
    gshapes = electra_shapes(gcfg, E, Dg, L, Ig, True)
    gshapes.update({"generator_predictions.dense.weight": (E, Dg), "generator_predictions.dense.bias": (E,),
                    "generator_predictions.LayerNorm.weight": (E,), "generator_predictions.LayerNorm.bias": (E,), "generator_lm_head.bias": (V,)})
    d32 = random_weights(dshapes)
    g32 = random_weights(gshapes)
    shared = [n for n in gshapes if n.startswith("electra.embeddings.")]
    for n in shared:
        g32[n] = d32[n]  # one set of embedding tensors (the generator's file holds a copy)
    os.makedirs(os.path.join(out_dir, "generator"), exist_ok=True)
    for d, cfg, w in ((out_dir, dcfg, d32), (os.path.join(out_dir, "generator"), gcfg, g32)):
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        write_safetensors(os.path.join(d, "model.safetensors"), w, {"format": "pt"})
    ids, tt, mask = batch(seed, 2, 3, 0, False)
    # masked positions (row, position), the generator's input there ([MASK], a random token, the original kept), the samples
    # (two equal to the original: not replaced)
    picks = [(0, 1), (0, 4), (0, 8), (1, 2), (1, 5), (2, 1)]
    masked = ids.clone()
    S = ids.shape[1]
    positions = torch.tensor([b * S + s for b, s in picks])
    targets = ids.view(-1)[positions].clone()
    for k, (b, s) in enumerate(picks):
        masked[b, s] = MASK if k % 3 != 1 else (17 if k == 1 else ids[b, s])
    sampled = torch.tensor([int(targets[0]), 40, 41, 42, int(targets[4]), 43])
    disc_ids = ids.clone().view(-1)
    disc_ids[positions] = sampled
    disc_ids = disc_ids.view(ids.shape)
    labels = (disc_ids != ids).double()
    dp = {n: t.double().requires_grad_(True) for n, t in d32.items()}
    gp = {n: (dp[n] if n in shared else t.double().requires_grad_(True)) for n, t in g32.items()}
    hg = electra_encoder(gp, gcfg, masked, tt, mask)
    x = hg.reshape(-1, Dg)[positions] @ gp["generator_predictions.dense.weight"].T + gp["generator_predictions.dense.bias"]
    x = layer_norm(0.5 * x * (1 + torch.erf(x / math.sqrt(2))), gp["generator_predictions.LayerNorm.weight"], gp["generator_predictions.LayerNorm.bias"], 1e-12)
    gen_logits = x @ gp["electra.embeddings.word_embeddings.weight"].T + gp["generator_lm_head.bias"]
    gen_loss = torch.nn.functional.cross_entropy(gen_logits, targets)
    hd = electra_encoder(dp, dcfg, disc_ids, tt, mask)
    a = act_fn(dcfg["hidden_act"])(hd @ dp["discriminator_predictions.dense.weight"].T + dp["discriminator_predictions.dense.bias"])
    z = (a @ dp["discriminator_predictions.dense_prediction.weight"].T + dp["discriminator_predictions.dense_prediction.bias"]).squeeze(-1)
    active = mask.view(-1) == 1
    disc_loss = torch.nn.functional.binary_cross_entropy_with_logits(z.view(-1)[active], labels.view(-1)[active])
    loss = gen_loss + 50.0 * disc_loss
    loss.backward()
    ref = {"input_ids": ids, "token_type_ids": tt, "attention_mask": mask, "masked_input_ids": masked, "positions": positions, "targets": targets,
           "sampled": sampled, "gen_loss": gen_loss.detach().reshape(1), "disc_loss": disc_loss.detach().reshape(1), "loss": loss.detach().reshape(1),
           "disc_logits": z.detach()}
    for n, t in dp.items():
        ref["grad." + n] = t.grad.detach()
    for n, t in gp.items():
        if n not in shared:
            ref["generator_grad." + n] = t.grad.detach()
    write_reference(out_dir, ref, "tools/make_family_fixtures.py")
    print(f"{out_dir}: generator loss {gen_loss.item():.6f}, discriminator loss {disc_loss.item():.6f}, {int(labels.sum())} replaced")


if __name__ == "__main__":
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "fixtures")
    make("xlm-roberta", os.path.join(root, "parity-xlm-roberta"), 21)
    make("distilbert", os.path.join(root, "parity-distilbert"), 22)
    make("electra", os.path.join(root, "parity-electra"), 23)
    make_electra_pretraining(os.path.join(root, "parity-electra-pretrain"), 24)
