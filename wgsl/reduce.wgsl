// Reductions (sum, mean, prod, max, min) over arbitrary axes.
// The input is viewed as kept axes x reduced axes (each coalesced). Two layouts:
//  - row (COL = false): one workgroup per (output, split); threads stride over the reduced
//    range, then a shared-memory tree. Splits > 1 write partials reduced by a second pass.
//  - col (COL = true): one thread per output walks the whole reduced range (reduced axes
//    outermost, so neighbouring threads read neighbouring addresses).
// Header: WG, RK, RR, COL, DIVIDE, alias CT, fn ident() -> CT, fn ld(u32) -> CT, fn st(u32, CT),
//         fn comb(CT, CT) -> CT.
// Params: [0] outputs, [1] reduced length, [2] splits, [3] chunk, [4] divisor (f32),
//         [5..) kept shape, kept strides, reduced shape, reduced strides.

var<workgroup> sh: array<CT, WG>;

fn kept_offset(o: u32) -> u32 {
  var rem = o;
  var off = 0u;
  for (var d = i32(RK) - 1; d >= 0; d--) {
    let n = pu(5u + u32(d));
    off += (rem % n) * pu(5u + RK + u32(d));
    rem = rem / n;
  }
  return off;
}

fn red_offset(r: u32) -> u32 {
  var rem = r;
  var off = 0u;
  let b = 5u + 2u * RK;
  for (var d = i32(RR) - 1; d >= 0; d--) {
    let n = pu(b + u32(d));
    off += (rem % n) * pu(b + RR + u32(d));
    rem = rem / n;
  }
  return off;
}

fn finish(v: CT) -> CT {
  if (DIVIDE) { return v / CT(pf(4u)); }
  return v;
}

@compute @workgroup_size(WG)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let outputs = pu(0u);
  let rlen = pu(1u);
  let g = group_index(wid, nwg);
  if (COL) {
    let o = g * WG + lid;
    if (o >= outputs) { return; }
    let ko = kept_offset(o);
    var acc = ident();
    for (var r = 0u; r < rlen; r++) { acc = comb(acc, ld(ko + red_offset(r))); }
    st(o, finish(acc));
    return;
  }
  let splits = pu(2u);
  let chunk = pu(3u);
  let o = g / splits;
  let s = g % splits;
  var acc = ident();
  if (o < outputs) {
    let ko = kept_offset(o);
    let r0 = s * chunk;
    let r1 = min(rlen, r0 + chunk);
    for (var r = r0 + lid; r < r1; r += WG) { acc = comb(acc, ld(ko + red_offset(r))); }
  }
  sh[lid] = acc;
  workgroupBarrier();
  for (var w = WG / 2u; w > 0u; w = w / 2u) {
    if (lid < w) { sh[lid] = comb(sh[lid], sh[lid + w]); }
    workgroupBarrier();
  }
  if (lid == 0u && o < outputs) { st(g, finish(sh[0])); }
}
