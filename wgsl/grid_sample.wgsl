// grid_sample, bilinear, zero padding, align_corners=False, and its gradients.
// MODE 0 forward (thread per output), 1 grid gradient (thread per sample point, gathers
// over channels), 2 input gradient (thread per output, atomic float adds into dx, which
// must be zeroed first). Params: [0] N, [1] C, [2] H, [3] W, [4] Q (points per image).
// Header declares out0 (f32, or atomic<u32> for MODE 2).
@group(0) @binding(2) var<storage, read> xin: array<f32>;
@group(0) @binding(3) var<storage, read> grid: array<f32>;
@group(0) @binding(4) var<storage, read> gy: array<f32>;

struct Pt { x0: i32, y0: i32, tx: f32, ty: f32 }

fn point(n: u32, q: u32) -> Pt {
  let Q = pu(4u);
  let gx = grid[(n * Q + q) * 2u];
  let gyv = grid[(n * Q + q) * 2u + 1u];
  let ix = ((gx + 1.0) * f32(pu(3u)) - 1.0) / 2.0;
  let iy = ((gyv + 1.0) * f32(pu(2u)) - 1.0) / 2.0;
  let fx = floor(ix);
  let fy = floor(iy);
  return Pt(i32(fx), i32(fy), ix - fx, iy - fy);
}

fn inside(y: i32, x: i32) -> bool {
  return y >= 0 && y < i32(pu(2u)) && x >= 0 && x < i32(pu(3u));
}

fn corner(plane: u32, y: i32, x: i32) -> f32 {
  if (!inside(y, x)) { return 0.0; }
  return xin[plane + u32(y * i32(pu(3u)) + x)];
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let t = group_index(wid, nwg) * WG + lid;
  let N = pu(0u);
  let C = pu(1u);
  let HW = pu(2u) * pu(3u);
  let Q = pu(4u);
  if (MODE == 1u) {
    if (t >= N * Q) { return; }
    let n = t / Q;
    let q = t % Q;
    let pt = point(n, q);
    var dix = 0.0;
    var diy = 0.0;
    for (var c = 0u; c < C; c++) {
      let plane = (n * C + c) * HW;
      let go = gy[(n * C + c) * Q + q];
      let v00 = corner(plane, pt.y0, pt.x0);
      let v01 = corner(plane, pt.y0, pt.x0 + 1);
      let v10 = corner(plane, pt.y0 + 1, pt.x0);
      let v11 = corner(plane, pt.y0 + 1, pt.x0 + 1);
      dix += go * ((v01 - v00) * (1.0 - pt.ty) + (v11 - v10) * pt.ty);
      diy += go * ((v10 - v00) * (1.0 - pt.tx) + (v11 - v01) * pt.tx);
    }
    store_grad(t * 2u, dix * f32(pu(3u)) / 2.0);
    store_grad(t * 2u + 1u, diy * f32(pu(2u)) / 2.0);
    return;
  }
  if (t >= N * C * Q) { return; }
  let nc = t / Q;
  let q = t % Q;
  let n = nc / C;
  let pt = point(n, q);
  let plane = nc * HW;
  let w00 = (1.0 - pt.tx) * (1.0 - pt.ty);
  let w01 = pt.tx * (1.0 - pt.ty);
  let w10 = (1.0 - pt.tx) * pt.ty;
  let w11 = pt.tx * pt.ty;
  if (MODE == 0u) {
    // CPU order: only in-range corners are summed, in this order
    var s = 0.0;
    if (inside(pt.y0, pt.x0)) { s += w00 * corner(plane, pt.y0, pt.x0); }
    if (inside(pt.y0, pt.x0 + 1)) { s += w01 * corner(plane, pt.y0, pt.x0 + 1); }
    if (inside(pt.y0 + 1, pt.x0)) { s += w10 * corner(plane, pt.y0 + 1, pt.x0); }
    if (inside(pt.y0 + 1, pt.x0 + 1)) { s += w11 * corner(plane, pt.y0 + 1, pt.x0 + 1); }
    store_grad(t, s);
    return;
  }
  let go = gy[t];
  let W = i32(pu(3u));
  if (inside(pt.y0, pt.x0)) { add_dx(plane + u32(pt.y0 * W + pt.x0), w00 * go); }
  if (inside(pt.y0, pt.x0 + 1)) { add_dx(plane + u32(pt.y0 * W + pt.x0 + 1), w01 * go); }
  if (inside(pt.y0 + 1, pt.x0)) { add_dx(plane + u32((pt.y0 + 1) * W + pt.x0), w10 * go); }
  if (inside(pt.y0 + 1, pt.x0 + 1)) { add_dx(plane + u32((pt.y0 + 1) * W + pt.x0 + 1), w11 * go); }
}
