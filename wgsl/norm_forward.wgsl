// layer_norm / group_norm forward (see norm_rows.wgsl): y, and the mean and 1 / sqrt(var + eps)
// of each row. Two passes: the mean, then the variance around it with the rounding of the
// mean corrected ((sum d^2 - (sum d)^2 / len) / len).
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> rstd: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let w = row_walk(wid, nwg, lid);
  let len = f32(pu(1u));
  let base = w.r * pu(1u);
  var s = 0.0;
  for (var j = w.first; j < w.count; j += w.step) { s += x[base + j]; }
  let m = row_sum(vec2<f32>(s, 0.0), lid).x / len;
  var dev = vec2<f32>(0.0, 0.0);
  for (var j = w.first; j < w.count; j += w.step) {
    let d = x[base + j] - m;
    dev += vec2<f32>(d, d * d);
  }
  let t = row_sum(dev, lid);
  let inv = 1.0 / sqrt(max((t.y - t.x * t.x / len) / len, 0.0) + pf(5u));
  if (w.lead) {
    mean[w.r] = m;
    rstd[w.r] = inv;
  }
  for (var j = w.first; j < w.count; j += w.step) {
    let c = channel(w.r, j);
    y[base + j] = (x[base + j] - m) * inv * wt(c) + bs(c);
  }
}
