// Matmul for CPU (software) adapters: a dispatch computes RM rows of C for every column,
// reading those RM rows of A through a uniform-buffer window. On llvmpipe, uniform loads
// compile to plain gathers while storage loads run a per-lane loop with bounds checks, so
// keeping A (RM reads per k) in a uniform binding and B (one vec4 per k) in storage is
// several times faster than matmul.wgsl there. B is packed into panels of 4*WG columns
// ([panels, K, 4*WG], see kernels/matmul.ts) so a workgroup streams through contiguous
// memory (unpacked rows of a large B are one TLB page apart per k). Each thread owns 4
// columns (vec4) of its workgroup's panel.
// Header: WG, RM (1..16), KQ (= K / 4), the uniform windows (aw0.. holding RPB rows each)
// and fn a_at(row, kq, kr) -> f32 reading A[row][4 * kq + kr] from them.
// Params: [0] N, [1] K, [2] packed-B offset (floats), [3] C offset (floats), [4] first row.
@group(0) @binding(1) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> b4: array<vec4<f32>>;

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let N = pu(0u);
  let K = pu(1u);
  let bbase = pu(2u);
  let cbase = pu(3u);
  let r0 = pu(4u);
  let cols4 = N / 4u;
  let c = wid.x * WG + lid;
  let panel = bbase / 4u + wid.x * K * WG + lid;
  var acc0 = vec4<f32>();
  var acc1 = vec4<f32>();
  var acc2 = vec4<f32>();
  var acc3 = vec4<f32>();
  var acc4 = vec4<f32>();
  var acc5 = vec4<f32>();
  var acc6 = vec4<f32>();
  var acc7 = vec4<f32>();
  var acc8 = vec4<f32>();
  var acc9 = vec4<f32>();
  var acc10 = vec4<f32>();
  var acc11 = vec4<f32>();
  var acc12 = vec4<f32>();
  var acc13 = vec4<f32>();
  var acc14 = vec4<f32>();
  var acc15 = vec4<f32>();
  for (var k = 0u; k < K; k++) {
    let b = b4[panel + k * WG];
    let kq = k / 4u;
    let kr = k % 4u;
    acc0 += a_at(0u, kq, kr) * b;
    if (RM > 1u) { acc1 += a_at(1u, kq, kr) * b; }
    if (RM > 2u) { acc2 += a_at(2u, kq, kr) * b; }
    if (RM > 3u) { acc3 += a_at(3u, kq, kr) * b; }
    if (RM > 4u) { acc4 += a_at(4u, kq, kr) * b; }
    if (RM > 5u) { acc5 += a_at(5u, kq, kr) * b; }
    if (RM > 6u) { acc6 += a_at(6u, kq, kr) * b; }
    if (RM > 7u) { acc7 += a_at(7u, kq, kr) * b; }
    if (RM > 8u) { acc8 += a_at(8u, kq, kr) * b; }
    if (RM > 9u) { acc9 += a_at(9u, kq, kr) * b; }
    if (RM > 10u) { acc10 += a_at(10u, kq, kr) * b; }
    if (RM > 11u) { acc11 += a_at(11u, kq, kr) * b; }
    if (RM > 12u) { acc12 += a_at(12u, kq, kr) * b; }
    if (RM > 13u) { acc13 += a_at(13u, kq, kr) * b; }
    if (RM > 14u) { acc14 += a_at(14u, kq, kr) * b; }
    if (RM > 15u) { acc15 += a_at(15u, kq, kr) * b; }
  }
  if (c >= cols4) { return; }
  c4[(cbase + (r0 + 0u) * N) / 4u + c] = acc0;
  if (RM > 1u) { c4[(cbase + (r0 + 1u) * N) / 4u + c] = acc1; }
  if (RM > 2u) { c4[(cbase + (r0 + 2u) * N) / 4u + c] = acc2; }
  if (RM > 3u) { c4[(cbase + (r0 + 3u) * N) / 4u + c] = acc3; }
  if (RM > 4u) { c4[(cbase + (r0 + 4u) * N) / 4u + c] = acc4; }
  if (RM > 5u) { c4[(cbase + (r0 + 5u) * N) / 4u + c] = acc5; }
  if (RM > 6u) { c4[(cbase + (r0 + 6u) * N) / 4u + c] = acc6; }
  if (RM > 7u) { c4[(cbase + (r0 + 7u) * N) / 4u + c] = acc7; }
  if (RM > 8u) { c4[(cbase + (r0 + 8u) * N) / 4u + c] = acc8; }
  if (RM > 9u) { c4[(cbase + (r0 + 9u) * N) / 4u + c] = acc9; }
  if (RM > 10u) { c4[(cbase + (r0 + 10u) * N) / 4u + c] = acc10; }
  if (RM > 11u) { c4[(cbase + (r0 + 11u) * N) / 4u + c] = acc11; }
  if (RM > 12u) { c4[(cbase + (r0 + 12u) * N) / 4u + c] = acc12; }
  if (RM > 13u) { c4[(cbase + (r0 + 13u) * N) / 4u + c] = acc13; }
  if (RM > 14u) { c4[(cbase + (r0 + 14u) * N) / 4u + c] = acc14; }
  if (RM > 15u) { c4[(cbase + (r0 + 15u) * N) / 4u + c] = acc15; }
}
