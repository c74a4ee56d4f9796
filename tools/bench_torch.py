#!/usr/bin/python3
"""PyTorch reference numbers for `deno task bench --compare torch`.

    /usr/bin/python3 tools/bench_torch.py [--json out.json] [--quick] [--repeat N]
        [--budget S] [--filter REGEX] [--threads 2] [--device cpu|cuda]

Same suite and case names, shapes and timing rules as tools/bench.ts (tools/bench/*.ts),
float32 on the CPU with torch.set_num_threads(2), or on a CUDA GPU with --device cuda (TF32 off
in matmul and cuDNN, so that both sides compute in float32; the timer synchronises the device).
Blocks and the whole model run the PyTorch mirror of our DMFormer (tools/torch_dmformer.py:
same parameter names, same computation, checked by tools/check_torch_mirror.ts); MSDA uses the
pure-PyTorch grid_sample formulation of the reference's CPU path (ms_deform_attn_core_pytorch).
Writes the BenchReport JSON schema of tools/bench/types.ts with one backend named "torch".
Needs python3-torch (Debian: apt-get install -y python3-torch); never needed by the tests.
Exit code 3 means torch cannot be imported, 4 that --device cuda found no CUDA device.
"""

import argparse
import datetime
import json
import math
import os
import platform
import re
import sys
import time

try:
    import torch
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print(f"bench_torch: cannot import torch: {e}", file=sys.stderr)
    sys.exit(3)

# the PyTorch mirror of our model (same names, same computation; tools/check_torch_mirror.ts)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_dmformer as tdm  # noqa: E402

F32 = 4

# ---- shapes (tools/bench/shapes.ts) -------------------------------------------------------

ENCODER = dict(n=5, levels=[(45, 80), (23, 40), (12, 20), (6, 10)], d=256, heads=8, points=4,
               dffn=2048)
ENCODER_QUICK = dict(n=1, levels=[(6, 8), (3, 4), (2, 2), (1, 1)], d=32, heads=4, points=2,
                     dffn=64)
SWIN = dict(frames=5, height=360, width=640, patch=4, dim=96, heads=3, window=7, mlp=4)
SWIN_QUICK = dict(frames=1, height=32, width=48, patch=4, dim=16, heads=2, window=7, mlp=4)
SWIN_BACKBONE = dict(frames=5, height=360, width=640, dim=96, depths=[2, 2, 6, 2],
                     heads=[3, 6, 12, 24])
SWIN_BACKBONE_QUICK = dict(frames=1, height=64, width=96, dim=16, depths=[2, 2, 2, 2],
                           heads=[1, 2, 2, 4])
# tools/bench/blocks.ts FPN / FPN_QUICK
FPN = dict(t=5, sizes=[(90, 160), (45, 80), (23, 40), (12, 20)], stage1=96, d=256, mask_dim=256,
           dff=2048, heads=8, groups=8, sr=[8, 4, 2, 1], words=12)
FPN_QUICK = dict(t=1, sizes=[(8, 12), (4, 6), (2, 3), (1, 2)], stage1=16, d=32, mask_dim=32,
                 dff=64, heads=4, groups=8, sr=[2, 2, 1, 1], words=4)
# tools/bench/model.ts INFER / TRAIN clips (b clips of t frames, caption tokens, padding)
INFER = dict(b=1, t=5, h=360, w=640, tokens=12, pad=20)
INFER_QUICK = dict(b=1, t=1, h=64, w=64, tokens=6, pad=8)
TRAIN = dict(b=1, t=2, h=128, w=224, tokens=10, pad=16)
TRAIN_QUICK = dict(b=1, t=2, h=64, w=64, tokens=6, pad=8)


def tokens(e):
    return sum(h * w for h, w in e["levels"])


def swin_grid(s):
    h = math.ceil(s["height"] / s["patch"])
    w = math.ceil(s["width"] / s["patch"])
    hp = math.ceil(h / s["window"]) * s["window"]
    wp = math.ceil(w / s["window"]) * s["window"]
    per = (hp // s["window"]) * (wp // s["window"])
    return dict(h=h, w=w, hp=hp, wp=wp, per_image=per, windows=s["frames"] * per)


def window_attention_flops(windows, n, c):
    return windows * (2 * n * c * 3 * c + 4 * n * n * c + 2 * n * c * c)


def swin_stage1_flops(s):
    g = swin_grid(s)
    tok = s["frames"] * g["h"] * g["w"]
    embed = 2 * tok * s["dim"] * 3 * s["patch"] ** 2
    attn = window_attention_flops(g["windows"], s["window"] ** 2, s["dim"])
    mlp = 2 * 2 * tok * s["dim"] * s["dim"] * s["mlp"]
    return embed + 2 * (attn + mlp)


def swin_flops(frames, h, w, dim=96, depths=(2, 2, 6, 2)):
    """Whole Swin backbone (shapes.ts swinFlops): patch embed, blocks, patch merging."""
    total = 2 * frames * math.ceil(h / 4) * math.ceil(w / 4) * dim * 3 * 16
    gh, gw, c = math.ceil(h / 4), math.ceil(w / 4), dim
    for s, depth in enumerate(depths):
        windows = frames * math.ceil(gh / 7) * math.ceil(gw / 7)
        tok = frames * gh * gw
        total += depth * (window_attention_flops(windows, 49, c) + 2 * 2 * tok * c * 4 * c)
        if s < len(depths) - 1:
            gh, gw = math.ceil(gh / 2), math.ceil(gw / 2)
            total += 2 * frames * gh * gw * 4 * c * 2 * c
            c *= 2
    return total


def fpn_flops(f):
    """Multiply-add flops of the FPN decoder as built (blocks.ts fpnFlops)."""
    d, t, lw = f["d"], f["t"], f["words"]
    total = 0
    for i, (h, w) in enumerate(f["sizes"]):
        tok = t * h * w
        cin = f["stage1"] if i == 0 else d
        s = f["sr"][i]
        tok_s = t * int(h / s) * int(w / s) if s > 1 else tok
        total += 2 * tok * cin * d
        total += 4 * 2 * tok_s * d * d + 2 * 2 * tok_s * tok_s * d
        total += 2 * 2 * tok * d * d + 2 * 2 * lw * d * d + 2 * 2 * tok * lw * d
        total += 2 * 2 * tok * d * f["dff"]
        total += 2 * tok * d * d * 9
    h0, w0 = f["sizes"][0]
    return total + 2 * t * h0 * w0 * d * f["mask_dim"] * 9


def msda_point_channels(e):
    return e["n"] * tokens(e) * e["d"] * len(e["levels"]) * e["points"]


def encoder_layer_flops(e):
    t = e["n"] * tokens(e)
    c = e["d"]
    L = len(e["levels"])
    proj = 2 * t * c * (c + e["heads"] * L * e["points"] * 3 + c)
    return proj + 8 * msda_point_channels(e) + 2 * 2 * t * c * e["dffn"]


def shape_str(*dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


# ---- cases ---------------------------------------------------------------------------------

class Case:
    def __init__(self, name, shape, setup, flops=None, bytes_=None, note=None, skip=None):
        self.name, self.shape, self.setup = name, shape, setup
        self.flops, self.bytes, self.note, self.skip = flops, bytes_, note, skip


def matmul_case(n):
    def setup():
        a, b = torch.rand(n, n), torch.rand(n, n)
        return dict(run=lambda: a @ b)
    return Case(f"matmul {n}", f"{shape_str(n, n)} x {shape_str(n, n)}", setup,
                flops=2 * n ** 3, bytes_=3 * n * n * F32, note="2n^3")


def copy_case(n):
    def setup():
        x = torch.rand(n)
        return dict(run=lambda: torch.neg(x))
    label = f"{n >> 20}M" if n >= 1 << 20 else str(n)
    return Case(f"copy {label} f32", shape_str(n), setup, bytes_=2 * n * F32,
                note="neg(x): read + write")


def primitives(quick):
    cases = [matmul_case(n) for n in ([32, 64] if quick else [256, 512, 1024, 2048])]
    cin, cout, hw = (8, 8, 8) if quick else (256, 256, 64)

    def conv():
        x, w = torch.rand(1, cin, hw, hw), torch.rand(cout, cin, 3, 3)
        return dict(run=lambda: F.conv2d(x, w, padding=1))
    cases.append(Case(f"conv2d 3x3 {cin}->{cout}",
                      f"{shape_str(1, cin, hw, hw)} * {shape_str(cout, cin, 3, 3)} pad 1", conv,
                      flops=2 * cout * hw * hw * cin * 9,
                      bytes_=(cin * hw * hw + cout * cin * 9 + cout * hw * hw) * F32))
    rows, cols = (64, 64) if quick else (4096, 4096)
    n = rows * cols
    for axis in (1, 0):
        def red(axis=axis):
            x = torch.rand(rows, cols)
            return dict(run=lambda: x.sum(axis))
        cases.append(Case(f"sum axis {axis}", shape_str(rows, cols), red, flops=n,
                          bytes_=(n + (rows if axis == 1 else cols)) * F32))

    def sm():
        x = torch.rand(rows, cols)
        return dict(run=lambda: torch.softmax(x, -1))
    cases.append(Case("softmax last axis", shape_str(rows, cols), sm, bytes_=2 * n * F32))
    tok, ch = (64, 32) if quick else (24100, 256)

    def ln():
        x, g, b = torch.rand(tok, ch), torch.rand(ch), torch.rand(ch)
        return dict(run=lambda: F.layer_norm(x, (ch,), g, b))
    cases.append(Case(f"layer_norm {ch}", shape_str(tok, ch), ln,
                      bytes_=(2 * tok * ch + 2 * ch) * F32))
    nchw = (1, 8, 6, 10) if quick else (5, 256, 90, 160)

    def strided():
        x = torch.rand(*nchw)
        return dict(run=lambda: x.permute(0, 2, 3, 1).contiguous())
    cases.append(Case("strided copy NCHW->NHWC", shape_str(*nchw), strided,
                      bytes_=2 * math.prod(nchw) * F32))
    cases.append(copy_case(1 << 16 if quick else 1 << 24))
    return cases


def kernels(quick):
    e = ENCODER_QUICK if quick else ENCODER
    S, M = tokens(e), e["heads"]
    D, L, P = e["d"] // M, len(e["levels"]), e["points"]
    shape = f"N={e['n']} Lq=S={S} M={M} D={D} L={L} P={P}"
    pc = msda_point_channels(e)

    def make(grad):
        value = torch.randn(e["n"], S, M, D)
        loc = torch.rand(e["n"], S, M, L, P, 2)
        w = torch.softmax(torch.randn(e["n"], S, M, L * P), -1).view(e["n"], S, M, L, P)
        leaves = [value, loc, w]
        for t in leaves:
            t.requires_grad_(grad)
        return leaves

    def fwd():
        v, l, w = make(False)
        return dict(run=lambda: tdm.ms_deform_attn_core_pytorch(v, e["levels"], l, w), no_grad=True)

    def fwd_bwd():
        leaves = make(True)
        g = torch.randn(e["n"], S, M * D)
        return dict(reset=lambda: clear_grads(leaves),
                    run=lambda: tdm.ms_deform_attn_core_pytorch(
                        leaves[0], e["levels"], leaves[1], leaves[2]).backward(g))
    cases = [
        Case("msda forward", shape, fwd, flops=8 * pc,
             note="grid_sample formulation; flops as ours (8 per point-channel)"),
        Case("msda forward+backward", shape, fwd_bwd, flops=24 * pc),
    ]
    s = SWIN_QUICK if quick else SWIN
    g = swin_grid(s)
    n = s["window"] ** 2
    wshape = f"{shape_str(g['windows'], n, s['dim'])} {s['heads']} heads, shifted"
    flops = window_attention_flops(g["windows"], n, s["dim"])

    def wmake(grad):
        mod = tdm.WindowAttention(s["dim"], s["window"], s["heads"])
        x = torch.randn(g["windows"], n, s["dim"], requires_grad=grad)
        mask = tdm.shift_attn_mask(g["hp"], g["wp"], s["window"], s["window"] // 2)
        return mod, x, mask

    def wfwd():
        mod, x, mask = wmake(False)
        return dict(run=lambda: mod(x, mask), no_grad=True)

    def wbwd():
        mod, x, mask = wmake(True)
        grad = torch.randn(g["windows"], n, s["dim"])
        leaves = [x, *mod.parameters()]
        return dict(reset=lambda: clear_grads(leaves), run=lambda: mod(x, mask).backward(grad))
    cases += [
        Case("window attention forward", wshape, wfwd, flops=flops),
        Case("window attention forward+backward", wshape, wbwd, flops=3 * flops),
    ]
    return cases


def blocks(quick):
    s = SWIN_QUICK if quick else SWIN

    def swin():
        # stage 1 alone: a one-stage Swin (no merging), its output not normalised
        mod = tdm.SwinTransformer(s["patch"], s["dim"], [2], [s["heads"]], s["window"], s["mlp"],
                                  0.0).eval()
        x = torch.randn(s["frames"], 3, s["height"], s["width"])
        return dict(run=lambda: mod(x), no_grad=True)
    sb = SWIN_BACKBONE_QUICK if quick else SWIN_BACKBONE

    def backbone():
        mod = tdm.SwinTransformer(embed_dim=sb["dim"], depths=sb["depths"],
                                  heads=sb["heads"]).eval()
        x = torch.randn(sb["frames"], 3, sb["height"], sb["width"])
        return dict(run=lambda: mod(x), no_grad=True)
    e = ENCODER_QUICK if quick else ENCODER
    S = tokens(e)

    def enc():
        mod = tdm.DeformableTransformerEncoderLayer(e["d"], e["dffn"], 0.0, len(e["levels"]),
                                                    e["heads"], e["points"]).eval()
        src, pos = torch.randn(e["n"], S, e["d"]), torch.randn(e["n"], S, e["d"])
        ref = tdm.encoder_reference_points(e["levels"], torch.ones(e["n"], len(e["levels"]), 2))
        return dict(run=lambda: mod(src, pos, ref, e["levels"], None), no_grad=True)
    f = FPN_QUICK if quick else FPN

    def fpn():
        d = f["d"]
        mod = tdm.CrossModalFPNDecoder([f["stage1"], d, d, d], d, f["mask_dim"], f["dff"],
                                       f["heads"], f["groups"], f["sr"], 0.0).eval()
        h0, w0 = f["sizes"][0]
        stage1 = torch.randn(f["t"], f["stage1"], h0, w0)
        memory = [torch.randn(f["t"], d, h, w) for h, w in f["sizes"][1:]]
        masks = [torch.zeros(f["t"], h, w, dtype=torch.bool) for h, w in f["sizes"]]
        poses = [torch.randn(f["t"], d, h, w) for h, w in f["sizes"]]
        text = torch.randn(1, f["words"], d)
        text_mask = torch.zeros(1, f["words"], dtype=torch.bool)
        return dict(run=lambda: mod(stage1, memory, masks, poses, text, text_mask, f["t"]),
                    no_grad=True)
    levels = "/".join(f"{h}x{w}" for h, w in e["levels"])
    h0, w0 = f["sizes"][0]
    return [
        Case("swin-t stage 1",
             f"{shape_str(s['frames'], 3, s['height'], s['width'])} -> {s['dim']} ch, 2 blocks",
             swin, flops=swin_stage1_flops(s)),
        Case("swin-t backbone",
             f"{shape_str(sb['frames'], 3, sb['height'], sb['width'])} -> 4 stages, "
             + "/".join(str(x) for x in sb["depths"]) + " blocks",
             backbone, flops=swin_flops(sb["frames"], sb["height"], sb["width"], sb["dim"],
                                        sb["depths"])),
        Case("deformable encoder layer",
             f"{shape_str(e['n'], S, e['d'])} {levels} d_ffn {e['dffn']}", enc,
             flops=encoder_layer_flops(e)),
        Case("cross-modal fpn",
             f"{shape_str(f['t'], f['stage1'], h0, w0)} + 3 memory maps of {f['d']} ch, "
             f"{f['words']} words", fpn, flops=fpn_flops(f)),
    ]


# ---- whole model (tools/bench/model.ts) ----------------------------------------------------

def captions(c, vocab):
    """[CLS] ids... [SEP] then padding; chunks 1 = tokens 1-2 and 2 = tokens 4-5."""
    ids = torch.zeros(c["b"], c["pad"], dtype=torch.long)
    mask = torch.zeros(c["b"], c["pad"], dtype=torch.long)
    for k in range(c["tokens"]):
        ids[:, k] = (101 if k == 0 else 102 if k == c["tokens"] - 1 else 1000 + 37 * k) % vocab
        mask[:, k] = 1
    maps = [{1: (1, 2), 2: (4, 5)} for _ in range(c["b"])]
    return ids, mask, maps


def clip_inputs(c, vocab):
    frames = torch.randn(c["b"], c["t"], 3, c["h"], c["w"])
    pad = torch.zeros(c["b"], c["t"], c["h"], c["w"], dtype=torch.bool)
    ids, mask, maps = captions(c, vocab)
    return (frames, pad, ids, mask, maps, [(c["h"], c["w"])] * c["b"])


def clip_targets(c):
    """A centred box (0.5, 0.5, 0.5, 0.5) and its mask in every frame."""
    out = []
    for _ in range(c["b"]):
        m = torch.zeros(c["t"], c["h"], c["w"], dtype=torch.uint8)
        m[:, c["h"] >> 2:(3 * c["h"]) >> 2, c["w"] >> 2:(3 * c["w"]) >> 2] = 1
        out.append(dict(boxes=torch.full((c["t"], 4), 0.5), masks=m, size=(c["h"], c["w"]),
                        valid=[1] * c["t"], labels=[0] * c["t"]))
    return out


def model(quick):
    infer = INFER_QUICK if quick else INFER
    train = TRAIN_QUICK if quick else TRAIN

    def inference():
        cfg = tdm.resolve_config("tiny" if quick else "swin-t")
        net = tdm.DMFormer(cfg).eval()
        net.requires_grad_(False)
        args = clip_inputs(infer, cfg["text"]["vocabSize"])
        return dict(run=lambda: net(*args), no_grad=True)

    def train_step():
        cfg = tdm.resolve_config(dict(base="tiny", dropout=0))
        net = tdm.DMFormer(cfg).train()
        opt = torch.optim.AdamW(net.parameters(), lr=1e-4, weight_decay=1e-4)
        crit = tdm.SetCriterion(num_classes=cfg["numClasses"])
        args = clip_inputs(train, cfg["text"]["vocabSize"])
        targets = clip_targets(train)
        labels = [[int(k == 1) for k in range(train["tokens"])]] * train["b"]

        def step():
            losses = crit(net(*args), targets, labels)
            losses["total"].backward()
            opt.step()
        return dict(reset=lambda: opt.zero_grad(set_to_none=True), run=step)
    shape = f"tiny config, {shape_str(infer['t'], 3, infer['h'], infer['w'])} clip" if quick \
        else f"{shape_str(infer['t'], 3, infer['h'], infer['w'])} clip, " \
        f"{infer['tokens']}-token sentence"
    return [
        Case("dmformer swin-t inference", shape, inference,
             note="per clip, random weights, eval mode: the PyTorch mirror of our model "
                  "(tools/torch_dmformer.py)"),
        Case("dmformer tiny train step",
             f"tiny config, {shape_str(train['t'], 3, train['h'], train['w'])} clip", train_step,
             note="forward, SetCriterion, backward, torch.optim.AdamW step (dropout 0)"),
    ]


SUITES = [("primitives", primitives), ("kernels", kernels), ("blocks", blocks),
          ("model", model)]


def clear_grads(ts):
    for t in ts:
        t.grad = None


# ---- timing (tools/bench/runner.ts rules) -------------------------------------------------

def quantile(xs, q):
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def synchronize():
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def time_case(case, quick, repeat, budget):
    prep = case.setup()
    run, reset = prep["run"], prep.get("reset")
    no_grad = prep.get("no_grad", False)

    def once():
        if reset:
            reset()
        synchronize()
        t0 = time.perf_counter()
        if no_grad:
            with torch.no_grad():
                run()
        else:
            run()
        synchronize()
        return (time.perf_counter() - t0) * 1000

    first = once()
    times, warmup = [], 1
    if quick or first > 20000:
        times.append(first)
        warmup = 0
    elif first < 100:
        once()
        once()
        warmup = 3
    per = times[0] if times else first
    target = 1 if quick else max(1, min(repeat, int(budget * 1000 // per)))
    while len(times) < target:
        times.append(once())
    return times, warmup


def measure_peak(quick):
    peak = dict(gflops=0.0, gflops_at="", gbps=0.0, gbps_at="")
    for n in ([64, 128] if quick else [256, 512, 1024]):
        c = matmul_case(n)
        times, _ = time_case(c, False, 3, 2)
        g = c.flops / (min(times) * 1e6)
        if g > peak["gflops"]:
            peak.update(gflops=g, gflops_at=c.name)
    c = copy_case(1 << 16 if quick else 1 << 24)
    times, _ = time_case(c, False, 3, 2)
    peak.update(gbps=c.bytes / (min(times) * 1e6), gbps_at=c.name)
    return peak


def finish(rows, peak):
    # dense primitives raise the GFLOP/s peak, streaming ones the GB/s peak (runner.ts)
    for r in rows:
        if r["status"] != "ok" or r["suite"] != "primitives":
            continue
        if re.match(r"(matmul|conv2d) ", r["name"]) and r.get("flops"):
            g = r["flops"] / (r["min_ms"] * 1e6)
            if g > peak["gflops"]:
                peak.update(gflops=g, gflops_at=r["name"])
        elif r.get("bytes"):
            g = r["bytes"] / (r["min_ms"] * 1e6)
            if g > peak["gbps"]:
                peak.update(gbps=g, gbps_at=r["name"])
    for r in rows:
        if r["status"] != "ok":
            continue
        s = r["median_ms"] * 1e6
        fc = r["flops"] / s / peak["gflops"] if r.get("flops") else 0
        fm = r["bytes"] / s / peak["gbps"] if r.get("bytes") else 0
        if r.get("flops"):
            r["gflops"] = r["flops"] / s
        if r.get("bytes"):
            r["gbps"] = r["bytes"] / s
        if fc or fm:
            r["peak_fraction"] = max(fc, fm)
            r["peak_kind"] = "compute" if fc >= fm else "memory"


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def blas_library():
    """The BLAS shared library torch loaded (Debian's python3-torch uses the system one)."""
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                m = re.search(r"(/\S*lib(open)?blas\S*\.so\S*)", line)
                if m:
                    return os.path.realpath(m.group(1))
    except OSError:
        pass
    return None


def fmt_ms(ms):
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.1f}" if ms >= 10 else f"{ms:.2f}" \
        if ms >= 1 else f"{ms:.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budget", type=float, default=10)
    ap.add_argument("--filter")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    filt = re.compile(a.filter) if a.filter else None
    if a.device == "cuda":
        if not torch.cuda.is_available():
            print("bench_torch: --device cuda, but torch sees no CUDA device", file=sys.stderr)
            sys.exit(4)
        torch.set_default_device("cuda")
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        detail = (f"PyTorch {torch.__version__}, float32 (TF32 off), CUDA on "
                  f"{torch.cuda.get_device_name()}")
    else:
        detail = f"PyTorch {torch.__version__}, float32, {torch.get_num_threads()} threads (CPU)"
        blas = blas_library()
        if blas:
            detail += f", BLAS {blas}"
    print(f"torch: {detail}; measuring peak...", flush=True)
    peak = measure_peak(a.quick)
    print(f"  peak {peak['gflops']:.2f} GFLOP/s ({peak['gflops_at']}), "
          f"{peak['gbps']:.2f} GB/s ({peak['gbps_at']})", flush=True)
    rows = []
    for suite, make in SUITES:
        for c in make(a.quick):
            if filt and not filt.search(f"{suite}/{c.name}"):
                continue
            row = dict(suite=suite, name=c.name, shape=c.shape, status="ok")
            for k, v in (("flops", c.flops), ("bytes", c.bytes), ("note", c.note)):
                if v:
                    row[k] = v
            ident = f"{suite}/{c.name}".ljust(44)
            if c.skip:
                row.update(status="skipped", reason=c.skip)
                print(f"  {ident} skipped: {c.skip}", flush=True)
                rows.append(row)
                continue
            try:
                times, warmup = time_case(c, a.quick, a.repeat, a.budget)
            except Exception as e:  # noqa: BLE001
                row.update(status="error", reason=str(e).split("\n")[0])
                print(f"  {ident} error: {row['reason']}", flush=True)
                rows.append(row)
                continue
            srt = sorted(times)
            row.update(warmup=warmup, repeat=len(times), times_ms=[round(t, 4) for t in times],
                       median_ms=quantile(srt, 0.5), min_ms=srt[0], max_ms=srt[-1],
                       q1_ms=quantile(srt, 0.25), q3_ms=quantile(srt, 0.75))
            print(f"  {ident} median {fmt_ms(row['median_ms'])} ms (min {fmt_ms(srt[0])}, "
                  f"max {fmt_ms(srt[-1])}, n={len(times)}, warm-up {warmup})", flush=True)
            rows.append(row)
    finish(rows, peak)
    report = dict(
        schema="dmformer-bench/1",
        date=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        command="python3 tools/bench_torch.py " + " ".join(sys.argv[1:]),
        quick=a.quick,
        machine=dict(cpu=cpu_model(), cores=os.cpu_count(), os=platform.platform(),
                     runtime=f"Python {platform.python_version()}, PyTorch {torch.__version__}"),
        backends=[dict(backend="torch", available=True, detail=detail, peak=peak, rows=rows)],
    )
    if a.json:
        tmp = f"{a.json}.tmp-{os.getpid()}"
        with open(tmp, "w") as f:
            json.dump(report, f, indent=2)
            f.write("\n")
        os.replace(tmp, a.json)


if __name__ == "__main__":
    main()
