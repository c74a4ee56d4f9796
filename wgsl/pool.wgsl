// 2-D max / average pooling and their gradients (gradients gather over the windows that
// contain each input pixel, so no atomics and the CPU's summation order is kept).
// MODE 0 max fwd, 1 avg fwd (count_include_pad), 2 max bwd, 3 avg bwd.
// Params: [0] planes (N*C), [1] H, [2] W, [3] OH, [4] OW, [5] KH, [6] KW, [7] sh, [8] sw,
//   [9] ph, [10] pw.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read> gin: array<f32>;

// Flat index of the window maximum (first one; NaN wins), or -1 for an empty window.
fn argmax_window(plane: u32, h0: i32, w0: i32) -> i32 {
  let H = i32(pu(1u));
  let W = i32(pu(2u));
  var best = 0.0;
  var at = -1;
  for (var i = max(h0, 0); i < min(h0 + i32(pu(5u)), H); i++) {
    for (var j = max(w0, 0); j < min(w0 + i32(pu(6u)), W); j++) {
      let p = i32(plane) + i * W + j;
      let v = xin[p];
      if (at < 0 || v > best || (is_nan(v) && !is_nan(best))) {
        best = v;
        at = p;
      }
    }
  }
  return at;
}

fn divisor(h0: i32, w0: i32) -> f32 {
  let hEnd = min(h0 + i32(pu(5u)), i32(pu(1u)) + i32(pu(9u)));
  let wEnd = min(w0 + i32(pu(6u)), i32(pu(2u)) + i32(pu(10u)));
  return f32((hEnd - h0) * (wEnd - w0));
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = group_index(wid, nwg) * WG + lid;
  let planes = pu(0u);
  let H = i32(pu(1u));
  let W = i32(pu(2u));
  let OH = i32(pu(3u));
  let OW = i32(pu(4u));
  let KH = i32(pu(5u));
  let KW = i32(pu(6u));
  let sh = i32(pu(7u));
  let sw = i32(pu(8u));
  let ph = i32(pu(9u));
  let pw = i32(pu(10u));
  if (MODE < 2u) {
    if (t >= planes * u32(OH * OW)) { return; }
    let nc = t / u32(OH * OW);
    let q = i32(t % u32(OH * OW));
    let h0 = (q / OW) * sh - ph;
    let w0 = (q % OW) * sw - pw;
    let plane = nc * u32(H * W);
    if (MODE == 0u) {
      let at = argmax_window(plane, h0, w0);
      out0[t] = select(xin[max(at, 0)], -f32_inf(), at < 0);
    } else {
      var s = 0.0;
      for (var i = max(h0, 0); i < min(h0 + KH, H); i++) {
        for (var j = max(w0, 0); j < min(w0 + KW, W); j++) { s += xin[plane + u32(i * W + j)]; }
      }
      out0[t] = s / divisor(h0, w0);
    }
    return;
  }
  // gradients: one thread per input pixel, visiting the windows that contain it in the
  // CPU's order (oh, ow ascending)
  if (t >= planes * u32(H * W)) { return; }
  let nc = t / u32(H * W);
  let q = i32(t % u32(H * W));
  let h = q / W;
  let w = q % W;
  let plane = nc * u32(H * W);
  // windows oh with oh*sh - ph <= h < oh*sh - ph + KH
  let ohLo = max(0, (h + ph - KH + sh) / sh);
  let ohHi = min(OH - 1, (h + ph) / sh);
  let owLo = max(0, (w + pw - KW + sw) / sw);
  let owHi = min(OW - 1, (w + pw) / sw);
  var acc = 0.0;
  for (var oh = ohLo; oh <= ohHi; oh++) {
    for (var ow = owLo; ow <= owHi; ow++) {
      let h0 = oh * sh - ph;
      let w0 = ow * sw - pw;
      if (h < h0 || h >= h0 + KH || w < w0 || w >= w0 + KW) { continue; }
      let g = gin[nc * u32(OH * OW) + u32(oh * OW + ow)];
      if (MODE == 2u) {
        if (argmax_window(plane, h0, w0) == i32(t)) { acc += g; }
      } else {
        acc += g / divisor(h0, w0);
      }
    }
  }
  out0[t] = acc;
}
