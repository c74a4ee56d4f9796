// Stable sort along one axis by a bitonic network over (value, index) keys; lines are
// padded to a power of two P with sentinels that sort last. NaN sorts as largest.
// MODE 0 loads keys, 1 runs one compare-exchange stage (k, j), 2 writes values/indices.
// Header: WG, MODE, fn key_before(u32, u32) -> bool comparing raw value words (ascending).
// Params: [0] lines, [1] n, [2] inner, [3] P, [4] k, [5] j, [6] descending.
// line_base: lines.wgsl.
@group(0) @binding(1) var<storage, read_write> keys: array<u32>;
@group(0) @binding(2) var<storage, read_write> idx: array<u32>;
@group(0) @binding(3) var<storage, read_write> vals_out: array<u32>;
@group(0) @binding(4) var<storage, read_write> idx_out: array<i32>;
@group(0) @binding(5) var<storage, read> src: array<u32>;

const SENTINEL: u32 = 0xffffffffu;

// Whether entry a comes before entry b in the final order.
fn before(a: u32, b: u32) -> bool {
  let ia = idx[a];
  let ib = idx[b];
  if (ia == SENTINEL) { return false; }
  if (ib == SENTINEL) { return true; }
  let va = keys[a];
  let vb = keys[b];
  if (pu(6u) == 1u) {
    if (key_before(vb, va)) { return true; }
    if (key_before(va, vb)) { return false; }
  } else {
    if (key_before(va, vb)) { return true; }
    if (key_before(vb, va)) { return false; }
  }
  return ia < ib;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let lines = pu(0u);
  let n = pu(1u);
  let inner = pu(2u);
  let P = pu(3u);
  let t = group_index(wid, nwg) * WG + lid;
  if (MODE == 0u) {
    if (t >= lines * P) { return; }
    let l = t / P;
    let pos = t % P;
    if (pos < n) {
      keys[t] = src[line_base(l) + pos * inner];
      idx[t] = pos;
    } else {
      keys[t] = 0u;
      idx[t] = SENTINEL;
    }
  } else if (MODE == 1u) {
    let half = P / 2u;
    if (t >= lines * half) { return; }
    let l = t / half;
    let i = t % half;
    let k = pu(4u);
    let j = pu(5u);
    let a = (i / j) * 2u * j + i % j;
    let b = a + j;
    let ga = l * P + a;
    let gb = l * P + b;
    let ascending = (a & k) == 0u;
    let swap = select(before(ga, gb), before(gb, ga), ascending);
    if (swap) {
      let tk = keys[ga];
      keys[ga] = keys[gb];
      keys[gb] = tk;
      let ti = idx[ga];
      idx[ga] = idx[gb];
      idx[gb] = ti;
    }
  } else {
    if (t >= lines * n) { return; }
    let l = t / n;
    let pos = t % n;
    let o = line_base(l) + pos * inner;
    vals_out[o] = keys[l * P + pos];
    idx_out[o] = i32(idx[l * P + pos]);
  }
}
