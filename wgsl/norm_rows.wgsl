// Shared by norm_forward / norm_backward (layer_norm, group_norm; f32). x is viewed as
// [n, groups, cg, hw] (src/backend/norm_geometry.ts): row r = (n, g) holds LEN = cg * hw
// contiguous values and element j of it uses affine channel (r % groups) * cg + j / hw.
// ROW: one workgroup per row, sums by a tree in workgroup memory; else one thread per row.
// Header: WG, ROW, HW1 (hw == 1), fn wt(c) / bs(c) (weight and bias, or 1 and 0).
// Params: [0] rows, [1] len, [2] groups, [3] cg, [4] hw, [5] eps (f32).

var<workgroup> sh: array<vec2<f32>, WG>;

// The sums of v over the row's threads (ROW), or v itself (a thread per row).
fn row_sum(v: vec2<f32>, lid: u32) -> vec2<f32> {
  if (!ROW) { return v; }
  sh[lid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid < s) { sh[lid] = sh[lid] + sh[lid + s]; }
    workgroupBarrier();
  }
  let total = sh[0];
  workgroupBarrier();
  return total;
}

fn channel(r: u32, j: u32) -> u32 {
  let c0 = (r % pu(2u)) * pu(3u);
  if (HW1) { return c0 + j; }
  return c0 + j / pu(4u);
}

// The row a thread works on and how it walks it: elements first, first + step, ... < count
// (count is 0 for threads past the last row, so that every thread reaches the barriers).
struct RowWalk { r: u32, first: u32, step: u32, count: u32, lead: bool }

fn row_walk(wid: vec3<u32>, nwg: vec3<u32>, lid: u32) -> RowWalk {
  let g = group_index(wid, nwg);
  var w = RowWalk(g, lid, WG, pu(1u), lid == 0u);
  if (!ROW) { w = RowWalk(g * WG + lid, 0u, 1u, pu(1u), true); }
  if (w.r >= pu(0u)) {
    w.count = 0u;
    w.lead = false;
  }
  return w;
}
