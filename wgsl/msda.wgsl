// Multi-scale deformable attention (see src/backend/cpu/msda.ts): value [N, S, M, D],
// locations [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P] -> out [N, Lq, M*D].
// MODE 0 forward: thread per output (n, q, m, d).
// MODE 1 gradients of locations and weights: thread per sampling point (no atomics).
// MODE 2 gradient of value: thread per (point, d), atomic float adds into dvalue (zeroed).
// Params: [0] N, [1] S, [2] M, [3] D, [4] Lq, [5] L, [6] P, then (H, W, start) per level.
// Header: WG, MODE, out0 declaration, fn store_out(u32, f32), fn add_value(u32, f32).
@group(0) @binding(2) var<storage, read> value: array<f32>;
@group(0) @binding(3) var<storage, read> loc: array<f32>;
@group(0) @binding(4) var<storage, read> attn: array<f32>;
@group(0) @binding(5) var<storage, read> gout: array<f32>;
@group(0) @binding(6) var<storage, read_write> gloc: array<f32>;

// Corner c (0..3) of point i: value row (or -1 outside), weight, d weight/du, d weight/dv.
struct Corner { row: i32, w: f32, du: f32, dv: f32 }

fn corner(i: u32, level: u32, n: u32, c: u32) -> Corner {
  let H = i32(pu(7u + 3u * level));
  let W = i32(pu(8u + 3u * level));
  let start = pu(9u + 3u * level);
  let u = loc[2u * i] * f32(W) - 0.5;
  let v = loc[2u * i + 1u] * f32(H) - 0.5;
  let fu = floor(u);
  let fv = floor(v);
  let fx = u - fu;
  let fy = v - fv;
  let dx = i32(c & 1u);
  let dy = i32(c >> 1u);
  let xx = i32(fu) + dx;
  let yy = i32(fv) + dy;
  let wx = select(1.0 - fx, fx, dx == 1);
  let wy = select(1.0 - fy, fy, dy == 1);
  var row = -1;
  if (yy >= 0 && yy < H && xx >= 0 && xx < W) { row = i32(n * pu(1u) + start) + yy * W + xx; }
  return Corner(row, wx * wy, select(-1.0, 1.0, dx == 1) * wy, select(-1.0, 1.0, dy == 1) * wx);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = group_index(wid, nwg) * WG + lid;
  let N = pu(0u);
  let M = pu(2u);
  let D = pu(3u);
  let Lq = pu(4u);
  let L = pu(5u);
  let P = pu(6u);
  if (MODE == 0u) {
    if (t >= N * Lq * M * D) { return; }
    let d = t % D;
    let head = t / D;
    let m = head % M;
    let n = head / (M * Lq);
    var acc = 0.0;
    for (var l = 0u; l < L; l++) {
      for (var p = 0u; p < P; p++) {
        let i = (head * L + l) * P + p;
        let a = attn[i];
        for (var c = 0u; c < 4u; c++) {
          let k = corner(i, l, n, c);
          if (k.row >= 0) { acc += a * k.w * value[(u32(k.row) * M + m) * D + d]; }
        }
      }
    }
    store_out(t, acc);
    return;
  }
  let points = N * Lq * M * L * P;
  if (MODE == 1u) {
    if (t >= points) { return; }
    let i = t;
    let head = i / (L * P);
    let l = (i / P) % L;
    let m = head % M;
    let n = head / (M * Lq);
    let H = f32(pu(7u + 3u * l));
    let W = f32(pu(8u + 3u * l));
    var sample = 0.0;
    var du = 0.0;
    var dv = 0.0;
    for (var c = 0u; c < 4u; c++) {
      let k = corner(i, l, n, c);
      if (k.row < 0) { continue; }
      let base = (u32(k.row) * M + m) * D;
      var dot = 0.0;
      for (var d = 0u; d < D; d++) { dot += gout[head * D + d] * value[base + d]; }
      sample += k.w * dot;
      du += k.du * dot;
      dv += k.dv * dot;
    }
    let a = attn[i];
    store_out(i, sample);
    gloc[2u * i] = a * du * W;
    gloc[2u * i + 1u] = a * dv * H;
    return;
  }
  if (t >= points * D) { return; }
  let d = t % D;
  let i = t / D;
  let head = i / (L * P);
  let l = (i / P) % L;
  let m = head % M;
  let n = head / (M * Lq);
  let g = attn[i] * gout[head * D + d];
  for (var c = 0u; c < 4u; c++) {
    let k = corner(i, l, n, c);
    if (k.row >= 0) { add_value((u32(k.row) * M + m) * D + d, k.w * g); }
  }
}
