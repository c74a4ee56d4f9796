"""Times the original Deformable-DETR MSDA CUDA kernels at the bench's encoder shapes, so that
cuda/msda.cu can be compared with them on the same GPU (`deno task bench --filter msda
--backend cuda`). Needs a CUDA GPU, PyTorch with its C++ extension toolchain (nvcc, ninja) and
the original sources, which are not part of this repository:

    python3 tools/bench_msda_reference.py --src DIR [--json OUT] [--repeat N]

DIR holds cuda/ms_deform_im2col_cuda.cuh from Deformable-DETR's models/ops/src (or the same file
from transformers' kernels/deformable_detr). Only that header's kernels and host launchers are
used; the PyTorch binding below is ours, and mirrors the original one (zeroed gradient buffers,
one im2col step for the whole batch). The outputs are checked against a grid_sample formulation
before anything is timed.
"""

import argparse
import json
import os
import statistics
import tempfile

import torch
import torch.nn.functional as F
from torch.utils.cpp_extension import load_inline

LEVELS = [(45, 80), (23, 40), (12, 20), (6, 10)]
N, M, D, P = 5, 8, 32, 4

BINDING = r"""
#include <torch/extension.h>
#include <ATen/cuda/CUDAContext.h>
#include "ms_deform_im2col_cuda.cuh"

torch::Tensor msda_forward(torch::Tensor value, torch::Tensor shapes, torch::Tensor starts,
                           torch::Tensor loc, torch::Tensor attn) {
  const int n = value.size(0), s = value.size(1), m = value.size(2), d = value.size(3);
  const int q = loc.size(1), l = loc.size(3), p = loc.size(4);
  auto out = torch::empty({n, q, m * d}, value.options());
  ms_deformable_im2col_cuda<float>(at::cuda::getCurrentCUDAStream(), value.data_ptr<float>(),
      shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(), loc.data_ptr<float>(),
      attn.data_ptr<float>(), n, s, m, d, l, q, p, out.data_ptr<float>());
  return out;
}

std::vector<torch::Tensor> msda_backward(torch::Tensor value, torch::Tensor shapes,
                                         torch::Tensor starts, torch::Tensor loc,
                                         torch::Tensor attn, torch::Tensor grad_out) {
  const int n = value.size(0), s = value.size(1), m = value.size(2), d = value.size(3);
  const int q = loc.size(1), l = loc.size(3), p = loc.size(4);
  auto grad_value = torch::zeros_like(value);
  auto grad_loc = torch::zeros_like(loc);
  auto grad_attn = torch::zeros_like(attn);
  ms_deformable_col2im_cuda<float>(at::cuda::getCurrentCUDAStream(), grad_out.data_ptr<float>(),
      value.data_ptr<float>(), shapes.data_ptr<int64_t>(), starts.data_ptr<int64_t>(),
      loc.data_ptr<float>(), attn.data_ptr<float>(), n, s, m, d, l, q, p,
      grad_value.data_ptr<float>(), grad_loc.data_ptr<float>(), grad_attn.data_ptr<float>());
  return {grad_value, grad_loc, grad_attn};
}
"""

DECLS = r"""
#include <torch/extension.h>
torch::Tensor msda_forward(torch::Tensor value, torch::Tensor shapes, torch::Tensor starts,
                           torch::Tensor loc, torch::Tensor attn);
std::vector<torch::Tensor> msda_backward(torch::Tensor value, torch::Tensor shapes,
                                         torch::Tensor starts, torch::Tensor loc,
                                         torch::Tensor attn, torch::Tensor grad_out);
"""


def build(src):
    stub = tempfile.mkdtemp(prefix="msda_stub_")
    # PyTorch >= 1.11 has no THC headers; float atomicAdd is native, so an empty one suffices.
    os.makedirs(os.path.join(stub, "THC"))
    open(os.path.join(stub, "THC", "THCAtomics.cuh"), "w").close()
    return load_inline(
        name="msda_reference",
        cpp_sources=DECLS,
        cuda_sources=BINDING,
        functions=["msda_forward", "msda_backward"],
        extra_include_paths=[os.path.join(src, "cuda"), stub],
        extra_cuda_cflags=["-O3", "-gencode=arch=compute_90,code=sm_90"],
        verbose=False,
    )


def grid_sample_msda(value, loc, attn):
    """The same sampling as PyTorch code (bilinear, zero padding, align_corners=False)."""
    n, _, m, d = value.shape
    q = loc.shape[1]
    out = 0
    start = 0
    for lvl, (h, w) in enumerate(LEVELS):
        v = value[:, start:start + h * w].permute(0, 2, 3, 1).reshape(n * m, d, h, w)
        start += h * w
        g = loc[:, :, :, lvl].permute(0, 2, 1, 3, 4).reshape(n * m, q, P, 2) * 2 - 1
        sampled = F.grid_sample(v, g, mode="bilinear", padding_mode="zeros", align_corners=False)
        a = attn[:, :, :, lvl].permute(0, 2, 1, 3).reshape(n * m, 1, q, P)
        out = out + (sampled * a).sum(-1)
    return out.reshape(n, m, d, q).permute(0, 3, 1, 2).reshape(n, q, m * d)


def timed(fn, repeat):
    for _ in range(5):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeat):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times), min(times), max(times)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--src", required=True)
    ap.add_argument("--json")
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    header = os.path.join(args.src, "cuda", "ms_deform_im2col_cuda.cuh")
    if not os.path.isfile(header):
        raise SystemExit(f"bench_msda_reference: no {header}")
    ext = build(args.src)

    torch.manual_seed(0)
    dev = "cuda"
    s = sum(h * w for h, w in LEVELS)
    shapes = torch.tensor(LEVELS, dtype=torch.int64, device=dev)
    starts = torch.tensor([0] + [h * w for h, w in LEVELS][:-1], device=dev).cumsum(0)
    value = torch.randn(N, s, M, D, device=dev)
    loc = torch.rand(N, s, M, len(LEVELS), P, 2, device=dev)
    attn = torch.randn(N, s, M, len(LEVELS) * P, device=dev).softmax(-1)
    attn = attn.reshape(N, s, M, len(LEVELS), P).contiguous()
    grad_out = torch.randn(N, s, M * D, device=dev)

    out = ext.msda_forward(value, shapes, starts, loc, attn)
    expected = grid_sample_msda(value, loc, attn)
    fwd_err = (out - expected).abs().max().item()
    leaves = [t.clone().requires_grad_() for t in (value, loc, attn)]
    grid_sample_msda(*leaves).backward(grad_out)
    grads = ext.msda_backward(value, shapes, starts, loc, attn, grad_out)
    bwd_err = [(g - t.grad).abs().max().item() for g, t in zip(grads, leaves)]

    fwd = timed(lambda: ext.msda_forward(value, shapes, starts, loc, attn), args.repeat)
    both = timed(
        lambda: (
            ext.msda_forward(value, shapes, starts, loc, attn),
            ext.msda_backward(value, shapes, starts, loc, attn, grad_out),
        ),
        args.repeat,
    )
    report = {
        "device": torch.cuda.get_device_name(),
        "torch": torch.__version__,
        "shape": f"N={N} Lq=S={s} M={M} D={D} L={len(LEVELS)} P={P}",
        "max_abs_error_vs_grid_sample": {"output": fwd_err, "grad_value": bwd_err[0],
                                         "grad_loc": bwd_err[1], "grad_attn": bwd_err[2]},
        "forward_ms": {"median": fwd[0], "min": fwd[1], "max": fwd[2]},
        "forward_backward_ms": {"median": both[0], "min": both[1], "max": both[2]},
    }
    print(json.dumps(report, indent=2))
    if args.json:
        with open(args.json + ".tmp", "w") as f:
            json.dump(report, f, indent=2)
        os.replace(args.json + ".tmp", args.json)


if __name__ == "__main__":
    main()
