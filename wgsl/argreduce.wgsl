// argmax / argmin along one axis: index of the first extremum; a NaN (the first one) wins.
// Header: WG, ROW, IS_MAX, alias CT, fn ld(u32) -> CT, fn isnan_ct(CT) -> bool.
// Params: [0] lines, [1] n, [2] inner. Output: i32 per line.
// line_base: lines.wgsl.
@group(0) @binding(1) var<storage, read_write> out0: array<i32>;

var<workgroup> shv: array<CT, WG>;
var<workgroup> shi: array<u32, WG>;

// Whether (v, i) should be preferred over (w, k): NaN first, then the extremum, then the
// smaller index (so any traversal order reproduces the sequential scan).
fn prefer(v: CT, i: u32, w: CT, k: u32) -> bool {
  let vn = isnan_ct(v);
  let wn = isnan_ct(w);
  if (vn || wn) {
    if (vn && wn) { return i < k; }
    return vn;
  }
  if (v == w) { return i < k; }
  if (IS_MAX) { return v > w; }
  return v < w;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let lines = pu(0u);
  let n = pu(1u);
  let inner = pu(2u);
  let g = group_index(wid, nwg);
  if (!ROW) {
    let l = g * WG + lid;
    if (l >= lines) { return; }
    let base = line_base(l);
    if (n == 0u) { out0[l] = 0; return; }
    var best = ld(base);
    var bi = 0u;
    for (var j = 1u; j < n; j++) {
      let v = ld(base + j * inner);
      if (prefer(v, j, best, bi)) { best = v; bi = j; }
    }
    out0[l] = i32(bi);
    return;
  }
  let base = line_base(g);
  var best = ld(base);
  var bi = 0u;
  for (var j = lid; j < n; j += WG) {
    let v = ld(base + j * inner);
    if (prefer(v, j, best, bi)) { best = v; bi = j; }
  }
  shv[lid] = best;
  shi[lid] = bi;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w && prefer(shv[lid + w], shi[lid + w], shv[lid], shi[lid])) {
      shv[lid] = shv[lid + w];
      shi[lid] = shi[lid + w];
    }
    workgroupBarrier();
  }
  if (lid == 0u) { out0[g] = i32(shi[0]); }
}
