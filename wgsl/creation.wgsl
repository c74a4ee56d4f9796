// fill / arange / rand_uniform. Header: WG, MODE (0 fill, 1 arange, 2 rand), `fn store(i, v)`.
// Params: [0] n, then per mode:
//   fill:   [1] the storage word to write
//   arange: [1] start_hi f32, [2] start_lo f32, [3] step_hi f32, [4] step_lo f32,
//           [5] integer start i32, [6] integer step i32 (INT_ARANGE)
//   rand:   [1] pcg(seed), [2] counter offset

// PCG hash (src/tensor/random.ts), bit-exact in u32 arithmetic.
fn pcg_hash(v: u32) -> u32 {
  let state = v * 747796405u + 2891336453u;
  let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
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
    if (MODE == 0u) {
      out0[i] = pu(1u);
    } else if (MODE == 1u) {
      if (INT_ARANGE) {
        store_i(i, pi(5u) + i32(i) * pi(6u));
      } else {
        // start + i * step in double-single arithmetic: closer to the f64 reference
        let fi = f32(i);
        let p = fi * pf(3u);
        let e = fma(fi, pf(3u), -p);
        store_f(i, pf(1u) + (p + (e + fi * pf(4u) + pf(2u))));
      }
    } else {
      let h = pcg_hash(pu(1u) ^ pcg_hash(pu(2u) + i));
      store_f(i, f32(h >> 8u) / 16777216.0);
    }
  }
}
