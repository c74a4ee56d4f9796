// scatter_add / index_add: out already holds x (copied); each source element is added at
// its indexed position with an atomic add (a compare-and-swap loop for f32).
// Header: WG, RANK, SELECT (index_add layout), alias AT, fn add_at(u32, u32) adding a raw word.
// scatter_add params: [0] n (index elements), [1] axis, [2] out size on axis,
//   [3..3+RANK) index shape, then out strides (RANK), then src strides (RANK).
// index_add params: [0] n (src elements), [1] m, [2] out size on axis, [3] inner.
// Bindings src / index / status and wrap_index: index_common.wgsl.
@group(0) @binding(1) var<storage, read_write> out0: array<atomic<AT>>;

fn add_f32(i: u32, v: f32) {
  var old = atomicLoad(&out0[i]);
  loop {
    let r = atomicCompareExchangeWeak(&out0[i], old, AT(bitcast<u32>(bitcast<f32>(u32(old)) + v)));
    if (r.exchanged) { break; }
    old = r.old_value;
  }
}

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
    let t = wrap_index(index[j], size, 8u);
    if (t < 0) { return; }
    add_at((i * size + u32(t)) * inner + k, src[p]);
    return;
  }
  let axis = pu(1u);
  let t = wrap_index(index[p], size, 2u);
  if (t < 0) { return; }
  var rem = p;
  var dst = 0u;
  var so = 0u;
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let dim = pu(3u + u32(d));
    let c = rem % dim;
    rem = rem / dim;
    dst += select(c, u32(t), u32(d) == axis) * pu(3u + RANK + u32(d));
    so += c * pu(3u + 2u * RANK + u32(d));
  }
  add_at(dst, src[so]);
}
