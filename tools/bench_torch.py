#!/usr/bin/python3
"""PyTorch reference numbers for `deno task bench --compare torch`.

    /usr/bin/python3 tools/bench_torch.py [--json out.json] [--quick] [--repeat N]
        [--budget S] [--filter REGEX] [--threads 2]

Same suite and case names, shapes and timing rules as tools/bench.ts (tools/bench/*.ts),
float32 on the CPU with torch.set_num_threads(2). MSDA uses the pure-PyTorch grid_sample
formulation of the reference's CPU path (ms_deform_attn_core_pytorch). Writes the
BenchReport JSON schema of tools/bench/types.ts with one backend named "torch".
Needs python3-torch (Debian: apt-get install -y python3-torch); never needed by the tests.
Exit code 3 means torch cannot be imported.
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
    import torch.nn as nn
    import torch.nn.functional as F
except Exception as e:  # noqa: BLE001
    print(f"bench_torch: cannot import torch: {e}", file=sys.stderr)
    sys.exit(3)

F32 = 4

# ---- shapes (tools/bench/shapes.ts) -------------------------------------------------------

ENCODER = dict(n=5, levels=[(45, 80), (23, 40), (12, 20), (6, 10)], d=256, heads=8, points=4,
               dffn=2048)
ENCODER_QUICK = dict(n=1, levels=[(6, 8), (3, 4), (2, 2), (1, 1)], d=32, heads=4, points=2,
                     dffn=64)
SWIN = dict(frames=5, height=360, width=640, patch=4, dim=96, heads=3, window=7, mlp=4)
SWIN_QUICK = dict(frames=1, height=32, width=48, patch=4, dim=16, heads=2, window=7, mlp=4)


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


# ---- model pieces -------------------------------------------------------------------------

def ms_deform_attn_core_pytorch(value, spatial_shapes, sampling_locations, attention_weights):
    """The reference's CPU path (Deformable DETR, models/ops/functions/ms_deform_attn_func.py)."""
    N_, S_, M_, D_ = value.shape
    _, Lq_, M_, L_, P_, _ = sampling_locations.shape
    value_list = value.split([H_ * W_ for H_, W_ in spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1
    sampling_value_list = []
    for lid_, (H_, W_) in enumerate(spatial_shapes):
        value_l_ = value_list[lid_].flatten(2).transpose(1, 2).reshape(N_ * M_, D_, H_, W_)
        sampling_grid_l_ = sampling_grids[:, :, :, lid_].transpose(1, 2).flatten(0, 1)
        sampling_value_l_ = F.grid_sample(value_l_, sampling_grid_l_, mode="bilinear",
                                          padding_mode="zeros", align_corners=False)
        sampling_value_list.append(sampling_value_l_)
    attention_weights = attention_weights.transpose(1, 2).reshape(N_ * M_, 1, Lq_, L_ * P_)
    output = (torch.stack(sampling_value_list, dim=-2).flatten(-2) * attention_weights) \
        .sum(-1).view(N_, M_ * D_, Lq_)
    return output.transpose(1, 2).contiguous()


class MSDeformAttn(nn.Module):
    def __init__(self, d_model, n_levels, n_heads, n_points):
        super().__init__()
        self.n_levels, self.n_heads, self.n_points = n_levels, n_heads, n_points
        self.sampling_offsets = nn.Linear(d_model, n_heads * n_levels * n_points * 2)
        self.attention_weights = nn.Linear(d_model, n_heads * n_levels * n_points)
        self.value_proj = nn.Linear(d_model, d_model)
        self.output_proj = nn.Linear(d_model, d_model)
        nn.init.constant_(self.sampling_offsets.weight, 0.0)
        thetas = torch.arange(n_heads, dtype=torch.float32) * (2.0 * math.pi / n_heads)
        grid = torch.stack([thetas.cos(), thetas.sin()], -1)
        grid = (grid / grid.abs().max(-1, keepdim=True)[0]).view(n_heads, 1, 1, 2) \
            .repeat(1, n_levels, n_points, 1)
        for i in range(n_points):
            grid[:, :, i, :] *= i + 1
        with torch.no_grad():
            self.sampling_offsets.bias = nn.Parameter(grid.view(-1))
        nn.init.constant_(self.attention_weights.weight, 0.0)
        nn.init.constant_(self.attention_weights.bias, 0.0)
        nn.init.xavier_uniform_(self.value_proj.weight)
        nn.init.xavier_uniform_(self.output_proj.weight)

    def forward(self, query, reference_points, input_flatten, spatial_shapes):
        N, Lq, C = query.shape
        S = input_flatten.shape[1]
        M, L, P = self.n_heads, self.n_levels, self.n_points
        value = self.value_proj(input_flatten).view(N, S, M, C // M)
        offsets = self.sampling_offsets(query).view(N, Lq, M, L, P, 2)
        aw = F.softmax(self.attention_weights(query).view(N, Lq, M, L * P), -1) \
            .view(N, Lq, M, L, P)
        shapes = torch.tensor(spatial_shapes, dtype=torch.float32)
        normalizer = torch.stack([shapes[:, 1], shapes[:, 0]], -1)
        loc = reference_points[:, :, None, :, None, :] \
            + offsets / normalizer[None, None, None, :, None, :]
        return self.output_proj(ms_deform_attn_core_pytorch(value, spatial_shapes, loc, aw))


class EncoderLayer(nn.Module):
    def __init__(self, e):
        super().__init__()
        d = e["d"]
        self.self_attn = MSDeformAttn(d, len(e["levels"]), e["heads"], e["points"])
        self.norm1 = nn.LayerNorm(d)
        self.linear1 = nn.Linear(d, e["dffn"])
        self.linear2 = nn.Linear(e["dffn"], d)
        self.norm2 = nn.LayerNorm(d)

    def forward(self, src, pos, ref, shapes):
        src = self.norm1(src + self.self_attn(src + pos, ref, src, shapes))
        return self.norm2(src + self.linear2(F.relu(self.linear1(src))))


def reference_points(shapes, n):
    refs = []
    for h, w in shapes:
        ry, rx = torch.meshgrid(torch.linspace(0.5, h - 0.5, h), torch.linspace(0.5, w - 0.5, w),
                                indexing="ij")
        refs.append(torch.stack([rx.reshape(-1) / w, ry.reshape(-1) / h], -1))
    ref = torch.cat(refs, 0)[None].expand(n, -1, -1)
    return ref[:, :, None].expand(-1, -1, len(shapes), -1).contiguous()


def relative_position_index(ws):
    coords = torch.stack(torch.meshgrid(torch.arange(ws), torch.arange(ws), indexing="ij"))
    flat = torch.flatten(coords, 1)
    rel = (flat[:, :, None] - flat[:, None, :]).permute(1, 2, 0).contiguous()
    rel[:, :, 0] += ws - 1
    rel[:, :, 1] += ws - 1
    rel[:, :, 0] *= 2 * ws - 1
    return rel.sum(-1)


def shift_mask(hp, wp, ws, s):
    img = torch.zeros((1, hp, wp, 1))
    cnt = 0
    for hs in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
        for wsl in (slice(0, -ws), slice(-ws, -s), slice(-s, None)):
            img[:, hs, wsl, :] = cnt
            cnt += 1
    win = window_partition(img, ws).view(-1, ws * ws)
    mask = win.unsqueeze(1) - win.unsqueeze(2)
    return mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)


def window_partition(x, ws):
    B, H, W, C = x.shape
    x = x.view(B, H // ws, ws, W // ws, ws, C)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(-1, ws, ws, C)


def window_reverse(windows, ws, H, W):
    B = int(windows.shape[0] / (H * W / ws / ws))
    x = windows.view(B, H // ws, W // ws, ws, ws, -1)
    return x.permute(0, 1, 3, 2, 4, 5).contiguous().view(B, H, W, -1)


class WindowAttention(nn.Module):
    def __init__(self, dim, ws, heads):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(
            torch.randn((2 * ws - 1) ** 2, heads) * 0.02)
        self.register_buffer("relative_position_index", relative_position_index(ws))
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x, mask):
        B_, N, C = x.shape
        qkv = self.qkv(x).reshape(B_, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
        attn = q @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)] \
            .view(N, N, -1).permute(2, 0, 1)
        attn = attn + bias.unsqueeze(0)
        if mask is not None:
            nW = mask.shape[0]
            attn = attn.view(B_ // nW, nW, self.heads, N, N) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, self.heads, N, N)
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(B_, N, C)
        return self.proj(x)


class SwinBlock(nn.Module):
    def __init__(self, dim, heads, ws, shift, mlp):
        super().__init__()
        self.ws, self.shift = ws, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, ws, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * mlp), nn.GELU(), nn.Linear(dim * mlp, dim))

    def forward(self, x, H, W, mask):
        B, _, C = x.shape
        ws, s = self.ws, self.shift
        shortcut = x
        x = self.norm1(x).view(B, H, W, C)
        pad_r, pad_b = (ws - W % ws) % ws, (ws - H % ws) % ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        if s > 0:
            x = torch.roll(x, shifts=(-s, -s), dims=(1, 2))
        windows = window_partition(x, ws).view(-1, ws * ws, C)
        out = self.attn(windows, mask if s > 0 else None).view(-1, ws, ws, C)
        x = window_reverse(out, ws, Hp, Wp)
        if s > 0:
            x = torch.roll(x, shifts=(s, s), dims=(1, 2))
        x = x[:, :H, :W, :].contiguous().view(B, H * W, C)
        x = shortcut + x
        return x + self.mlp(self.norm2(x))


class SwinStage1(nn.Module):
    """Patch embed (conv 4x4/4 + LayerNorm) and the two blocks of Swin-T stage 1."""

    def __init__(self, s):
        super().__init__()
        self.s = s
        self.proj = nn.Conv2d(3, s["dim"], s["patch"], s["patch"])
        self.norm = nn.LayerNorm(s["dim"])
        ws = s["window"]
        self.blocks = nn.ModuleList(
            [SwinBlock(s["dim"], s["heads"], ws, 0 if k % 2 == 0 else ws // 2, s["mlp"])
             for k in range(2)])
        g = swin_grid(s)
        self.register_buffer("mask", shift_mask(g["hp"], g["wp"], ws, ws // 2))

    def forward(self, images):
        x = self.proj(images)
        B, C, H, W = x.shape
        x = self.norm(x.flatten(2).transpose(1, 2))
        for blk in self.blocks:
            x = blk(x, H, W, self.mask)
        return x.view(B, H, W, C).permute(0, 3, 1, 2).contiguous()


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
        return dict(run=lambda: ms_deform_attn_core_pytorch(v, e["levels"], l, w), no_grad=True)

    def fwd_bwd():
        leaves = make(True)
        g = torch.randn(e["n"], S, M * D)
        return dict(reset=lambda: clear_grads(leaves),
                    run=lambda: ms_deform_attn_core_pytorch(
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
        mod = WindowAttention(s["dim"], s["window"], s["heads"])
        x = torch.randn(g["windows"], n, s["dim"], requires_grad=grad)
        mask = shift_mask(g["hp"], g["wp"], s["window"], s["window"] // 2)
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
        mod = SwinStage1(s).eval()
        x = torch.randn(s["frames"], 3, s["height"], s["width"])
        return dict(run=lambda: mod(x), no_grad=True)
    e = ENCODER_QUICK if quick else ENCODER
    S = tokens(e)

    def enc():
        mod = EncoderLayer(e).eval()
        src, pos = torch.randn(e["n"], S, e["d"]), torch.randn(e["n"], S, e["d"])
        ref = reference_points(e["levels"], e["n"])
        return dict(run=lambda: mod(src, pos, ref, e["levels"]), no_grad=True)
    levels = "/".join(f"{h}x{w}" for h, w in e["levels"])
    return [
        Case("swin-t stage 1",
             f"{shape_str(s['frames'], 3, s['height'], s['width'])} -> {s['dim']} ch, 2 blocks",
             swin, flops=swin_stage1_flops(s)),
        Case("deformable encoder layer",
             f"{shape_str(e['n'], S, e['d'])} {levels} d_ffn {e['dffn']}", enc,
             flops=encoder_layer_flops(e)),
        Case("cross-modal fpn", "", None,
             skip="not ported to tools/bench_torch.py (needs the reference's "
                  "VisionLanguageBlock)"),
    ]


def model(quick):
    reason = "the reference DMFormer is not part of this repository"
    return [Case("dmformer swin-t inference", "", None, skip=reason),
            Case("dmformer tiny train step", "", None, skip=reason)]


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


def time_case(case, quick, repeat, budget):
    prep = case.setup()
    run, reset = prep["run"], prep.get("reset")
    no_grad = prep.get("no_grad", False)

    def once():
        if reset:
            reset()
        t0 = time.perf_counter()
        if no_grad:
            with torch.no_grad():
                run()
        else:
            run()
        return (time.perf_counter() - t0) * 1000

    first = once()
    times, warmup = [], 1
    if quick or first > 2000:
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
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    filt = re.compile(a.filter) if a.filter else None
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
