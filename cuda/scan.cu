/*
 * cumsum along one axis of a tensor seen as [outer, n, inner]. Sums in double like the CPU
 * reference; f32 in -> f32 out, integer / bool in -> i32 out (ToInt32 on store).
 * - long contiguous lines (inner == 1, n > 64): one block per line, scanning chunks of 256
 *   with warp shuffles and carrying the running total;
 * - otherwise one thread per line, neighbouring threads reading neighbouring columns.
 */
#include "common.cuh"

using namespace dmf;

namespace {

template <typename TIn, typename TOut>
__global__ void k_cumsum_lines(const TIn* __restrict__ x, TOut* __restrict__ out, int64_t outer,
                               int64_t n, int64_t inner) {
  GRID_STRIDE(c, outer * inner) {
    int64_t o = c / inner, k = c - o * inner;
    int64_t base = o * n * inner + k;
    double s = 0;
    for (int64_t j = 0; j < n; j++) {
      s += (double)x[base + j * inner];
      out[base + j * inner] = Conv<TOut>::from(s);
    }
  }
}

template <typename TIn, typename TOut>
__global__ void __launch_bounds__(256) k_cumsum_block(const TIn* __restrict__ x,
                                                      TOut* __restrict__ out, int64_t rows,
                                                      int64_t n) {
  __shared__ double wsum[8];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const TIn* xr = x + row * n;
    TOut* orow = out + row * n;
    double carry = 0;
    for (int64_t base = 0; base < n; base += 256) {
      int64_t j = base + tid;
      double v = j < n ? (double)xr[j] : 0.0;
      for (int o = 1; o < 32; o <<= 1) {
        double t = __shfl_up_sync(0xffffffffu, v, o);
        if (lane >= o) v += t;
      }
      if (lane == 31) wsum[warp] = v;
      __syncthreads();
      if (warp == 0) {
        double w = lane < 8 ? wsum[lane] : 0.0;
        for (int o = 1; o < 8; o <<= 1) {
          double t = __shfl_up_sync(0xffffffffu, w, o);
          if (lane >= o) w += t;
        }
        if (lane < 8) wsum[lane] = w;  // inclusive prefix of warp totals
      }
      __syncthreads();
      if (warp > 0) v += wsum[warp - 1];
      v += carry;
      if (j < n) orow[j] = Conv<TOut>::from(v);
      carry += wsum[7];
      __syncthreads();  // wsum is rewritten by the next chunk
    }
  }
}

template <typename TIn, typename TOut>
cudaError_t cumsum_t(int64_t outer, int64_t n, int64_t inner, uint64_t x, uint64_t out) {
  const TIn* px = ptr<const TIn>(x);
  TOut* po = ptr<TOut>(out);
  if (inner == 1 && n > 64) {
    int64_t blocks = imin(outer, (int64_t)sm_count() * 64);
    return launch(k_cumsum_block<TIn, TOut>, dim3((unsigned)blocks), dim3(256), px, po, outer, n);
  }
  return launch(k_cumsum_lines<TIn, TOut>, dim3(grid_stride_blocks(outer * inner, 256)),
                dim3(256), px, po, outer, n, inner);
}

}  // namespace

DMFC_API int dmfc_cumsum(int in_dt, int out_dt, int64_t outer, int64_t n, int64_t inner,
                         uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("cumsum");
  if (outer * n * inner <= 0) return DMFC_OK;
  cudaError_t e;
  if (in_dt == DMFC_F32 && out_dt == DMFC_F32) {
    e = cumsum_t<float, float>(outer, n, inner, x, out);
  } else if (out_dt == DMFC_I32 && in_dt == DMFC_I32) {
    e = cumsum_t<int32_t, int32_t>(outer, n, inner, x, out);
  } else if (out_dt == DMFC_I32 && (in_dt == DMFC_U8 || in_dt == DMFC_BOOL)) {
    e = cumsum_t<uint8_t, int32_t>(outer, n, inner, x, out);
  } else {
    return fail(DMFC_ERR_ARG, "cumsum: unsupported dtypes %s -> %s", dtype_name(in_dt),
                dtype_name(out_dt));
  }
  return finish("cumsum", e);
}
