// The column matrices of conv2d's GEMMs packed for the image GEMM of CPU adapters
// (src/backend/webgpu/kernels/matmul_image.ts, conv_image.ts): B operands as rgba32float
// texels of 4 consecutive columns, zero past `rows` x `cols`. One invocation per texel.
// MODE 0 forward:     layer (n, g), row kc = (ci, kh, kw), columns = output pixels p.
// MODE 1 input grad:  layer (n, g), row k = (o, kh, kw),   columns = input pixels q.
// MODE 2 weight grad: layer g,      row (n, p),            columns kc = (ci, kh, kw).
// Layers (n, g) are n * groups + g for images n0, n0 + 1, ...; MODE 2 rows run over the
// pixels of images n0, n0 + 1, ...
// Header: WG, MODE and the geometry C, IN_H, IN_W, O, KH, KW, OUT_H, OUT_W, GROUPS, SH, SW,
// PH, PW, DH, DW as constants (llvmpipe divides by a run-time value one lane at a time; by a constant
// it multiplies).
// Params: [0] first image n0, [1] texture width (texels), [2] rows, [3] columns.
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

// src value at (row h, column w) of a [.., rows, cols] plane starting at `plane`, 0 outside.
fn tap(plane: u32, h: i32, w: i32, rows: i32, cols: i32) -> f32 {
  if (h < 0 || h >= rows || w < 0 || w >= cols) { return 0.0; }
  return src[plane + u32(h * cols + w)];
}

@compute @workgroup_size(WG)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let tx = gid.x;
  let row = gid.y;
  let layer = gid.z;
  if (tx >= pu(1u)) { return; }
  let n0 = pu(0u);
  let rows = pu(2u);
  let cols = pu(3u);
  let H = i32(IN_H);
  let W = i32(IN_W);
  let OH = i32(OUT_H);
  let OW = i32(OUT_W);
  let sh = i32(SH);
  let sw = i32(SW);
  let ph = i32(PH);
  let pw = i32(PW);
  let dh = i32(DH);
  let dw = i32(DW);
  let KK = KH * KW;
  let Cg = C / GROUPS;
  let Og = O / GROUPS;
  let c0 = tx * 4u;
  var v = vec4<f32>();
  if (row < rows) {
    if (MODE == 0u) {
      let n = n0 + layer / GROUPS;
      let plane = (n * C + (layer % GROUPS) * Cg + row / KK) * u32(H * W);
      let kh = i32((row % KK) / KW) * dh - ph;
      let kw = i32(row % KW) * dw - pw;
      var oh = i32(c0 / u32(OW));
      var ow = i32(c0 % u32(OW));
      for (var t = 0u; t < 4u; t++) {
        if (c0 + t < cols) { v[t] = tap(plane, oh * sh + kh, ow * sw + kw, H, W); }
        ow++;
        if (ow == OW) { ow = 0; oh++; }
      }
    } else if (MODE == 1u) {
      // dy at (oh, ow) reaches input pixel (ih, iw) through tap (kh, kw) when
      // ih = oh * sh - ph + kh * dh (and the same for w)
      let n = n0 + layer / GROUPS;
      let plane = (n * O + (layer % GROUPS) * Og + row / KK) * u32(OH * OW);
      let kh = ph - i32((row % KK) / KW) * dh;
      let kw = pw - i32(row % KW) * dw;
      var ih = i32(c0 / u32(W));
      var iw = i32(c0 % u32(W));
      for (var t = 0u; t < 4u; t++) {
        var th = ih + kh;
        var tw = iw + kw;
        if (c0 + t < cols && th >= 0 && tw >= 0) {
          var hit = true;
          if (SH != 1u || SW != 1u) {
            hit = th % sh == 0 && tw % sw == 0;
            th = th / sh;
            tw = tw / sw;
          }
          if (hit) { v[t] = tap(plane, th, tw, OH, OW); }
        }
        iw++;
        if (iw == W) { iw = 0; ih++; }
      }
    } else {
      let P = u32(OH * OW);
      let n = n0 + row / P;
      let p = row % P;
      let ih0 = i32(p / u32(OW)) * sh - ph;
      let iw0 = i32(p % u32(OW)) * sw - pw;
      let image = (n * C + layer * Cg) * u32(H * W);
      var ci = c0 / KK;
      var kh = (c0 % KK) / KW;
      var kw = c0 % KW;
      for (var t = 0u; t < 4u; t++) {
        if (c0 + t < cols) {
          let plane = image + ci * u32(H * W);
          v[t] = tap(plane, ih0 + i32(kh) * dh, iw0 + i32(kw) * dw, H, W);
        }
        kw++;
        if (kw == KW) {
          kw = 0;
          kh++;
          if (kh == KH) { kh = 0; ci++; }
        }
      }
    }
  }
  textureStore(dst, vec2<u32>(tx, row), layer, v);
}
