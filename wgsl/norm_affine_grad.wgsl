// layer_norm / group_norm weight and bias gradients, as partial sums: thread t = s * C + c
// adds gy * xhat and gy over elements [s * chunk, (s + 1) * chunk) of channel c, counted
// (n, h) row-major over n x hw (x viewed as [n, C, hw], C = groups * cg). The caller sums the
// splits (or binds dweight / dbias directly when there is one split).
// Header: WG. Params: [0] splits, [1] chunk, [2] n, [3] groups, [4] cg, [5] hw.
@group(0) @binding(1) var<storage, read_write> pw: array<f32>;
@group(0) @binding(2) var<storage, read_write> pb: array<f32>;
@group(0) @binding(3) var<storage, read> gy: array<f32>;
@group(0) @binding(4) var<storage, read> x: array<f32>;
@group(0) @binding(5) var<storage, read> mean: array<f32>;
@group(0) @binding(6) var<storage, read> rstd: array<f32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let groups = pu(3u);
  let cg = pu(4u);
  let hw = pu(5u);
  let channels = groups * cg;
  let t = group_index(wid, nwg) * WG + lid;
  if (t >= pu(0u) * channels) { return; }
  let s = t / channels;
  let c = t % channels;
  let end = min((s + 1u) * pu(1u), pu(2u) * hw);
  var acc = vec2<f32>(0.0, 0.0);
  for (var i = s * pu(1u); i < end; i++) {
    let n = i / hw;
    let row = n * groups + c / cg;
    let k = (n * channels + c) * hw + i % hw;
    acc += vec2<f32>(gy[k] * (x[k] - mean[row]) * rstd[row], gy[k]);
  }
  pw[t] = acc.x;
  pb[t] = acc.y;
}
