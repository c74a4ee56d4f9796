/*
 * Resampling: resize nearest (legacy PyTorch nearest, any dtype) and bilinear
 * (align_corners true/false) over the last two axes, forward and backward, and grid_sample
 * (bilinear, zero padding, align_corners=false) forward and backward.
 *
 * Source indices follow the CPU reference exactly: products of the float64 scale with the
 * destination index are rounded to float32 at the same points as there (Math.fround), so the
 * chosen pixels agree bit for bit. Backward kernels clear their outputs and add with atomics
 * (several outputs read one input).
 */
#include "common.cuh"

using namespace dmf;

namespace {

const int kThreads = 256;

DMF_HD int nearest_index(int64_t dst, int64_t in_size, int64_t out_size, double scale) {
  if (in_size == out_size) return (int)dst;
  if (out_size == 2 * in_size) return (int)(dst >> 1);
  float s = (float)((double)dst * scale);
  int64_t i = (int64_t)floorf(s);
  return (int)(i < in_size - 1 ? i : in_size - 1);
}

struct Lin {
  int i0, i1;
  float l1;
};

DMF_HD Lin linear_source(int64_t dst, int64_t in_size, double scale, bool align) {
  float src;
  if (align) {
    src = (float)(scale * (double)dst);
  } else {
    float d = (float)((double)dst + 0.5);
    float s = (float)(scale * (double)d);
    src = (float)((double)s - 0.5);
  }
  if (src < 0.0f) src = 0.0f;
  Lin r;
  r.i0 = (int)floorf(src);
  r.i1 = r.i0 < in_size - 1 ? r.i0 + 1 : r.i0;
  float l = (float)((double)src - (double)r.i0);
  r.l1 = l < 0.0f ? 0.0f : (l > 1.0f ? 1.0f : l);
  return r;
}

struct Plane {
  int64_t planes, H, W, OH, OW;
  double sh, sw;
  bool align;
};

template <typename T>
__global__ void k_nearest(Plane g, const T* __restrict__ x, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t j = o % g.OW, t = o / g.OW;
    int64_t i = t % g.OH, p = t / g.OH;
    int r = nearest_index(i, g.H, g.OH, g.sh);
    int c = nearest_index(j, g.W, g.OW, g.sw);
    out[o] = x[(p * g.H + r) * g.W + c];
  }
}

__global__ void k_nearest_back(Plane g, const float* __restrict__ gy, float* dx, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t j = o % g.OW, t = o / g.OW;
    int64_t i = t % g.OH, p = t / g.OH;
    int r = nearest_index(i, g.H, g.OH, g.sh);
    int c = nearest_index(j, g.W, g.OW, g.sw);
    atomicAdd(dx + (p * g.H + r) * g.W + c, gy[o]);
  }
}

__global__ void k_bilinear(Plane g, const float* __restrict__ x, float* __restrict__ out,
                           int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t j = o % g.OW, t = o / g.OW;
    int64_t i = t % g.OH, p = t / g.OH;
    Lin h = linear_source(i, g.H, g.sh, g.align);
    Lin w = linear_source(j, g.W, g.sw, g.align);
    const float* r0 = x + (p * g.H + h.i0) * g.W;
    const float* r1 = x + (p * g.H + h.i1) * g.W;
    float top = (1.0f - w.l1) * r0[w.i0] + w.l1 * r0[w.i1];
    float bottom = (1.0f - w.l1) * r1[w.i0] + w.l1 * r1[w.i1];
    out[o] = (1.0f - h.l1) * top + h.l1 * bottom;
  }
}

__global__ void k_bilinear_back(Plane g, const float* __restrict__ gy, float* dx, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t j = o % g.OW, t = o / g.OW;
    int64_t i = t % g.OH, p = t / g.OH;
    Lin h = linear_source(i, g.H, g.sh, g.align);
    Lin w = linear_source(j, g.W, g.sw, g.align);
    float v = gy[o];
    float* d = dx + p * g.H * g.W;
    atomicAdd(d + (int64_t)h.i0 * g.W + w.i0, (1.0f - h.l1) * (1.0f - w.l1) * v);
    atomicAdd(d + (int64_t)h.i0 * g.W + w.i1, (1.0f - h.l1) * w.l1 * v);
    atomicAdd(d + (int64_t)h.i1 * g.W + w.i0, h.l1 * (1.0f - w.l1) * v);
    atomicAdd(d + (int64_t)h.i1 * g.W + w.i1, h.l1 * w.l1 * v);
  }
}

// ---- grid_sample -----------------------------------------------------------------------------

struct GridGeom {
  int64_t N, C, H, W, Q;  // Q = OH * OW
};

struct Corners {
  int x0, y0;
  float tx, ty, ix, iy;
};

DMF_D Corners locate(const GridGeom& g, const float* grid, int64_t nq) {
  float gx = grid[nq * 2], gyv = grid[nq * 2 + 1];
  Corners c;
  c.ix = ((gx + 1.0f) * (float)g.W - 1.0f) / 2.0f;
  c.iy = ((gyv + 1.0f) * (float)g.H - 1.0f) / 2.0f;
  if (!(c.ix > -2.0f && c.iy > -2.0f && c.ix < (float)g.W + 1.0f && c.iy < (float)g.H + 1.0f)) {
    // far outside (or NaN): no corner is inside; keeps the int conversion below defined
    c.x0 = c.y0 = -2;
    c.tx = c.ty = 0.0f;
    return c;
  }
  float fx = floorf(c.ix), fy = floorf(c.iy);
  c.x0 = (int)fx;
  c.y0 = (int)fy;
  c.tx = c.ix - fx;
  c.ty = c.iy - fy;
  return c;
}

DMF_D bool inside(const GridGeom& g, int y, int x) { return y >= 0 && y < g.H && x >= 0 && x < g.W; }

__global__ void k_grid_sample(GridGeom g, const float* __restrict__ x,
                              const float* __restrict__ grid, float* __restrict__ out, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t q = o % g.Q, nc = o / g.Q;
    int64_t b = nc / g.C;
    Corners c = locate(g, grid, b * g.Q + q);
    const float* xp = x + nc * g.H * g.W;
    float s = 0.0f;
    if (inside(g, c.y0, c.x0)) s += (1.0f - c.tx) * (1.0f - c.ty) * xp[c.y0 * g.W + c.x0];
    if (inside(g, c.y0, c.x0 + 1)) s += c.tx * (1.0f - c.ty) * xp[c.y0 * g.W + c.x0 + 1];
    if (inside(g, c.y0 + 1, c.x0)) s += (1.0f - c.tx) * c.ty * xp[(c.y0 + 1) * g.W + c.x0];
    if (inside(g, c.y0 + 1, c.x0 + 1)) s += c.tx * c.ty * xp[(c.y0 + 1) * g.W + c.x0 + 1];
    out[o] = s;
  }
}

/** A group of `width` lanes per sampling point (n, q), looping over the channels. */
__global__ void __launch_bounds__(256) k_grid_sample_back(GridGeom g, int width,
                                                          const float* __restrict__ x,
                                                          const float* __restrict__ grid,
                                                          const float* __restrict__ gy, float* dx,
                                                          float* __restrict__ dgrid) {
  const int lane = threadIdx.x & 31;
  const int sub = lane % width;
  const int64_t groups = g.N * g.Q;
  const int64_t per_warp = 32 / width;
  const int64_t warp_id = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const int64_t warps = ((int64_t)gridDim.x * blockDim.x) >> 5;
  // the loop bound is uniform over the warp, so every lane reaches the shuffles
  for (int64_t base = warp_id * per_warp; base < groups; base += warps * per_warp) {
    int64_t nq = base + lane / width;
    bool active = nq < groups;
    float dix = 0.0f, diy = 0.0f;
    if (active) {
      int64_t b = nq / g.Q, q = nq - b * g.Q;
      Corners c = locate(g, grid, nq);
      bool i00 = inside(g, c.y0, c.x0), i01 = inside(g, c.y0, c.x0 + 1);
      bool i10 = inside(g, c.y0 + 1, c.x0), i11 = inside(g, c.y0 + 1, c.x0 + 1);
      for (int64_t ch = sub; ch < g.C; ch += width) {
        int64_t plane = (b * g.C + ch) * g.H * g.W;
        float go = gy[(b * g.C + ch) * g.Q + q];
        int64_t p00 = plane + (int64_t)c.y0 * g.W + c.x0;
        float v00 = i00 ? x[p00] : 0.0f;
        float v01 = i01 ? x[p00 + 1] : 0.0f;
        float v10 = i10 ? x[p00 + g.W] : 0.0f;
        float v11 = i11 ? x[p00 + g.W + 1] : 0.0f;
        if (i00) atomicAdd(dx + p00, (1.0f - c.tx) * (1.0f - c.ty) * go);
        if (i01) atomicAdd(dx + p00 + 1, c.tx * (1.0f - c.ty) * go);
        if (i10) atomicAdd(dx + p00 + g.W, (1.0f - c.tx) * c.ty * go);
        if (i11) atomicAdd(dx + p00 + g.W + 1, c.tx * c.ty * go);
        dix += go * ((v01 - v00) * (1.0f - c.ty) + (v11 - v10) * c.ty);
        diy += go * ((v10 - v00) * (1.0f - c.tx) + (v11 - v01) * c.tx);
      }
    }
    dix = group_sum(dix, width);
    diy = group_sum(diy, width);
    if (active && sub == 0) {
      dgrid[nq * 2] = dix * (float)g.W / 2.0f;
      dgrid[nq * 2 + 1] = diy * (float)g.H / 2.0f;
    }
  }
}

int group_width(int64_t c) {
  int w = 1;
  while (w < c && w < 32) w <<= 1;
  return w;
}

Plane plane_geom(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW, double sh,
                 double sw, bool align) {
  Plane g;
  g.planes = planes;
  g.H = H;
  g.W = W;
  g.OH = OH;
  g.OW = OW;
  g.sh = sh;
  g.sw = sw;
  g.align = align;
  return g;
}

}  // namespace

DMFC_API int dmfc_resize_nearest(int dt, int64_t planes, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW, double scale_h, double scale_w, uint64_t x,
                                 uint64_t out) {
  DMF_REQUIRE_INIT("resize_nearest");
  Plane g = plane_geom(planes, H, W, OH, OW, scale_h, scale_w, false);
  int64_t n = planes * OH * OW;
  if (n <= 0) return DMFC_OK;
  dim3 gr(grid_stride_blocks(n, kThreads)), t(kThreads);
  cudaError_t e = dtype_bytes(dt) == 4
                      ? launch(k_nearest<uint32_t>, gr, t, g, ptr<const uint32_t>(x),
                               ptr<uint32_t>(out), n)
                      : launch(k_nearest<uint8_t>, gr, t, g, ptr<const uint8_t>(x),
                               ptr<uint8_t>(out), n);
  return finish("resize_nearest", e);
}

DMFC_API int dmfc_resize_nearest_backward(int64_t planes, int64_t H, int64_t W, int64_t OH,
                                          int64_t OW, double scale_h, double scale_w,
                                          uint64_t gy, uint64_t dx) {
  DMF_REQUIRE_INIT("resize_nearest_backward");
  Plane g = plane_geom(planes, H, W, OH, OW, scale_h, scale_w, false);
  int64_t nin = planes * H * W, n = planes * OH * OW;
  if (nin <= 0) return DMFC_OK;
  DMF_CHECK("resize_nearest_backward (clear)",
            cudaMemsetAsync(ptr<void>(dx), 0, (size_t)(nin * 4), stream()));
  if (n <= 0) return finish("resize_nearest_backward", cudaSuccess);
  cudaError_t e = launch(k_nearest_back, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), g,
                         ptr<const float>(gy), ptr<float>(dx), n);
  return finish("resize_nearest_backward", e);
}

DMFC_API int dmfc_resize_bilinear(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  double scale_h, double scale_w, int align_corners, uint64_t x,
                                  uint64_t out) {
  DMF_REQUIRE_INIT("resize_bilinear");
  Plane g = plane_geom(planes, H, W, OH, OW, scale_h, scale_w, align_corners != 0);
  int64_t n = planes * OH * OW;
  if (n <= 0) return DMFC_OK;
  cudaError_t e = launch(k_bilinear, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), g,
                         ptr<const float>(x), ptr<float>(out), n);
  return finish("resize_bilinear", e);
}

DMFC_API int dmfc_resize_bilinear_backward(int64_t planes, int64_t H, int64_t W, int64_t OH,
                                           int64_t OW, double scale_h, double scale_w,
                                           int align_corners, uint64_t gy, uint64_t dx) {
  DMF_REQUIRE_INIT("resize_bilinear_backward");
  Plane g = plane_geom(planes, H, W, OH, OW, scale_h, scale_w, align_corners != 0);
  int64_t nin = planes * H * W, n = planes * OH * OW;
  if (nin <= 0) return DMFC_OK;
  DMF_CHECK("resize_bilinear_backward (clear)",
            cudaMemsetAsync(ptr<void>(dx), 0, (size_t)(nin * 4), stream()));
  if (n <= 0) return finish("resize_bilinear_backward", cudaSuccess);
  cudaError_t e = launch(k_bilinear_back, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), g,
                         ptr<const float>(gy), ptr<float>(dx), n);
  return finish("resize_bilinear_backward", e);
}

DMFC_API int dmfc_grid_sample(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                              int64_t OW, uint64_t x, uint64_t grid, uint64_t out) {
  DMF_REQUIRE_INIT("grid_sample");
  GridGeom g{N, C, H, W, OH * OW};
  int64_t n = N * C * g.Q;
  if (n <= 0) return DMFC_OK;
  cudaError_t e = launch(k_grid_sample, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), g,
                         ptr<const float>(x), ptr<const float>(grid), ptr<float>(out), n);
  return finish("grid_sample", e);
}

DMFC_API int dmfc_grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                                       int64_t OW, uint64_t x, uint64_t grid, uint64_t gy,
                                       uint64_t dx, uint64_t dgrid) {
  DMF_REQUIRE_INIT("grid_sample_backward");
  GridGeom g{N, C, H, W, OH * OW};
  int64_t nx = N * C * H * W;
  if (nx > 0) {
    DMF_CHECK("grid_sample_backward (clear)",
              cudaMemsetAsync(ptr<void>(dx), 0, (size_t)(nx * 4), stream()));
  }
  int64_t groups = N * g.Q;
  if (groups <= 0) return finish("grid_sample_backward", cudaSuccess);
  int width = group_width(C);
  int64_t threads = groups * width;
  cudaError_t e = launch(k_grid_sample_back, dim3(grid_stride_blocks(threads, 256)), dim3(256), g,
                         width, ptr<const float>(x), ptr<const float>(grid), ptr<const float>(gy),
                         ptr<float>(dx), ptr<float>(dgrid));
  return finish("grid_sample_backward", e);
}
