// 2-D convolution as implicit GEMM (no im2col buffer): forward, input gradient and weight
// gradient. Like matmul.wgsl a workgroup owns RM rows (uniform: weights or dy rows, read as
// broadcasts) and each thread 4 columns (pixels, or weight positions), accumulated in vec4s.
// MODE 0 forward:      rows = output channels, columns = output pixels, k = (c, kh, kw).
// MODE 1 input grad:   rows = input channels,  columns = input pixels,  k = (o, kh, kw).
// MODE 2 weight grad:  rows = output channels, columns = (c, kh, kw),   k = (n, oh, ow),
//                      split over wid.z into partial sums when SPLIT.
// MODE 3 im2col into B panels for matmul_ubo.wgsl (CPU adapters): out0[panel, kc, j] is
//                      column kc of output pixel panel * PANEL + j of image n, group g.
// Header: WG, RM (1..8), MODE, SPLIT, PANEL.
// Params: [0] N, [1] C, [2] H, [3] W, [4] O, [5] KH, [6] KW, [7] OH, [8] OW, [9] groups,
//   [10] sh, [11] sw, [12] ph, [13] pw, [14] dh, [15] dw, [16] chunk (MODE 2) or image n
//   (MODE 3), [17] row blocks or group g (MODE 3).
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read> abuf: array<f32>;
@group(0) @binding(3) var<storage, read> bbuf: array<f32>;

var<private> acc0: vec4<f32>;
var<private> acc1: vec4<f32>;
var<private> acc2: vec4<f32>;
var<private> acc3: vec4<f32>;
var<private> acc4: vec4<f32>;
var<private> acc5: vec4<f32>;
var<private> acc6: vec4<f32>;
var<private> acc7: vec4<f32>;
var<private> arow: array<u32, 8>;

// acc_r += A[arow_r + ko] * b for every row r of the block.
fn rows_fma(ko: u32, b: vec4<f32>) {
  acc0 += abuf[arow[0] + ko] * b;
  if (RM > 1u) { acc1 += abuf[arow[1] + ko] * b; }
  if (RM > 2u) { acc2 += abuf[arow[2] + ko] * b; acc3 += abuf[arow[3] + ko] * b; }
  if (RM > 4u) {
    acc4 += abuf[arow[4] + ko] * b;
    acc5 += abuf[arow[5] + ko] * b;
    acc6 += abuf[arow[6] + ko] * b;
    acc7 += abuf[arow[7] + ko] * b;
  }
}

fn acc_row(r: u32) -> vec4<f32> {
  switch r {
    case 0u: { return acc0; }
    case 1u: { return acc1; }
    case 2u: { return acc2; }
    case 3u: { return acc3; }
    case 4u: { return acc4; }
    case 5u: { return acc5; }
    case 6u: { return acc6; }
    default: { return acc7; }
  }
}

// b value at (row h, column w) of a [.., rows, cols] plane starting at `plane`, 0 outside.
fn tap(plane: u32, h: i32, w: i32, rows: i32, cols: i32) -> f32 {
  if (h < 0 || h >= rows || w < 0 || w >= cols) { return 0.0; }
  return bbuf[plane + u32(h * cols + w)];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let N = pu(0u);
  let C = pu(1u);
  let H = i32(pu(2u));
  let W = i32(pu(3u));
  let O = pu(4u);
  let KH = pu(5u);
  let KW = pu(6u);
  let OH = i32(pu(7u));
  let OW = i32(pu(8u));
  let groups = pu(9u);
  let sh = i32(pu(10u));
  let sw = i32(pu(11u));
  let ph = i32(pu(12u));
  let pw = i32(pu(13u));
  let dh = i32(pu(14u));
  let dw = i32(pu(15u));
  let blocks = pu(17u);
  let Cg = C / groups;
  let Og = O / groups;
  let g = wid.y / blocks;
  let r0 = (wid.y % blocks) * RM;
  let col = (wid.x * WG + lid) * 4u;
  let KK = KH * KW;
  if (MODE == 3u) {
    let n = pu(16u);
    let gi = pu(17u);
    let P = u32(OH * OW);
    let Kc = Cg * KK;
    let t = group_index(wid, nwg) * WG + lid;
    if (t >= (P + PANEL - 1u) / PANEL * Kc * PANEL) { return; }
    let j = t % PANEL;
    let kc = (t / PANEL) % Kc;
    let p = (t / (PANEL * Kc)) * PANEL + j;
    var v = 0.0;
    if (p < P) {
      let ci = kc / KK;
      let kh = i32((kc % KK) / KW);
      let kw = i32(kc % KW);
      let ih = i32(p / u32(OW)) * sh - ph + kh * dh;
      let iw = i32(p % u32(OW)) * sw - pw + kw * dw;
      v = tap((n * C + gi * Cg + ci) * u32(H * W), ih, iw, H, W);
    }
    out0[t] = v;
    return;
  }
  if (MODE == 0u) {
    // forward: out[n, g*Og + o, p] = sum_k w[g*Og + o, k] * x_col[n][k, p]
    let n = wid.z;
    let P = u32(OH * OW);
    let rows = Og;
    for (var r = 0u; r < RM; r++) { arow[r] = (g * Og + min(r0 + r, rows - 1u)) * Cg * KK; }
    var ih0 = vec4<i32>();
    var iw0 = vec4<i32>();
    for (var t = 0u; t < 4u; t++) {
      let p = i32(min(col + t, P - 1u));
      ih0[t] = (p / OW) * sh - ph;
      iw0[t] = (p % OW) * sw - pw;
    }
    var ko = 0u;
    for (var ci = 0u; ci < Cg; ci++) {
      let plane = (n * C + g * Cg + ci) * u32(H * W);
      for (var kh = 0u; kh < KH; kh++) {
        let ih = ih0 + vec4<i32>(i32(kh) * dh);
        for (var kw = 0u; kw < KW; kw++) {
          let iw = iw0 + vec4<i32>(i32(kw) * dw);
          let b = vec4<f32>(
            tap(plane, ih.x, iw.x, H, W), tap(plane, ih.y, iw.y, H, W),
            tap(plane, ih.z, iw.z, H, W), tap(plane, ih.w, iw.w, H, W));
          rows_fma(ko, b);
          ko++;
        }
      }
    }
    for (var r = 0u; r < RM; r++) {
      if (r0 + r >= rows) { break; }
      let v = acc_row(r);
      let base = (n * O + g * Og + r0 + r) * P;
      for (var t = 0u; t < 4u; t++) { if (col + t < P) { out0[base + col + t] = v[t]; } }
    }
  } else if (MODE == 1u) {
    // input grad: dx[n, g*Cg + c, q] = sum_(o,kh,kw) w[g*Og + o, c, kh, kw] * dy[n, g*Og + o, ..]
    let n = wid.z;
    let Q = u32(H * W);
    let rows = Cg;
    for (var r = 0u; r < RM; r++) { arow[r] = g * Og * Cg * KK + min(r0 + r, rows - 1u) * KK; }
    var ih = vec4<i32>();
    var iw = vec4<i32>();
    for (var t = 0u; t < 4u; t++) {
      let q = i32(min(col + t, Q - 1u));
      ih[t] = q / W + ph;
      iw[t] = q % W + pw;
    }
    for (var o = 0u; o < Og; o++) {
      let plane = (n * O + g * Og + o) * u32(OH * OW);
      for (var kh = 0u; kh < KH; kh++) {
        let th = ih - vec4<i32>(i32(kh) * dh);
        for (var kw = 0u; kw < KW; kw++) {
          let tw = iw - vec4<i32>(i32(kw) * dw);
          var b = vec4<f32>();
          for (var t = 0u; t < 4u; t++) {
            let a = th[t];
            let c = tw[t];
            if (a >= 0 && c >= 0 && a % sh == 0 && c % sw == 0) {
              b[t] = tap(plane, a / sh, c / sw, OH, OW);
            }
          }
          rows_fma(o * Cg * KK + kh * KW + kw, b);
        }
      }
    }
    for (var r = 0u; r < RM; r++) {
      if (r0 + r >= rows) { break; }
      let v = acc_row(r);
      let base = (n * C + g * Cg + r0 + r) * Q;
      for (var t = 0u; t < 4u; t++) { if (col + t < Q) { out0[base + col + t] = v[t]; } }
    }
  } else {
    // weight grad: dw[g*Og + o, kc] = sum_(n, p) dy[n, g*Og + o, p] * x_col[n][kc, p]
    let P = u32(OH * OW);
    let Kc = Cg * KK;
    let rows = Og;
    let total = N * P;
    let chunk = pu(16u);
    let k0 = wid.z * chunk;
    let k1 = min(total, k0 + chunk);
    for (var r = 0u; r < RM; r++) { arow[r] = (g * Og + min(r0 + r, rows - 1u)) * P; }
    var cplane = vec4<u32>();
    var offh = vec4<i32>();
    var offw = vec4<i32>();
    for (var t = 0u; t < 4u; t++) {
      let kc = min(col + t, Kc - 1u);
      let ci = kc / KK;
      let kh = (kc % KK) / KW;
      let kw = kc % KW;
      cplane[t] = (g * Cg + ci) * u32(H * W);
      offh[t] = i32(kh) * dh - ph;
      offw[t] = i32(kw) * dw - pw;
    }
    if (k0 < k1) {
      var n = k0 / P;
      var oh = i32((k0 % P) / u32(OW));
      var ow = i32(k0 % u32(OW));
      for (var kk = k0; kk < k1; kk++) {
        let xb = n * C * u32(H * W);
        let ih = vec4<i32>(oh * sh) + offh;
        let iw = vec4<i32>(ow * sw) + offw;
        let b = vec4<f32>(
          tap(xb + cplane.x, ih.x, iw.x, H, W), tap(xb + cplane.y, ih.y, iw.y, H, W),
          tap(xb + cplane.z, ih.z, iw.z, H, W), tap(xb + cplane.w, ih.w, iw.w, H, W));
        rows_fma(n * O * P + u32(oh * OW + ow), b);
        ow++;
        if (ow == OW) {
          ow = 0;
          oh++;
          if (oh == OH) { oh = 0; n++; }
        }
      }
    }
    let obase = select(0u, wid.z * O * Kc, SPLIT);
    for (var r = 0u; r < RM; r++) {
      if (r0 + r >= rows) { break; }
      let v = acc_row(r);
      let base = obase + (g * Og + r0 + r) * Kc;
      for (var t = 0u; t < 4u; t++) { if (col + t < Kc) { out0[base + col + t] = v[t]; } }
    }
  }
}
