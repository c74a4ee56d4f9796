/*
 * softmax / log_softmax along one axis of an f32 tensor seen as [outer, n, inner], with the
 * reference's conventions: the maximum propagates NaN, an all -inf line uses 0 as its shift.
 * - inner == 1: a warp per line (n <= 1024) or a block per line (longer);
 * - inner > 1: a thread per (outer, inner) column; neighbours read neighbouring addresses.
 */
#include "common.cuh"

using namespace dmf;

namespace {

DMF_D float nan_max(float m, float v) { return (m != m || v != v) ? NAN : fmaxf(m, v); }

DMF_D float warp_max(float v) {
  for (int s = 16; s > 0; s >>= 1) v = nan_max(v, __shfl_xor_sync(0xffffffffu, v, s));
  return v;
}

DMF_D float warp_sum(float v) {
  for (int s = 16; s > 0; s >>= 1) v += __shfl_xor_sync(0xffffffffu, v, s);
  return v;
}

DMF_D float write_value(float v, float m, float s, float logs, bool is_log) {
  return is_log ? (v - m) - logs : expf(v - m) / s;
}

__global__ void __launch_bounds__(256) k_softmax_warp(const float* __restrict__ x,
                                                      float* __restrict__ out, int64_t rows,
                                                      int64_t n, bool is_log) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t row = (int64_t)blockIdx.x * 8 + warp; row < rows; row += (int64_t)gridDim.x * 8) {
    const float* xr = x + row * n;
    float m = -INFINITY;
    for (int64_t j = lane; j < n; j += 32) m = nan_max(m, xr[j]);
    m = warp_max(m);
    if (m == -INFINITY) m = 0.0f;
    float s = 0.0f;
    for (int64_t j = lane; j < n; j += 32) s += expf(xr[j] - m);
    s = warp_sum(s);
    float logs = logf(s);
    for (int64_t j = lane; j < n; j += 32) out[row * n + j] = write_value(xr[j], m, s, logs, is_log);
  }
}

__global__ void __launch_bounds__(256) k_softmax_block(const float* __restrict__ x,
                                                       float* __restrict__ out, int64_t rows,
                                                       int64_t n, bool is_log) {
  __shared__ float part[8];
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float* xr = x + row * n;
    float m = -INFINITY;
    for (int64_t j = tid; j < n; j += 256) m = nan_max(m, xr[j]);
    m = warp_max(m);
    if (lane == 0) part[warp] = m;
    __syncthreads();
    m = part[0];
    for (int k = 1; k < 8; k++) m = nan_max(m, part[k]);
    if (m == -INFINITY) m = 0.0f;
    __syncthreads();  // part[] is reused for the sum
    float s = 0.0f;
    for (int64_t j = tid; j < n; j += 256) s += expf(xr[j] - m);
    s = warp_sum(s);
    if (lane == 0) part[warp] = s;
    __syncthreads();
    s = 0.0f;
    for (int k = 0; k < 8; k++) s += part[k];
    float logs = logf(s);
    for (int64_t j = tid; j < n; j += 256) out[row * n + j] = write_value(xr[j], m, s, logs, is_log);
    __syncthreads();  // before the next row rewrites part[]
  }
}

__global__ void k_softmax_cols(const float* __restrict__ x, float* __restrict__ out,
                               int64_t outer, int64_t n, int64_t inner, bool is_log) {
  GRID_STRIDE(c, outer * inner) {
    int64_t o = c / inner, k = c - o * inner;
    int64_t base = o * n * inner + k;
    float m = -INFINITY;
    for (int64_t j = 0; j < n; j++) m = nan_max(m, x[base + j * inner]);
    if (m == -INFINITY) m = 0.0f;
    float s = 0.0f;
    for (int64_t j = 0; j < n; j++) s += expf(x[base + j * inner] - m);
    float logs = logf(s);
    for (int64_t j = 0; j < n; j++) {
      out[base + j * inner] = write_value(x[base + j * inner], m, s, logs, is_log);
    }
  }
}

}  // namespace

DMFC_API int dmfc_softmax(int is_log, int64_t outer, int64_t n, int64_t inner, uint64_t x,
                          uint64_t out) {
  DMF_REQUIRE_INIT("softmax");
  if (outer * n * inner <= 0) return DMFC_OK;
  const float* px = ptr<const float>(x);
  float* po = ptr<float>(out);
  cudaError_t e;
  int64_t cap = (int64_t)sm_count() * 32;
  if (inner == 1 && n <= 1024) {
    e = launch(k_softmax_warp, dim3((unsigned)imin((outer + 7) / 8, cap * 8)), dim3(256), px, po,
               outer, n, is_log != 0);
  } else if (inner == 1) {
    e = launch(k_softmax_block, dim3((unsigned)imin(outer, cap * 8)), dim3(256), px, po, outer, n,
               is_log != 0);
  } else {
    e = launch(k_softmax_cols, dim3(grid_stride_blocks(outer * inner, 256)), dim3(256), px, po,
               outer, n, inner, is_log != 0);
  }
  return finish(is_log ? "log_softmax" : "softmax", e);
}
