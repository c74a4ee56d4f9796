#!/usr/bin/python3
"""Python half of tools/check_torch_mirror.ts: runs the PyTorch mirror on what our model saw.

    /usr/bin/python3 tools/check_torch_mirror.py DIR

DIR holds weights.safetensors (our state dict), inputs.safetensors, ours.safetensors (our
outputs and gradients) and meta.json, as written by tools/check_torch_mirror.ts. Loads our
weights into tools/torch_dmformer.py's DMFormer (strict: every name and shape must match),
repeats the eval forward and the training step, and prints the max absolute differences.
Exit code 1 when a difference is beyond a loose float32 tolerance or a discrete choice
(subject span, matched query) differs.
"""

import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_dmformer as tdm  # noqa: E402

DTYPES = {"F32": np.float32, "F64": np.float64, "I32": np.int32, "I64": np.int64,
          "U8": np.uint8, "BOOL": np.bool_}


def read_safetensors(path):
    """The format is an 8-byte little-endian header length, a JSON header, then raw data."""
    with open(path, "rb") as f:
        blob = f.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        a, b = info["data_offsets"]
        arr = np.frombuffer(blob[base + a:base + b], dtype=DTYPES[info["dtype"]])
        out[name] = torch.from_numpy(arr.reshape(info["shape"]).copy())
    return out


def max_diff(a, b):
    return float((a.double() - b.double()).abs().max()) if a.numel() else 0.0


def main():
    d = sys.argv[1]
    meta = json.load(open(os.path.join(d, "meta.json")))
    weights = read_safetensors(os.path.join(d, "weights.safetensors"))
    inputs = read_safetensors(os.path.join(d, "inputs.safetensors"))
    ours = read_safetensors(os.path.join(d, "ours.safetensors"))
    torch.set_num_threads(2)

    model = tdm.DMFormer(meta["config"])
    model.load_state_dict(weights, strict=True)
    args = (inputs["frames"], inputs["mask"].bool(), inputs["input_ids"].long(),
            inputs["attention_mask"].long(),
            [{int(k): tuple(v) for k, v in m} for m in meta["positiveMaps"]],
            [tuple(s) for s in meta["imageSizes"]])
    targets = [dict(boxes=inputs[f"target{i}.boxes"], masks=inputs[f"target{i}.masks"],
                    size=tuple(t["size"]), valid=t["valid"], labels=t["labels"])
               for i, t in enumerate(meta["targets"])]
    problems = []
    rows = []

    def compare_outputs(prefix, out):
        layers = [("", out)] + [(f"aux{i}.", a) for i, a in enumerate(out["aux_outputs"])]
        for tag, layer in layers:
            keys = ["pred_logits", "pred_boxes", "pred_masks"] + (["subject"] if not tag else [])
            src = dict(layer, subject=out["subject"])
            for k in keys:
                ref = ours[f"{prefix}.{tag}{k}"]
                mine = src[k].detach()
                if tuple(ref.shape) != tuple(mine.shape):
                    problems.append(f"{prefix}.{tag}{k}: shape {tuple(mine.shape)} vs ours "
                                    f"{tuple(ref.shape)}")
                    continue
                diff = max_diff(ref, mine)
                scale = float(ref.abs().max())
                rows.append((f"{prefix}.{tag}{k}", tuple(ref.shape), diff, scale))
                if diff > 1e-3 * max(1.0, scale):
                    problems.append(f"{prefix}.{tag}{k}: max diff {diff:.3g}")

    def check_spans(prefix, out):
        spans = [list(s) for s in out["spans"]]
        if spans != meta["spans"][prefix]:
            problems.append(f"{prefix}: subject spans {spans} vs ours {meta['spans'][prefix]}")

    # eval forward
    model.eval()
    with torch.no_grad():
        out = model(*args)
    compare_outputs("eval", out)
    check_spans("eval", out)
    frames = inputs["odd.frames"]
    b, t, _, h, w = frames.shape
    with torch.no_grad():
        out = model(frames, torch.zeros(b, t, h, w, dtype=torch.bool), *args[2:5], [(h, w)] * b)
    compare_outputs("odd", out)
    check_spans("odd", out)

    # training step: forward, criterion, backward, AdamW, losses again
    model.train()
    crit = tdm.SetCriterion(num_classes=meta["config"]["numClasses"])
    opt = torch.optim.AdamW(model.parameters(), lr=meta["optimizer"]["lr"],
                            weight_decay=meta["optimizer"]["weightDecay"])
    out = model(*args)
    res = crit(out, targets, meta["subjectLabels"])
    compare_outputs("train", out)
    check_spans("train", out)
    if res["matches"] != meta["matches"]:
        problems.append(f"matched slots {res['matches']} vs ours {meta['matches']}")
    res["total"].backward()
    grad_rows = []
    for name, p in model.named_parameters():
        ref = ours.get(f"grad.{name}")
        if ref is None or p.grad is None:
            if (ref is None) != (p.grad is None):
                problems.append(f"grad.{name}: present on one side only")
            continue
        diff = max_diff(ref, p.grad)
        scale = float(ref.abs().max())
        grad_rows.append((name, diff, scale))
    opt.step()
    opt.zero_grad(set_to_none=True)
    after = crit(model(*args), targets, meta["subjectLabels"])

    print(f"PyTorch {torch.__version__} mirror vs ours ({meta['backend']} backend, seed "
          f"{meta['seed']}{', padded frame' if meta['padded'] else ''}), tiny config")
    print(f"{'tensor':34} {'shape':>22} {'max |diff|':>11} {'max |ours|':>11}")
    for name, shape, diff, scale in rows:
        print(f"{name:34} {str(list(shape)):>22} {diff:11.3g} {scale:11.3g}")
    print(f"\n{'loss':24} {'ours':>12} {'mirror':>12} {'|diff|':>10}")
    for prefix, r in (("loss", res), ("loss_after_step", after)):
        items = [("total", r["total"])] + list(r["losses"].items())
        for k, v in items:
            key = f"{prefix}.{k}"
            o, m = meta["losses"].get(key), float(v)
            if o is None:
                problems.append(f"{key}: computed here only")
                continue
            diff = abs(o - m)
            if diff > 1e-4 * max(1.0, abs(o)):
                problems.append(f"{key}: {m} vs ours {o}")
            if k == "total" or prefix == "loss":
                print(f"{key:24} {o:12.6f} {m:12.6f} {diff:10.3g}")
    missing = set(k[len("loss."):] for k in meta["losses"] if k.startswith("loss.")) \
        - {"total"} - set(res["losses"])
    if missing:
        problems.append(f"loss terms missing here: {sorted(missing)}")
    grad_rows.sort(key=lambda r: -r[1] / max(r[2], 1e-3))
    worst_abs = max(r[1] for r in grad_rows)
    print(f"\ngradients: {len(grad_rows)} parameters, max |diff| {worst_abs:.3g}; largest "
          "relative to max(that parameter's max |grad|, 1e-3):")
    for name, diff, scale in grad_rows[:5]:
        print(f"  {name:64} {diff:10.3g} / {max(scale, 1e-3):10.3g} = "
              f"{diff / max(scale, 1e-3):.2e}")
    # gradients that are zero in exact arithmetic (e.g. attention key biases: softmax is
    # shift-invariant) are float32 noise on both sides: below 1e-3 judge them absolutely
    bad = [r for r in grad_rows if r[1] > 1e-3 * max(r[2], 1e-3)]
    for name, diff, scale in bad:
        problems.append(f"grad.{name}: max diff {diff:.3g} (max |grad| {scale:.3g})")
    if res["matches"] == meta["matches"]:
        print(f"matched query slots agree (final layer, then aux): {res['matches']}")
    if not any("spans" in p for p in problems):
        print(f"subject spans agree: {meta['spans']['eval']}")
    if problems:
        print("\nMISMATCHES:\n  " + "\n  ".join(problems))
        sys.exit(1)
    print("\nOK: the mirror matches ours within float32 tolerance")


if __name__ == "__main__":
    main()
