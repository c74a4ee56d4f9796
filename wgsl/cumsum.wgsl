// Inclusive prefix sum along one axis. THREAD (ROW = false): one thread per line, Kahan-
// compensated in f32 to track the f64 reference. ROW: one workgroup per long line, each
// thread scanning a contiguous chunk, chunk offsets combined by thread 0.
// Header: WG, ROW, IS_FLOAT, alias CT, fn ld(u32) -> CT, fn st(u32, CT).
// Params: [0] lines, [1] n, [2] inner.
// line_base: lines.wgsl.

var<workgroup> part_hi: array<CT, WG>;
var<workgroup> part_lo: array<CT, WG>;

// Compensated add: (s, c) += v.
fn kadd(s: ptr<function, CT>, c: ptr<function, CT>, v: CT) {
  if (IS_FLOAT) {
    let y = v - *c;
    let t = *s + y;
    *c = (t - *s) - y;
    *s = t;
  } else {
    *s = *s + v;
  }
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
  let g = group_index(wid, nwg);
  if (!ROW) {
    let l = g * WG + lid;
    if (l >= lines) { return; }
    let base = line_base(l);
    var s = CT(0);
    var c = CT(0);
    for (var j = 0u; j < n; j++) {
      kadd(&s, &c, ld(base + j * inner));
      st(base + j * inner, s);
    }
    return;
  }
  let base = line_base(g);
  let chunk = (n + WG - 1u) / WG;
  let j0 = min(n, lid * chunk);
  let j1 = min(n, j0 + chunk);
  var s = CT(0);
  var c = CT(0);
  for (var j = j0; j < j1; j++) { kadd(&s, &c, ld(base + j * inner)); }
  part_hi[lid] = s;
  part_lo[lid] = c;
  workgroupBarrier();
  if (lid == 0u) {
    // exclusive prefix of the chunk sums, keeping the compensation
    var ps = CT(0);
    var pc = CT(0);
    for (var t = 0u; t < WG; t++) {
      let hs = part_hi[t];
      let hc = part_lo[t];
      part_hi[t] = ps;
      part_lo[t] = pc;
      kadd(&ps, &pc, hs);
      kadd(&ps, &pc, -hc);
    }
  }
  workgroupBarrier();
  s = part_hi[lid];
  c = part_lo[lid];
  for (var j = j0; j < j1; j++) {
    kadd(&s, &c, ld(base + j * inner));
    st(base + j * inner, s);
  }
}
