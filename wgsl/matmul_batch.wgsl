// Batch offsets shared by matmul.wgsl and matmul_tiled.wgsl: the element offsets of A and B
// for batch entry z. Header: RB (batch rank). Params: [8..8+RB) batch shape, then A batch
// strides (RB), B batch strides (RB).

fn batch_offsets(z: u32) -> vec2<u32> {
  var rem = z;
  var oa = 0u;
  var ob = 0u;
  for (var d = i32(RB) - 1; d >= 0; d--) {
    let ud = u32(d);
    let dim = pu(8u + ud);
    let c = rem % dim;
    rem = rem / dim;
    oa += c * pu(8u + RB + ud);
    ob += c * pu(8u + 2u * RB + ud);
  }
  return vec2<u32>(oa, ob);
}
