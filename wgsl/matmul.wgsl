// Batched matmul C[b] = op(A[b]) @ op(B[b]) with broadcast batch axes and transposes folded
// into strides. A workgroup owns RM rows (uniform across its threads, so A reads are
// broadcasts); each thread owns 4 adjacent columns held in a vec4 per row (register
// blocking RM x 4). BVEC: B and C rows are contiguous and N % 4 == 0, so columns load and
// store as vec4; otherwise 4 scalar loads with clamped indices.
// Header: WG, RM (1..8), BVEC, RB (batch rank), alias T, bindings c0/a0/b0 (and b4/c4),
//         fn lda(u32) -> T, fn ldb(u32) -> T, fn stc(u32, T).
// Params: [0] M, [1] N, [2] K, [3] A row stride, [4] A k stride, [5] B k stride,
//   [6] B column stride, [7] first batch, [8..8+RB) batch shape,
//   then A batch strides (RB), B batch strides (RB) (batch_offsets: matmul_batch.wgsl).

fn load_b4(base: u32, k: u32, c: u32, N: u32) -> vec4<T> {
  if (BVEC) {
    return b4[(base + k * N) / 4u + c];
  }
  let sk = pu(5u);
  let sn = pu(6u);
  let j = c * 4u;
  let last = N - 1u;
  let o = base + k * sk;
  return vec4<T>(
    ldb(o + min(j, last) * sn),
    ldb(o + min(j + 1u, last) * sn),
    ldb(o + min(j + 2u, last) * sn),
    ldb(o + min(j + 3u, last) * sn),
  );
}

fn store_c4(base: u32, row: u32, c: u32, N: u32, M: u32, v: vec4<T>) {
  if (row >= M) { return; }
  if (BVEC) {
    c4[(base + row * N) / 4u + c] = v;
    return;
  }
  let j = c * 4u;
  let o = base + row * N + j;
  stc(o, v.x);
  if (j + 1u < N) { stc(o + 1u, v.y); }
  if (j + 2u < N) { stc(o + 2u, v.z); }
  if (j + 3u < N) { stc(o + 3u, v.w); }
}

@compute @workgroup_size(WG)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  let asi = pu(3u);
  let ask = pu(4u);
  let z = wid.z + pu(7u);
  let bo = batch_offsets(z);
  let cbase = z * M * N;
  let c = wid.x * WG + lid;
  let cols4 = (N + 3u) / 4u;
  let cc = min(c, cols4 - 1u);
  let r0 = wid.y * RM;
  let last = M - 1u;
  // row starts in A (rows past M read the last row; their results are not stored)
  let a0 = bo.x + min(r0, last) * asi;
  let a1 = bo.x + min(r0 + 1u, last) * asi;
  let a2 = bo.x + min(r0 + 2u, last) * asi;
  let a3 = bo.x + min(r0 + 3u, last) * asi;
  let a4 = bo.x + min(r0 + 4u, last) * asi;
  let a5 = bo.x + min(r0 + 5u, last) * asi;
  let a6 = bo.x + min(r0 + 6u, last) * asi;
  let a7 = bo.x + min(r0 + 7u, last) * asi;
  var acc0 = vec4<T>();
  var acc1 = vec4<T>();
  var acc2 = vec4<T>();
  var acc3 = vec4<T>();
  var acc4 = vec4<T>();
  var acc5 = vec4<T>();
  var acc6 = vec4<T>();
  var acc7 = vec4<T>();
  for (var k = 0u; k < K; k++) {
    let b = load_b4(bo.y, k, cc, N);
    let ko = k * ask;
    acc0 += lda(a0 + ko) * b;
    if (RM > 1u) { acc1 += lda(a1 + ko) * b; }
    if (RM > 2u) { acc2 += lda(a2 + ko) * b; acc3 += lda(a3 + ko) * b; }
    if (RM > 4u) {
      acc4 += lda(a4 + ko) * b;
      acc5 += lda(a5 + ko) * b;
      acc6 += lda(a6 + ko) * b;
      acc7 += lda(a7 + ko) * b;
    }
  }
  if (c >= cols4) { return; }
  store_c4(cbase, r0, c, N, M, acc0);
  if (RM > 1u) { store_c4(cbase, r0 + 1u, c, N, M, acc1); }
  if (RM > 2u) {
    store_c4(cbase, r0 + 2u, c, N, M, acc2);
    store_c4(cbase, r0 + 3u, c, N, M, acc3);
  }
  if (RM > 4u) {
    store_c4(cbase, r0 + 4u, c, N, M, acc4);
    store_c4(cbase, r0 + 5u, c, N, M, acc5);
    store_c4(cbase, r0 + 6u, c, N, M, acc6);
    store_c4(cbase, r0 + 7u, c, N, M, acc7);
  }
}
