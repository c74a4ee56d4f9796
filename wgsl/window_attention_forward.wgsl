// window_attention forward (see window_attention_common.wgsl): a workgroup per (window,
// head), keys in sa and values in sb, a thread per query row i. Two passes over the keys:
// the row's maximum logit, then exp(s - max), its sum and the weighted sum of the values.
// out [B', N, C] (channel h * HD + d), lse [B', heads, N] = max + log(sum).
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;
@group(0) @binding(3) var<storage, read> qkv: array<f32>;
@group(0) @binding(4) var<storage, read> bias_: array<f32>;

fn key(b: u32, h: u32, j: u32, d: u32) -> f32 {
  if (SHARED) { return sa[j * HD + d]; }
  return qkv_at(b, j, 1u, h, d);
}

fn val(b: u32, h: u32, j: u32, d: u32) -> f32 {
  if (SHARED) { return sb[j * HD + d]; }
  return qkv_at(b, j, 2u, h, d);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let heads = pu(2u);
  let t = group_index(wid, nwg);
  if (t >= pu(0u) * heads) { return; }
  let b = t / heads;
  let h = t % heads;
  if (SHARED) {
    for (var e = lid; e < nr() * HD; e += WG) {
      sa[e] = qkv_at(b, e / HD, 1u, h, e % HD);
      sb[e] = qkv_at(b, e / HD, 2u, h, e % HD);
    }
    workgroupBarrier();
  }
  let scale = pf(4u);
  let c = pu(1u);
  for (var i = lid; i < nr(); i += WG) {
    var q: array<f32, HDA>;
    for (var d = 0u; d < HD; d++) { q[d] = qkv_at(b, i, 0u, h, d) * scale; }
    var m = -f32_inf();
    for (var j = 0u; j < nr(); j++) {
      var s = 0.0;
      for (var d = 0u; d < HD; d++) { s += q[d] * key(b, h, j, d); }
      m = max_nan(m, s + bias_mask(b, h, i, j));
    }
    if (m == -f32_inf()) { m = 0.0; } // an all -inf row: the reference softmax's shift
    var acc: array<f32, HDA>;
    for (var d = 0u; d < HD; d++) { acc[d] = 0.0; } // explicit: see the backward shader
    var l = 0.0;
    for (var j = 0u; j < nr(); j++) {
      var s = 0.0;
      for (var d = 0u; d < HD; d++) { s += q[d] * key(b, h, j, d); }
      let e = exp(s + bias_mask(b, h, i, j) - m);
      l += e;
      for (var d = 0u; d < HD; d++) { acc[d] += e * val(b, h, j, d); }
    }
    let o = (b * nr() + i) * c + h * HD;
    for (var d = 0u; d < HD; d++) { out[o + d] = acc[d] / l; }
    lse[(b * heads + h) * nr() + i] = m + log(l);
  }
}
