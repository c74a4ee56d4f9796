// Broadcasting elementwise map (unary, binary, where, cast).
// The generated header supplies WG, VEC, RANK, the bindings and `fn eval_at(i: u32)`, which
// loads the operands at output index i, applies the op and stores out0[i].
// Params: [0] n, [1..RANK] output shape (coalesced), then RANK strides per strided operand.

// Offset into operand `k` (strides start at word 1 + RANK * (k + 1)) of output index `i`.
fn bcast_offset(i: u32, k: u32) -> u32 {
  var rem = i;
  var off = 0u;
  let sbase = 1u + RANK * (k + 1u);
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let n = pu(1u + u32(d));
    let c = rem % n;
    rem = rem / n;
    off += c * pu(sbase + u32(d));
  }
  return off;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = pu(0u);
  let base = group_index(wid, nwg) * (WG * VEC) + lid;
  for (var v = 0u; v < VEC; v++) {
    let i = base + v * WG;
    if (i < n) { eval_at(i); }
  }
}
