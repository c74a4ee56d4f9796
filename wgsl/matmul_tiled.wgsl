// Batched matmul tiled in workgroup memory (the default on hardware GPUs): a 16 x 16
// workgroup computes a 64 x 64 tile of C, each thread a 4 x 4 register block, stepping K
// by 16. Tiles of A and B are staged in workgroup memory with coalesced global reads (the
// contiguous axis of each operand maps to consecutive threads, transposes folded into
// strides) and read back as vec4 fragments. Out-of-range rows/columns/k read as 0.
// Header: RB (batch rank), A_K_CONTIG (A's k axis has stride 1), B_N_CONTIG (B's n axis has
//   stride 1), alias T, bindings c0 / a0 / b0, fn lda(u32) -> T, fn ldb(u32) -> T,
//   fn stc(u32, T).
// Params: as matmul.wgsl: [0] M, [1] N, [2] K, [3] A row stride, [4] A k stride,
//   [5] B k stride, [6] B column stride, [7] first batch, [8..) batch shape,
//   A batch strides, B batch strides (batch_offsets: matmul_batch.wgsl).

const TM: u32 = 64u;
const TN: u32 = 64u;
const TK: u32 = 16u;

var<workgroup> As: array<vec4<T>, 256>; // [TK][TM / 4]
var<workgroup> Bs: array<vec4<T>, 256>; // [TK][TN / 4]

@compute @workgroup_size(16, 16)
fn main(
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(local_invocation_id) lid3: vec3<u32>,
  @builtin(local_invocation_index) lid: u32,
) {
  let M = pu(0u);
  let N = pu(1u);
  let K = pu(2u);
  let asi = pu(3u);
  let ask = pu(4u);
  let bsk = pu(5u);
  let bsn = pu(6u);
  let z = wid.z + pu(7u);
  let bo = batch_offsets(z);
  let row0 = wid.y * TM;
  let col0 = wid.x * TN;
  let tx = lid3.x;
  let ty = lid3.y;
  var acc: array<vec4<T>, 4>;
  for (var k0 = 0u; k0 < K; k0 += TK) {
    // stage A[row0 .. +64, k0 .. +16] as As[k][i] and B[k0 .. +16, col0 .. +64] as Bs[k][j]
    for (var q = 0u; q < 4u; q++) {
      let e = lid + 256u * q;
      var i: u32;
      var k: u32;
      if (A_K_CONTIG) { i = e / TK; k = e % TK; } else { k = e / TM; i = e % TM; }
      var av = T(0);
      if (row0 + i < M && k0 + k < K) { av = lda(bo.x + (row0 + i) * asi + (k0 + k) * ask); }
      As[k * 16u + i / 4u][i % 4u] = av;
      var j: u32;
      var kb: u32;
      if (B_N_CONTIG) { kb = e / TN; j = e % TN; } else { j = e / TK; kb = e % TK; }
      var bv = T(0);
      if (col0 + j < N && k0 + kb < K) { bv = ldb(bo.y + (k0 + kb) * bsk + (col0 + j) * bsn); }
      Bs[kb * 16u + j / 4u][j % 4u] = bv;
    }
    workgroupBarrier();
    for (var k = 0u; k < TK; k++) {
      let a = As[k * 16u + ty];
      let b = Bs[k * 16u + tx];
      acc[0] += a.x * b;
      acc[1] += a.y * b;
      acc[2] += a.z * b;
      acc[3] += a.w * b;
    }
    workgroupBarrier();
  }
  let cbase = z * M * N;
  for (var r = 0u; r < 4u; r++) {
    let i = row0 + ty * 4u + r;
    if (i >= M) { break; }
    let v = acc[r];
    for (var c = 0u; c < 4u; c++) {
      let j = col0 + tx * 4u + c;
      if (j < N) { stc(cbase + i * N + j, v[c]); }
    }
  }
}
