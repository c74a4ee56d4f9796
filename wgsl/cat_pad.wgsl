// cat (one dispatch per input, copying its block into the output) and pad (constant or
// replicate), on raw 32-bit words. Header: WG, RANK, PAD (bool).
// cat params: [0] n (input elements), [1] input block (size on axis * inner),
//   [2] output block (total on axis * inner), [3] start * inner.
// pad params: [0] n (output elements), [1] fill word, [2] replicate, [3..) out shape (RANK),
//   in shape (RANK), pads before (RANK), in strides (RANK).
@group(0) @binding(1) var<storage, read_write> out0: array<u32>;
@group(0) @binding(2) var<storage, read> in0: array<u32>;

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let n = pu(0u);
  let base = group_index(wid, nwg) * (WG * 4u) + lid;
  for (var v = 0u; v < 4u; v++) {
    let p = base + v * WG;
    if (p >= n) { return; }
    if (!PAD) {
      let blk = pu(1u);
      out0[(p / blk) * pu(2u) + pu(3u) + p % blk] = in0[p];
      continue;
    }
    var rem = p;
    var off = 0u;
    var inside = true;
    for (var d = i32(RANK) - 1; d >= 0; d--) {
      let ud = u32(d);
      let dim = pu(3u + ud);
      let c = i32(rem % dim);
      rem = rem / dim;
      let size = i32(pu(3u + RANK + ud));
      var s = c - i32(pu(3u + 2u * RANK + ud));
      if (s < 0 || s >= size) {
        if (pu(2u) == 0u || size == 0) { inside = false; } else { s = clamp(s, 0, size - 1); }
      }
      off += u32(max(s, 0)) * pu(3u + 3u * RANK + ud);
    }
    out0[p] = select(pu(1u), in0[off], inside);
  }
}
