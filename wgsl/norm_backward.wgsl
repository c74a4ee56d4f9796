// layer_norm / group_norm input gradient (see norm_rows.wgsl): with xhat = (x - mean) * rstd
// and g = gy * weight, dx = rstd * (g - mean_row(g) - xhat * mean_row(g * xhat)).
@group(0) @binding(1) var<storage, read_write> dx: array<f32>;
@group(0) @binding(2) var<storage, read> gy: array<f32>;
@group(0) @binding(3) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read> mean: array<f32>;
@group(0) @binding(5) var<storage, read> rstd: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = row_walk(wid, nwg, lid);
  let r = min(w.r, pu(0u) - 1u);
  let base = w.r * pu(1u);
  let m = mean[r];
  let inv = rstd[r];
  var s = vec2<f32>(0.0, 0.0);
  for (var j = w.first; j < w.count; j += w.step) {
    let g = gy[base + j] * wt(channel(w.r, j));
    s += vec2<f32>(g, g * (x[base + j] - m) * inv);
  }
  let a = row_sum(s, lid) / f32(pu(1u));
  for (var j = w.first; j < w.count; j += w.step) {
    let g = gy[base + j] * wt(channel(w.r, j));
    dx[base + j] = inv * (g - a.x - (x[base + j] - m) * inv * a.y);
  }
}
