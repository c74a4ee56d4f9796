// softmax / log_softmax along one axis (f32). A line is (outer, inner); its elements sit at
// base + j * inner. ROW: one workgroup per line (contiguous lines); else one thread per line.
// Header: WG, ROW, LOG. Params: [0] lines, [1] n, [2] inner.
// line_base: lines.wgsl.
@group(0) @binding(1) var<storage, read_write> out0: array<f32>;
@group(0) @binding(2) var<storage, read> in0: array<f32>;

var<workgroup> sh: array<f32, WG>;

fn finish_line(base: u32, m0: f32, s: f32, j: u32) {
  let inner = pu(2u);
  let v = in0[base + j * inner] - m0;
  if (LOG) { out0[base + j * inner] = v - log(s); } else { out0[base + j * inner] = exp(v) / s; }
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
    var m = -f32_inf();
    for (var j = 0u; j < n; j++) { m = max_nan(m, in0[base + j * inner]); }
    if (m == -f32_inf()) { m = 0.0; }
    var s = 0.0;
    for (var j = 0u; j < n; j++) { s += exp(in0[base + j * inner] - m); }
    for (var j = 0u; j < n; j++) { finish_line(base, m, s, j); }
    return;
  }
  let base = line_base(g);
  var m = -f32_inf();
  for (var j = lid; j < n; j += WG) { m = max_nan(m, in0[base + j * inner]); }
  sh[lid] = m;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { sh[lid] = max_nan(sh[lid], sh[lid + w]); }
    workgroupBarrier();
  }
  var m0 = sh[0];
  if (m0 == -f32_inf()) { m0 = 0.0; }
  workgroupBarrier();
  var s = 0.0;
  for (var j = lid; j < n; j += WG) { s += exp(in0[base + j * inner] - m0); }
  sh[lid] = s;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { sh[lid] = sh[lid] + sh[lid + w]; }
    workgroupBarrier();
  }
  let total = sh[0];
  for (var j = lid; j < n; j += WG) { finish_line(base, m0, total, j); }
}
