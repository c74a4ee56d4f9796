// Resize over the last two axes with PyTorch's float32 index arithmetic (see
// src/backend/cpu/resample.ts). Gradients gather: the source index maps are monotone, so
// the output rows/cols that read an input row/col form a range found by binary search.
// MODE 0 nearest fwd, 1 nearest bwd, 2 bilinear fwd, 3 bilinear bwd.
// Params: [0] planes, [1] H, [2] W, [3] OH, [4] OW, [5] scaleH (f32), [6] scaleW (f32),
//   [7] alignCorners. For gradients H, W are the input's (the gradient's output) sizes.
// Raw 32-bit words: nearest forward copies any dtype; the other modes are f32.
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;
@group(0) @binding(2) var<storage, read> in0: array<u32>;

fn rd(i: u32) -> f32 { return bitcast<f32>(in0[i]); }

fn nearest_index(dst: u32, inSize: u32, outSize: u32, scale: f32) -> u32 {
  if (inSize == outSize) { return dst; }
  if (outSize == 2u * inSize) { return dst >> 1u; }
  return min(u32(floor(f32(dst) * scale)), inSize - 1u);
}

struct Lin { i0: u32, i1: u32, l1: f32 }

fn linear_source(dst: u32, inSize: u32, scale: f32) -> Lin {
  var src: f32;
  if (pu(7u) == 1u) {
    src = scale * f32(dst);
  } else {
    src = scale * (f32(dst) + 0.5) - 0.5;
  }
  src = max(src, 0.0);
  let i0 = u32(floor(src));
  let i1 = select(i0, i0 + 1u, i0 + 1u < inSize);
  let l1 = clamp(src - floor(src), 0.0, 1.0);
  return Lin(i0, i1, l1);
}

// First output position o in [0, outSize) whose source index (nearest, or bilinear i0 / i1
// when which = 1 / 2) is >= v; outSize if none.
fn lower_bound(v: u32, inSize: u32, outSize: u32, scale: f32, which: u32) -> u32 {
  var lo = 0u;
  var hi = outSize;
  loop {
    if (lo >= hi) { break; }
    let mid = (lo + hi) / 2u;
    var s: u32;
    if (which == 0u) {
      s = nearest_index(mid, inSize, outSize, scale);
    } else {
      let l = linear_source(mid, inSize, scale);
      s = select(l.i1, l.i0, which == 1u);
    }
    if (s < v) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = group_index(wid, nwg) * WG + lid;
  let planes = pu(0u);
  let H = pu(1u);
  let W = pu(2u);
  let OH = pu(3u);
  let OW = pu(4u);
  let sH = pf(5u);
  let sW = pf(6u);
  if (MODE == 0u || MODE == 2u) {
    if (t >= planes * OH * OW) { return; }
    let p = t / (OH * OW);
    let i = (t / OW) % OH;
    let j = t % OW;
    let base = p * H * W;
    if (MODE == 0u) {
      out0[t] = in0[base + nearest_index(i, H, OH, sH) * W + nearest_index(j, W, OW, sW)];
    } else {
      let r = linear_source(i, H, sH);
      let c = linear_source(j, W, sW);
      let top = (1.0 - c.l1) * rd(base + r.i0 * W + c.i0) + c.l1 * rd(base + r.i0 * W + c.i1);
      let bot = (1.0 - c.l1) * rd(base + r.i1 * W + c.i0) + c.l1 * rd(base + r.i1 * W + c.i1);
      out0[t] = bitcast<u32>((1.0 - r.l1) * top + r.l1 * bot);
    }
    return;
  }
  // gradients: thread per input pixel (h, w) of the H x W input
  if (t >= planes * H * W) { return; }
  let p = t / (H * W);
  let h = (t / W) % H;
  let w = t % W;
  let gbase = p * OH * OW;
  var acc = 0.0;
  if (MODE == 1u) {
    let i0 = lower_bound(h, H, OH, sH, 0u);
    let i1 = lower_bound(h + 1u, H, OH, sH, 0u);
    let j0 = lower_bound(w, W, OW, sW, 0u);
    let j1 = lower_bound(w + 1u, W, OW, sW, 0u);
    for (var i = i0; i < i1; i++) {
      for (var j = j0; j < j1; j++) { acc += rd(gbase + i * OW + j); }
    }
  } else {
    // rows whose i1 == h come before rows whose i0 == h, so the union is one range
    let i0 = min(lower_bound(h, H, OH, sH, 2u), lower_bound(h, H, OH, sH, 1u));
    let i1 = max(lower_bound(h + 1u, H, OH, sH, 2u), lower_bound(h + 1u, H, OH, sH, 1u));
    let j0 = min(lower_bound(w, W, OW, sW, 2u), lower_bound(w, W, OW, sW, 1u));
    let j1 = max(lower_bound(w + 1u, W, OW, sW, 2u), lower_bound(w + 1u, W, OW, sW, 1u));
    for (var i = i0; i < i1; i++) {
      let r = linear_source(i, H, sH);
      let wh = select(0.0, 1.0 - r.l1, r.i0 == h) + select(0.0, r.l1, r.i1 == h);
      if (wh == 0.0 && r.i0 != h && r.i1 != h) { continue; }
      for (var j = j0; j < j1; j++) {
        let c = linear_source(j, W, sW);
        let ww = select(0.0, 1.0 - c.l1, c.i0 == w) + select(0.0, c.l1, c.i1 == w);
        acc += wh * ww * rd(gbase + i * OW + j);
      }
    }
  }
  out0[t] = bitcast<u32>(acc);
}
