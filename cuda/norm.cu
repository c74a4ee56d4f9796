/*
 * layer_norm / group_norm forward and backward (f32) over x viewed as [n, groups, cg, hw]
 * (src/backend/norm_geometry.ts): each (n, g) is a row of cg * hw contiguous values normalised
 * together; element j of a row of group g uses affine channel g * cg + j / hw. LayerNorm is
 * groups = 1, hw = 1.
 *
 * - Row kernels (forward; backward dx): a warp per row when rows are at most 1024 long, else a
 *   block of 256 per row. Two passes for the statistics: the mean, then the variance around
 *   it with the rounding of the mean corrected ((sum d^2 - (sum d)^2 / len) / len).
 * - Weight / bias gradients: a thread per (split, channel) sums gy * xhat and gy over a fixed
 *   range of that channel's elements into partials, then a thread per channel adds the splits
 *   in order (deterministic, no atomics).
 */
#include "common.cuh"

using namespace dmf;

namespace {

struct NormGeom {
  int64_t rows, groups, cg, hw, len;
};

NormGeom read_geom(const int64_t* geom) {
  NormGeom g;
  g.groups = geom[1];
  g.cg = geom[2];
  g.hw = geom[3];
  g.rows = geom[0] * g.groups;
  g.len = g.cg * g.hw;
  return g;
}

/** Affine channel of element j of row r. */
DMF_D int64_t channel(const NormGeom& g, int64_t r, int64_t j) {
  const int64_t c0 = (r % g.groups) * g.cg;
  return g.hw == 1 ? c0 + j : c0 + j / g.hw;
}

/**
 * Sum over a team of TS threads (32: one warp; 256: the whole block, through part[8]).
 * Every thread of the team gets the total.
 */
template <int TS>
DMF_D float team_sum(float v, float* part) {
  v = group_sum(v, 32);
  if (TS == 32) return v;
  if ((threadIdx.x & 31) == 0) part[threadIdx.x >> 5] = v;
  __syncthreads();
  float s = 0.0f;
  for (int k = 0; k < 8; k++) s += part[k];
  __syncthreads();  // part[] is reused by the next sum
  return s;
}

template <int TS>
__global__ void __launch_bounds__(256)
    k_norm_forward(NormGeom g, float eps, const float* __restrict__ x, const float* __restrict__ w,
                   const float* __restrict__ b, float* __restrict__ y, float* __restrict__ mean,
                   float* __restrict__ rstd) {
  __shared__ float part[8];
  const int lane = TS == 32 ? (threadIdx.x & 31) : threadIdx.x;
  const int teams = 256 / TS;
  const int64_t first = (int64_t)blockIdx.x * teams + (TS == 32 ? threadIdx.x >> 5 : 0);
  for (int64_t r = first; r < g.rows; r += (int64_t)gridDim.x * teams) {
    const float* xr = x + r * g.len;
    float s = 0.0f;
    for (int64_t j = lane; j < g.len; j += TS) s += xr[j];
    const float m = team_sum<TS>(s, part) / (float)g.len;
    float sd = 0.0f, sq = 0.0f;
    for (int64_t j = lane; j < g.len; j += TS) {
      const float d = xr[j] - m;
      sd += d;
      sq += d * d;
    }
    sd = team_sum<TS>(sd, part);
    sq = team_sum<TS>(sq, part);
    float var = (sq - sd * sd / (float)g.len) / (float)g.len;
    if (var < 0.0f) var = 0.0f;
    const float inv = 1.0f / sqrtf(var + eps);
    if (lane == 0) {
      mean[r] = m;
      rstd[r] = inv;
    }
    for (int64_t j = lane; j < g.len; j += TS) {
      const int64_t c = channel(g, r, j);
      float v = (xr[j] - m) * inv;
      if (w) v *= w[c];
      if (b) v += b[c];
      y[r * g.len + j] = v;
    }
  }
}

/** dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = gy * weight. */
template <int TS>
__global__ void __launch_bounds__(256)
    k_norm_backward(NormGeom g, const float* __restrict__ gy, const float* __restrict__ x,
                    const float* __restrict__ mean, const float* __restrict__ rstd,
                    const float* __restrict__ w, float* __restrict__ dx) {
  __shared__ float part[8];
  const int lane = TS == 32 ? (threadIdx.x & 31) : threadIdx.x;
  const int teams = 256 / TS;
  const int64_t first = (int64_t)blockIdx.x * teams + (TS == 32 ? threadIdx.x >> 5 : 0);
  for (int64_t r = first; r < g.rows; r += (int64_t)gridDim.x * teams) {
    const int64_t base = r * g.len;
    const float m = mean[r], inv = rstd[r];
    float sg = 0.0f, sgx = 0.0f;
    for (int64_t j = lane; j < g.len; j += TS) {
      const float gj = w ? gy[base + j] * w[channel(g, r, j)] : gy[base + j];
      sg += gj;
      sgx += gj * (x[base + j] - m) * inv;
    }
    const float a = team_sum<TS>(sg, part) / (float)g.len;
    const float bx = team_sum<TS>(sgx, part) / (float)g.len;
    for (int64_t j = lane; j < g.len; j += TS) {
      const float gj = w ? gy[base + j] * w[channel(g, r, j)] : gy[base + j];
      dx[base + j] = inv * (gj - a - (x[base + j] - m) * inv * bx);
    }
  }
}

/**
 * Partial weight / bias gradients: thread (s, c) sums over elements [s * chunk, (s + 1) *
 * chunk) of channel c, counted (n, h) in row-major order over n x hw.
 */
__global__ void k_norm_affine_partial(NormGeom g, int64_t splits, int64_t chunk,
                                      const float* __restrict__ gy, const float* __restrict__ x,
                                      const float* __restrict__ mean,
                                      const float* __restrict__ rstd, float* __restrict__ pw,
                                      float* __restrict__ pb) {
  const int64_t channels = g.groups * g.cg, items = (g.rows / g.groups) * g.hw;
  GRID_STRIDE(t, splits * channels) {
    const int64_t s = t / channels, c = t - s * channels;
    const int64_t end = imin((s + 1) * chunk, items);
    float sw = 0.0f, sb = 0.0f;
    for (int64_t i = s * chunk; i < end; i++) {
      const int64_t n = g.hw == 1 ? i : i / g.hw, h = i - n * g.hw;
      const int64_t row = n * g.groups + c / g.cg;
      const int64_t k = (n * channels + c) * g.hw + h;
      sw += gy[k] * (x[k] - mean[row]) * rstd[row];
      sb += gy[k];
    }
    pw[t] = sw;
    pb[t] = sb;
  }
}

__global__ void k_norm_affine_sum(int64_t splits, int64_t channels, const float* __restrict__ pw,
                                  const float* __restrict__ pb, float* __restrict__ dw,
                                  float* __restrict__ db) {
  GRID_STRIDE(c, channels) {
    float sw = 0.0f, sb = 0.0f;
    for (int64_t s = 0; s < splits; s++) {
      sw += pw[s * channels + c];
      sb += pb[s * channels + c];
    }
    dw[c] = sw;
    db[c] = sb;
  }
}

/** Blocks for the row kernels: 8 warp-rows per block, or a block per row. */
unsigned row_blocks(const NormGeom& g) {
  const int64_t cap = (int64_t)sm_count() * 256;
  return (unsigned)imax(1, imin(g.len <= 1024 ? (g.rows + 7) / 8 : g.rows, cap));
}

int affine_grads(const NormGeom& g, const float* gy, const float* x, const float* mean,
                 const float* rstd, float* dw, float* db) {
  const int64_t channels = g.groups * g.cg, items = (g.rows / imax(g.groups, 1)) * g.hw;
  if (channels <= 0) return DMFC_OK;
  // about 256 elements per thread, at most 1024 splits
  const int64_t splits = imax(1, imin(1024, (items + 255) / 256));
  const int64_t chunk = imax(1, (items + splits - 1) / splits);
  if (splits == 1) {
    return finish("norm_backward (weight, bias)",
                  launch(k_norm_affine_partial, dim3(grid_stride_blocks(channels, 256)),
                         dim3(256), g, splits, chunk, gy, x, mean, rstd, dw, db));
  }
  int rc;
  float* part = static_cast<float*>(scratch_alloc(2 * splits * channels * 4, "norm_backward", &rc));
  if (!part) return rc;
  float* pb = part + splits * channels;
  cudaError_t e = launch(k_norm_affine_partial, dim3(grid_stride_blocks(splits * channels, 256)),
                         dim3(256), g, splits, chunk, gy, x, mean, rstd, part, pb);
  if (e == cudaSuccess) {
    e = launch(k_norm_affine_sum, dim3(grid_stride_blocks(channels, 256)), dim3(256), splits,
               channels, (const float*)part, (const float*)pb, dw, db);
  }
  scratch_free(part);
  return finish("norm_backward (weight, bias)", e);
}

}  // namespace

DMFC_API int dmfc_norm_forward(const int64_t* geom, double eps, uint64_t x, uint64_t w,
                               uint64_t b, uint64_t y, uint64_t mean, uint64_t rstd) {
  DMF_REQUIRE_INIT("norm_forward");
  const NormGeom g = read_geom(geom);
  if (g.rows <= 0) return DMFC_OK;
  auto k = g.len <= 1024 ? k_norm_forward<32> : k_norm_forward<256>;
  cudaError_t e = launch(k, dim3(row_blocks(g)), dim3(256), g, (float)eps, ptr<const float>(x),
                         ptr<const float>(w), ptr<const float>(b), ptr<float>(y),
                         ptr<float>(mean), ptr<float>(rstd));
  return finish("norm_forward", e);
}

DMFC_API int dmfc_norm_backward(const int64_t* geom, uint64_t gy, uint64_t x, uint64_t mean,
                                uint64_t rstd, uint64_t w, uint64_t dx, uint64_t dw,
                                uint64_t db) {
  DMF_REQUIRE_INIT("norm_backward");
  const NormGeom g = read_geom(geom);
  if (g.rows > 0) {
    auto k = g.len <= 1024 ? k_norm_backward<32> : k_norm_backward<256>;
    int rc = finish("norm_backward",
                    launch(k, dim3(row_blocks(g)), dim3(256), g, ptr<const float>(gy),
                           ptr<const float>(x), ptr<const float>(mean), ptr<const float>(rstd),
                           ptr<const float>(w), ptr<float>(dx)));
    if (rc != DMFC_OK) return rc;
  }
  if (!dw) return DMFC_OK;
  return affine_grads(g, ptr<const float>(gy), ptr<const float>(x), ptr<const float>(mean),
                      ptr<const float>(rstd), ptr<float>(dw), ptr<float>(db));
}
