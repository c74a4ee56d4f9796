// torch.gather and index_select on raw 32-bit words. Out-of-range indices set a bit in the
// status buffer (reported when the result is read back) and produce 0.
// Header: WG, RANK, SELECT (bool).
// gather params: [0] n, [1] axis, [2] source size on axis, [3..3+RANK) index shape,
//                [3+RANK..3+2*RANK) source strides.
// index_select params: [0] n, [1] m (index length), [2] source size on axis, [3] inner.
// Bindings src / index / status and wrap_index: index_common.wgsl.
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let p = group_index(wid, nwg) * WG + lid;
  let n = pu(0u);
  if (p >= n) { return; }
  let size = pu(2u);
  if (SELECT) {
    let m = pu(1u);
    let inner = pu(3u);
    let k = p % inner;
    let j = (p / inner) % m;
    let i = p / (inner * m);
    let t = wrap_index(index[j], size, 4u);
    if (t < 0) { out0[p] = 0u; return; }
    out0[p] = src[(i * size + u32(t)) * inner + k];
    return;
  }
  let axis = pu(1u);
  var rem = p;
  var off = 0u;
  let t = wrap_index(index[p], size, 1u);
  if (t < 0) { out0[p] = 0u; return; }
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let dim = pu(3u + u32(d));
    let c = rem % dim;
    rem = rem / dim;
    let coord = select(c, u32(t), u32(d) == axis);
    off += coord * pu(3u + RANK + u32(d));
  }
  out0[p] = src[off];
}
