// window_attention backward (see window_attention_common.wgsl). A workgroup per (group of G
// consecutive windows, head), the windows one after another:
//  phase A (k in sa, v in sb, a thread per query row i): D_i = dout_i . out_i (= sum_j p dp),
//    p = exp(s - lse_i), dp = dout_i . v_j, ds = p (dp - D_i); dq_i = scale sum_j ds k_j, and
//    ds is added to row i of the workgroup's bias-gradient partial (written on the first
//    window of the group);
//  phase B (q in sa, dout in sb, a thread per key row j): p and ds again from D (in sd),
//    dk_j = scale sum_i ds q_i, dv_j = sum_i p dout_i.
// Each thread owns its rows of dqkv and of the partial: no atomics. The partials
// [groups, heads, N, N] are summed over the groups afterwards (or the partial is dbias).
// Params (besides the common ones): [6] G, [7] groups.
@group(0) @binding(1) var<storage, read_write> dqkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> part: array<f32>;
@group(0) @binding(3) var<storage, read> gout: array<f32>;
@group(0) @binding(4) var<storage, read> qkv: array<f32>;
@group(0) @binding(5) var<storage, read> bias_: array<f32>;
@group(0) @binding(6) var<storage, read> fout: array<f32>;
@group(0) @binding(7) var<storage, read> lse: array<f32>;

var<workgroup> sd: array<f32, NMAX>;

// Phase A reads k (sa) and v (sb), phase B q (sa) and dout (sb).
fn op_a(b: u32, h: u32, r: u32, d: u32, t: u32) -> f32 {
  if (SHARED) { return sa[r * HD + d]; }
  return qkv_at(b, r, t, h, d);
}

fn op_b(b: u32, h: u32, r: u32, d: u32, t: u32) -> f32 {
  if (SHARED) { return sb[r * HD + d]; }
  if (t == 2u) { return qkv_at(b, r, 2u, h, d); }
  return gout[(b * nr() + r) * pu(1u) + h * HD + d];
}

// Loads part ta of qkv into sa and part tb of qkv (tb 2) or dout (tb 3) into sb.
fn load_shared(b: u32, h: u32, ta: u32, tb: u32, lid: u32) {
  for (var e = lid; e < nr() * HD; e += WG) {
    let r = e / HD;
    let d = e % HD;
    sa[e] = qkv_at(b, r, ta, h, d);
    if (tb == 2u) {
      sb[e] = qkv_at(b, r, 2u, h, d);
    } else {
      sb[e] = gout[(b * nr() + r) * pu(1u) + h * HD + d];
    }
  }
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let heads = pu(2u);
  let t = group_index(wid, nwg);
  if (t >= pu(7u) * heads) { return; }
  let g = t / heads;
  let h = t % heads;
  let b0 = g * pu(6u);
  let b1 = min(b0 + pu(6u), pu(0u));
  let scale = pf(4u);
  let c = pu(1u);
  let ld = 3u * c;
  let pbase = t * nr() * nr();
  for (var b = b0; b < b1; b++) {
    if (SHARED) { load_shared(b, h, 1u, 2u, lid); }
    workgroupBarrier();
    for (var i = lid; i < nr(); i += WG) {
      var q: array<f32, HDA>;
      var go: array<f32, HDA>;
      var dq: array<f32, HDA>;
      let o = (b * nr() + i) * c + h * HD;
      var dsum = 0.0;
      for (var d = 0u; d < HD; d++) {
        q[d] = qkv_at(b, i, 0u, h, d) * scale;
        go[d] = gout[o + d];
        dq[d] = 0.0; // explicit: some compilers hoist loop-local variables and zero them once
        dsum += go[d] * fout[o + d];
      }
      sd[i] = dsum;
      let li = lse[(b * heads + h) * nr() + i];
      for (var j = 0u; j < nr(); j++) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HD; d++) {
          s += q[d] * op_a(b, h, j, d, 1u);
          dp += go[d] * op_b(b, h, j, d, 2u);
        }
        let p = exp(s + bias_mask(b, h, i, j) - li);
        let ds = p * (dp - dsum);
        for (var d = 0u; d < HD; d++) { dq[d] += ds * op_a(b, h, j, d, 1u); }
        let pi = pbase + i * nr() + j;
        if (b == b0) { part[pi] = ds; } else { part[pi] += ds; }
      }
      let qo = (b * nr() + i) * ld + h * HD;
      for (var d = 0u; d < HD; d++) { dqkv[qo + d] = scale * dq[d]; }
    }
    workgroupBarrier();
    if (SHARED) { load_shared(b, h, 0u, 3u, lid); }
    workgroupBarrier();
    for (var j = lid; j < nr(); j += WG) {
      var k: array<f32, HDA>;
      var v: array<f32, HDA>;
      var dk: array<f32, HDA>;
      var dv: array<f32, HDA>;
      for (var d = 0u; d < HD; d++) {
        k[d] = qkv_at(b, j, 1u, h, d);
        v[d] = qkv_at(b, j, 2u, h, d);
        dk[d] = 0.0;
        dv[d] = 0.0;
      }
      for (var i = 0u; i < nr(); i++) {
        var s = 0.0;
        var dp = 0.0;
        for (var d = 0u; d < HD; d++) {
          s += op_a(b, h, i, d, 0u) * scale * k[d];
          dp += op_b(b, h, i, d, 3u) * v[d];
        }
        let p = exp(s + bias_mask(b, h, i, j) - lse[(b * heads + h) * nr() + i]);
        let ds = p * (dp - sd[i]);
        for (var d = 0u; d < HD; d++) {
          dv[d] += p * op_b(b, h, i, d, 3u);
          dk[d] += ds * op_a(b, h, i, d, 0u);
        }
      }
      let ko = (b * nr() + j) * ld + c + h * HD;
      for (var d = 0u; d < HD; d++) {
        dqkv[ko + d] = scale * dk[d];
        dqkv[ko + c + d] = dv[d];
      }
    }
    workgroupBarrier();
  }
}
