/*
 * One tiled f32 GEMM kernel shared by matmul and the three convolution kernels (implicit
 * GEMM: the im2col matrix is never stored, its elements are computed while loading tiles).
 *
 * C[m][n] = sum_k A(m, k) * B(k, n) for every "z" (batch, group or split-K slice). A problem
 * type P supplies the sizes (M, N, zcount), a per-z context (Z, with the k range), element
 * loaders for A and B (called only for in-range m, n and k), the store, and two compile-time
 * layout hints: A_KFAST (consecutive k are adjacent in memory for A) and B_NFAST (consecutive n
 * are adjacent for B), which decide how a block's threads split a tile load so that
 * neighbouring threads read neighbouring addresses. Tiles: BM x BN outputs per block of
 * (BM / TM) * (BN / TN) threads, each thread owning a TM x TN register block on a strided
 * pattern (rows ty + i * (BM / TM), columns tx + j * (BN / TN)) so that shared-memory reads are
 * broadcast (A) or consecutive (B) and global stores coalesce. BK-deep slices of A and B are
 * staged through shared memory; the next slice is fetched into registers while the current
 * one is multiplied.
 */
#pragma once

#include "common.cuh"

namespace dmf {

template <class P, int BM, int BN, int BK, int TM, int TN>
__global__ void __launch_bounds__((BM / TM) * (BN / TN)) k_gemm(P p) {
  constexpr int TY = BM / TM;  // thread rows
  constexpr int TX = BN / TN;  // thread columns
  constexpr int NT = TX * TY;
  constexpr int APER = BM * BK / NT;
  constexpr int BPER = BK * BN / NT;
  static_assert(APER * NT == BM * BK && BPER * NT == BK * BN, "tile does not split evenly");
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % TX, ty = tid / TX;
  const int64_t m0 = (int64_t)blockIdx.y * BM;
  const int64_t n0 = (int64_t)blockIdx.x * BN;
  for (int64_t z = blockIdx.z; z < p.zcount; z += gridDim.z) {
    typename P::Z c = p.at(z);
    float ra[APER], rb[BPER];
    float acc[TM][TN];
#pragma unroll
    for (int i = 0; i < TM; i++) {
#pragma unroll
      for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;
    }
    // loads of slice k0 into registers; (mm, kk) / (kk, nn) of each element per thread
    auto fetch = [&](int64_t k0) {
#pragma unroll
      for (int r = 0; r < APER; r++) {
        int e = tid + r * NT;
        int mm = P::A_KFAST ? e / BK : e % BM;
        int kk = P::A_KFAST ? e % BK : e / BM;
        int64_t m = m0 + mm, k = k0 + kk;
        ra[r] = (m < p.M && k < c.kend) ? p.a(c, m, k) : 0.0f;
      }
#pragma unroll
      for (int r = 0; r < BPER; r++) {
        int e = tid + r * NT;
        int nn = P::B_NFAST ? e % BN : e / BK;
        int kk = P::B_NFAST ? e / BN : e % BK;
        int64_t n = n0 + nn, k = k0 + kk;
        rb[r] = (n < p.N && k < c.kend) ? p.b(c, k, n) : 0.0f;
      }
    };
    fetch(c.kbeg);
    for (int64_t k0 = c.kbeg; k0 < c.kend; k0 += BK) {
#pragma unroll
      for (int r = 0; r < APER; r++) {
        int e = tid + r * NT;
        int mm = P::A_KFAST ? e / BK : e % BM;
        int kk = P::A_KFAST ? e % BK : e / BM;
        As[kk][mm] = ra[r];
      }
#pragma unroll
      for (int r = 0; r < BPER; r++) {
        int e = tid + r * NT;
        int nn = P::B_NFAST ? e % BN : e / BK;
        int kk = P::B_NFAST ? e / BN : e % BK;
        Bs[kk][nn] = rb[r];
      }
      __syncthreads();
      if (k0 + BK < c.kend) fetch(k0 + BK);
#pragma unroll
      for (int kk = 0; kk < BK; kk++) {
        float av[TM], bv[TN];
#pragma unroll
        for (int i = 0; i < TM; i++) av[i] = As[kk][ty + i * TY];
#pragma unroll
        for (int j = 0; j < TN; j++) bv[j] = Bs[kk][tx + j * TX];
#pragma unroll
        for (int i = 0; i < TM; i++) {
#pragma unroll
          for (int j = 0; j < TN; j++) acc[i][j] += av[i] * bv[j];
        }
      }
      __syncthreads();
    }
#pragma unroll
    for (int i = 0; i < TM; i++) {
      int64_t m = m0 + ty + i * TY;
      if (m >= p.M) continue;
#pragma unroll
      for (int j = 0; j < TN; j++) {
        int64_t n = n0 + tx + j * TX;
        if (n < p.N) p.store(c, m, n, acc[i][j]);
      }
    }
  }
}

/** Launches the 64 x 64 (4 x 4 per thread) or 128 x 128 (8 x 8) variant over p. */
template <class P>
cudaError_t gemm_launch(const P& p, bool big) {
  int64_t zc = p.zcount < 65535 ? p.zcount : 65535;
  if (big) {
    dim3 g((unsigned)((p.N + 127) / 128), (unsigned)((p.M + 127) / 128), (unsigned)zc);
    return launch(k_gemm<P, 128, 128, 8, 8, 8>, g, dim3(256), p);
  }
  dim3 g((unsigned)((p.N + 63) / 64), (unsigned)((p.M + 63) / 64), (unsigned)zc);
  return launch(k_gemm<P, 64, 64, 16, 4, 4>, g, dim3(256), p);
}

}  // namespace dmf
