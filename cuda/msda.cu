/*
 * Multi-scale deformable attention (see src/backend/cpu/msda.ts for the reference):
 * value [N, S, M, D], locations [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P] -> [N, Lq, M*D].
 * A point (x, y) on level l samples pixel (x*W_l - 0.5, y*H_l - 0.5) bilinearly; corners
 * outside the level contribute zero.
 *
 * Forward: one thread per (n, q, m, d) looping over levels and points (the design of the
 * original Deformable-DETR kernel): neighbouring threads read neighbouring channels of a value
 * row, the location and weight loads are shared by the D threads of a head.
 * Backward: a group of G lanes (G = D rounded up to a power of two, at most 32) per
 * (n, q, m); lanes split the channels, add into grad_value with atomics, and reduce the
 * per-point sums for grad_attn / grad_loc with shuffles inside the group.
 */
#include "common.cuh"

using namespace dmf;

namespace {

struct MsdaGeom {
  int64_t N, S, M, D, Lq;
  int L, P;
  int H[DMFC_MAX_LEVELS];
  int W[DMFC_MAX_LEVELS];
  int64_t start[DMFC_MAX_LEVELS];
};

/** Pixel coordinates of a point; false when no bilinear corner can be inside (or NaN). */
DMF_D bool pixel(const float* loc, int64_t i, int H, int W, float& u, float& v) {
  u = loc[2 * i] * (float)W - 0.5f;
  v = loc[2 * i + 1] * (float)H - 0.5f;
  return u > -1.0f && v > -1.0f && u < (float)W && v < (float)H;
}

DMF_D void add_scaled(float& acc, float w, float v) { acc += w * v; }

DMF_D void add_scaled(float4& acc, float w, const float4& v) {
  acc.x += w * v.x;
  acc.y += w * v.y;
  acc.z += w * v.z;
  acc.w += w * v.w;
}

template <typename V>
DMF_D V zero_of();
template <>
DMF_D float zero_of<float>() {
  return 0.0f;
}
template <>
DMF_D float4 zero_of<float4>() {
  return make_float4(0.0f, 0.0f, 0.0f, 0.0f);
}

/**
 * One thread per (n, q, m) and channel unit V: float, or float4 (four channels with 16-byte
 * loads, as DCNv4's flash deformable attention does) when D is a multiple of 4 and the buffers
 * are aligned. Per channel both compute the same sums in the same order. I is the index type:
 * uint32_t when every index fits, which avoids 64-bit division and multiplication in the index
 * math (about a third of the forward's time on an H100 with int64_t).
 */
template <typename I, typename V>
__global__ void k_msda_forward(MsdaGeom g, const V* __restrict__ value,
                               const float* __restrict__ loc, const float* __restrict__ attn,
                               V* __restrict__ out, I n) {
  const I DV = (I)(g.D / (int64_t)(sizeof(V) / sizeof(float)));  // channel units per head
  const I M = (I)g.M, MLq = (I)(g.M * g.Lq), S = (I)g.S;
  const I row = M * DV;  // a value row in channel units
  for (I t = (I)blockIdx.x * blockDim.x + threadIdx.x; t < n; t += (I)gridDim.x * blockDim.x) {
    const I d = t % DV, head = t / DV;  // head = (b * Lq + q) * M + m
    const I m = head % M, b = head / MLq;
    V acc = zero_of<V>();
    for (int l = 0; l < g.L; l++) {
      const int H = g.H[l], W = g.W[l];
      const V* vb = value + (b * S + (I)g.start[l]) * row + m * DV + d;
      for (int p = 0; p < g.P; p++) {
        const I i = (head * (I)g.L + (I)l) * (I)g.P + (I)p;
        float u, v;
        if (!pixel(loc, i, H, W, u, v)) continue;
        const float a = __ldg(attn + i);
        const float fx0 = floorf(u), fy0 = floorf(v);
        const int x0 = (int)fx0, y0 = (int)fy0;
        const float fx = u - fx0, fy = v - fy0;
        V s = zero_of<V>();
        if (y0 >= 0) {
          const V* r = vb + (I)(y0 * W) * row;
          if (x0 >= 0) add_scaled(s, (1.0f - fx) * (1.0f - fy), __ldg(r + (I)x0 * row));
          if (x0 + 1 < W) add_scaled(s, fx * (1.0f - fy), __ldg(r + (I)(x0 + 1) * row));
        }
        if (y0 + 1 < H) {
          const V* r = vb + (I)((y0 + 1) * W) * row;
          if (x0 >= 0) add_scaled(s, (1.0f - fx) * fy, __ldg(r + (I)x0 * row));
          if (x0 + 1 < W) add_scaled(s, fx * fy, __ldg(r + (I)(x0 + 1) * row));
        }
        add_scaled(acc, a, s);
      }
    }
    out[t] = acc;
  }
}

/** ONE: D equals the group width, so each lane owns exactly one channel (gout read once). */
template <typename I, bool ONE>
__global__ void __launch_bounds__(256) k_msda_backward(
    MsdaGeom g, int width, const float* __restrict__ value, const float* __restrict__ loc,
    const float* __restrict__ attn, const float* __restrict__ gout, float* gvalue,
    float* __restrict__ gloc, float* __restrict__ gattn) {
  const int lane = threadIdx.x & 31;
  const int sub = lane % width;
  const I heads = (I)(g.N * g.Lq * g.M);
  const I D = (I)g.D, M = (I)g.M, MLq = (I)(g.M * g.Lq), S = (I)g.S;
  const I per_warp = (I)(32 / width);
  const I warp_id = ((I)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const I warps = ((I)gridDim.x * blockDim.x) >> 5;
  const I row_stride = M * D;
  // warp-uniform loop bounds: every lane reaches every shuffle
  for (I base = warp_id * per_warp; base < heads; base += warps * per_warp) {
    const I head = base + (I)(lane / width);
    const bool active = head < heads;
    const I m = head % M, b = head / MLq;
    const float* go = gout + head * D;
    const float gd_lane = ONE && active ? __ldg(go + sub) : 0.0f;
    for (int l = 0; l < g.L; l++) {
      const int H = g.H[l], W = g.W[l];
      const I level_row = b * S + (I)g.start[l];
      for (int p = 0; p < g.P; p++) {
        const I i = (head * (I)g.L + (I)l) * (I)g.P + (I)p;
        float sample = 0.0f, du = 0.0f, dv = 0.0f, a = 0.0f;
        float u, v;
        if (active && pixel(loc, i, H, W, u, v)) {
          a = __ldg(attn + i);
          const float fx0 = floorf(u), fy0 = floorf(v);
          const int x0 = (int)fx0, y0 = (int)fy0;
          const float fx = u - fx0, fy = v - fy0;
#pragma unroll
          for (int c = 0; c < 4; c++) {
            const int cy = c >> 1, cx = c & 1;
            const int yy = y0 + cy, xx = x0 + cx;
            if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
            const float wx = cx ? fx : 1.0f - fx;
            const float wy = cy ? fy : 1.0f - fy;
            const float w = wx * wy;
            const I off = (level_row + (I)(yy * W + xx)) * row_stride + m * D;
            const float* vr = value + off;
            float* gr = gvalue + off;
            const float aw = a * w;
            float dot = 0.0f;
            if (ONE) {
              dot = gd_lane * __ldg(vr + sub);
              atomicAdd(gr + sub, aw * gd_lane);
            } else {
              for (I d = (I)sub; d < D; d += (I)width) {
                const float gd = __ldg(go + d);
                dot += gd * __ldg(vr + d);
                atomicAdd(gr + d, aw * gd);
              }
            }
            sample += w * dot;
            du += (cx ? 1.0f : -1.0f) * wy * dot;
            dv += (cy ? 1.0f : -1.0f) * wx * dot;
          }
        }
        sample = group_sum(sample, width);
        du = group_sum(du, width);
        dv = group_sum(dv, width);
        if (active && sub == 0) {
          gattn[i] = sample;
          gloc[2 * i] = a * du * (float)W;
          gloc[2 * i + 1] = a * dv * (float)H;
        }
      }
    }
  }
}

/** True when every index of the kernels (values, outputs, point coordinates) fits uint32. */
bool small_indices(const MsdaGeom& g) {
  const int64_t values = g.N * g.S * g.M * g.D, outs = g.N * g.Lq * g.M * g.D;
  const int64_t coords = 2 * g.N * g.Lq * g.M * g.L * g.P;
  return fits_u32(values) && fits_u32(outs) && fits_u32(coords);
}

int read_geom(const int64_t* dims, const int64_t* levels, MsdaGeom& g) {
  g.N = dims[0];
  g.S = dims[1];
  g.M = dims[2];
  g.D = dims[3];
  g.Lq = dims[4];
  if (dims[5] < 0 || dims[5] > DMFC_MAX_LEVELS) {
    return fail(DMFC_ERR_ARG, "msda: %lld levels (at most %d)", (long long)dims[5],
                DMFC_MAX_LEVELS);
  }
  g.L = (int)dims[5];
  g.P = (int)dims[6];
  int64_t acc = 0;
  for (int l = 0; l < DMFC_MAX_LEVELS; l++) {
    bool live = l < g.L;
    g.H[l] = live ? (int)levels[2 * l] : 0;
    g.W[l] = live ? (int)levels[2 * l + 1] : 0;
    g.start[l] = acc;
    if (live) acc += (int64_t)g.H[l] * g.W[l];
  }
  if (acc != g.S) {
    return fail(DMFC_ERR_ARG, "msda: levels hold %lld tokens, value has %lld", (long long)acc,
                (long long)g.S);
  }
  return DMFC_OK;
}

}  // namespace

DMFC_API int dmfc_msda(const int64_t* dims, const int64_t* levels, uint64_t value, uint64_t loc,
                       uint64_t attn, uint64_t out) {
  DMF_REQUIRE_INIT("msda");
  MsdaGeom g;
  int rc = read_geom(dims, levels, g);
  if (rc != DMFC_OK) return rc;
  int64_t n = g.N * g.Lq * g.M * g.D;
  if (n <= 0) return DMFC_OK;
  const bool small = small_indices(g);
  cudaError_t e;
  if (g.D % 4 == 0 && ((value | out) & 15) == 0) {
    const int64_t n4 = n / 4;
    dim3 grid(grid_stride_blocks(n4, 256)), block(256);
    e = small ? launch(k_msda_forward<uint32_t, float4>, grid, block, g, ptr<const float4>(value),
                       ptr<const float>(loc), ptr<const float>(attn), ptr<float4>(out),
                       (uint32_t)n4)
              : launch(k_msda_forward<int64_t, float4>, grid, block, g, ptr<const float4>(value),
                       ptr<const float>(loc), ptr<const float>(attn), ptr<float4>(out), n4);
  } else {
    dim3 grid(grid_stride_blocks(n, 256)), block(256);
    e = small ? launch(k_msda_forward<uint32_t, float>, grid, block, g, ptr<const float>(value),
                       ptr<const float>(loc), ptr<const float>(attn), ptr<float>(out),
                       (uint32_t)n)
              : launch(k_msda_forward<int64_t, float>, grid, block, g, ptr<const float>(value),
                       ptr<const float>(loc), ptr<const float>(attn), ptr<float>(out), n);
  }
  return finish("msda", e);
}

DMFC_API int dmfc_msda_backward(const int64_t* dims, const int64_t* levels, uint64_t value,
                                uint64_t loc, uint64_t attn, uint64_t gout, uint64_t gvalue,
                                uint64_t gloc, uint64_t gattn) {
  DMF_REQUIRE_INIT("msda_backward");
  MsdaGeom g;
  int rc = read_geom(dims, levels, g);
  if (rc != DMFC_OK) return rc;
  int64_t nv = g.N * g.S * g.M * g.D;
  if (nv > 0) {
    DMF_CHECK("msda_backward (clear)",
              cudaMemsetAsync(ptr<void>(gvalue), 0, (size_t)(nv * 4), stream()));
  }
  int64_t heads = g.N * g.Lq * g.M;
  if (heads <= 0 || g.L * g.P == 0) return finish("msda_backward", cudaSuccess);
  int width = 1;
  while (width < g.D && width < 32) width <<= 1;
  int64_t threads = heads * width;
  dim3 grid(grid_stride_blocks(threads, 256)), block(256);
  const bool small = small_indices(g) && fits_u32(threads), one = width == g.D;
  auto kernel = small ? (one ? k_msda_backward<uint32_t, true> : k_msda_backward<uint32_t, false>)
                      : (one ? k_msda_backward<int64_t, true> : k_msda_backward<int64_t, false>);
  cudaError_t e = launch(kernel, grid, block, g, width, ptr<const float>(value),
                         ptr<const float>(loc), ptr<const float>(attn), ptr<const float>(gout),
                         ptr<float>(gvalue), ptr<float>(gloc), ptr<float>(gattn));
  return finish("msda_backward", e);
}
