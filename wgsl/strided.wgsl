// Strided copy (every view op) and strided scatter (their backward) on raw 32-bit words.
// Header: WG, RANK, SCATTER (bool). Params: [0] n, [1] base offset (i32),
// [2 .. 2+RANK) view shape (coalesced), [2+RANK .. 2+2*RANK) source strides (i32, may be < 0).
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;
@group(0) @binding(2) var<storage, read> in0: array<u32>;

fn view_offset(i: u32) -> u32 {
  var rem = i;
  var off = pi(1u);
  for (var d = i32(RANK) - 1; d >= 0; d--) {
    let n = pu(2u + u32(d));
    let c = rem % n;
    rem = rem / n;
    off += i32(c) * pi(2u + RANK + u32(d));
  }
  return u32(off);
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = pu(0u);
  let base = group_index(wid, nwg) * (WG * 4u) + lid;
  for (var v = 0u; v < 4u; v++) {
    let i = base + v * WG;
    if (i >= n) { return; }
    if (SCATTER) {
      out0[view_offset(i)] = in0[i];
    } else {
      out0[i] = in0[view_offset(i)];
    }
  }
}
