/*
 * 2-D pooling over [planes, H, W] (f32). Max pooling takes the first maximum of a window (NaN
 * wins) and -inf for an empty window; its backward clears dx and adds each gradient at the
 * window's argmax with atomics (windows may overlap). Average pooling counts padded positions
 * (count_include_pad); its backward gathers, for every input element, the shares of the
 * windows that contain it, so each dx element is written once.
 */
#include "common.cuh"

using namespace dmf;

namespace {

struct PoolGeom {
  int64_t planes;
  int H, W, OH, OW, kh, kw, sh, sw, ph, pw;
};

bool read_geom(const int64_t* g, PoolGeom& p) {
  for (int i = 1; i < 11; i++) {
    if (g[i] < 0 || g[i] >= ((int64_t)1 << 31)) return false;
  }
  p.planes = g[0];
  p.H = (int)g[1];
  p.W = (int)g[2];
  p.OH = (int)g[3];
  p.OW = (int)g[4];
  p.kh = (int)g[5];
  p.kw = (int)g[6];
  p.sh = (int)g[7];
  p.sw = (int)g[8];
  p.ph = (int)g[9];
  p.pw = (int)g[10];
  return p.planes >= 0 && p.sh > 0 && p.sw > 0;
}

/** Flat index of the window maximum in x (first one; NaN wins), or -1 when empty. */
DMF_D int64_t window_argmax(const PoolGeom& g, const float* x, int64_t o) {
  int64_t per = (int64_t)g.OH * g.OW;
  int64_t plane = o / per;
  int rem = (int)(o - plane * per);
  int oh = rem / g.OW, ow = rem - oh * g.OW;
  int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int hs = h0 > 0 ? h0 : 0, he = h0 + g.kh < g.H ? h0 + g.kh : g.H;
  int ws = w0 > 0 ? w0 : 0, we = w0 + g.kw < g.W ? w0 + g.kw : g.W;
  const float* xp = x + plane * g.H * g.W;
  float best = -INFINITY;
  int64_t at = -1;
  for (int i = hs; i < he; i++) {
    for (int j = ws; j < we; j++) {
      float v = xp[i * g.W + j];
      if (at < 0 || v > best || (v != v && best == best)) {
        best = v;
        at = (int64_t)i * g.W + j;
      }
    }
  }
  return at < 0 ? -1 : plane * g.H * g.W + at;
}

__global__ void k_max_pool(PoolGeom g, const float* __restrict__ x, float* __restrict__ out,
                           int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t at = window_argmax(g, x, o);
    out[o] = at < 0 ? -INFINITY : x[at];
  }
}

__global__ void k_max_pool_back(PoolGeom g, const float* __restrict__ x,
                                const float* __restrict__ gy, float* dx, int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t at = window_argmax(g, x, o);
    if (at >= 0) atomicAdd(dx + at, gy[o]);
  }
}

/** Divisor of window (oh, ow): its extent clipped to the padded input. */
DMF_D float window_area(const PoolGeom& g, int oh, int ow) {
  int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  int he = h0 + g.kh < g.H + g.ph ? h0 + g.kh : g.H + g.ph;
  int we = w0 + g.kw < g.W + g.pw ? w0 + g.kw : g.W + g.pw;
  return (float)((he - h0) * (we - w0));
}

__global__ void k_avg_pool(PoolGeom g, const float* __restrict__ x, float* __restrict__ out,
                           int64_t n) {
  GRID_STRIDE(o, n) {
    int64_t per = (int64_t)g.OH * g.OW;
    int64_t plane = o / per;
    int rem = (int)(o - plane * per);
    int oh = rem / g.OW, ow = rem - oh * g.OW;
    int h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    int hs = h0 > 0 ? h0 : 0, he = h0 + g.kh < g.H ? h0 + g.kh : g.H;
    int ws = w0 > 0 ? w0 : 0, we = w0 + g.kw < g.W ? w0 + g.kw : g.W;
    const float* xp = x + plane * g.H * g.W;
    float s = 0.0f;
    for (int i = hs; i < he; i++) {
      for (int j = ws; j < we; j++) s += xp[i * g.W + j];
    }
    out[o] = s / window_area(g, oh, ow);
  }
}

__global__ void k_avg_pool_back(PoolGeom g, const float* __restrict__ gy, float* __restrict__ dx,
                                int64_t n) {
  GRID_STRIDE(e, n) {
    int64_t per = (int64_t)g.H * g.W;
    int64_t plane = e / per;
    int rem = (int)(e - plane * per);
    int ih = rem / g.W, iw = rem - ih * g.W;
    // windows oh with oh*sh - ph <= ih < oh*sh - ph + kh
    int th = ih + g.ph - g.kh + 1, tw = iw + g.pw - g.kw + 1;
    int oh0 = th <= 0 ? 0 : (th + g.sh - 1) / g.sh;
    int ow0 = tw <= 0 ? 0 : (tw + g.sw - 1) / g.sw;
    int oh1 = (ih + g.ph) / g.sh, ow1 = (iw + g.pw) / g.sw;
    if (oh1 > g.OH - 1) oh1 = g.OH - 1;
    if (ow1 > g.OW - 1) ow1 = g.OW - 1;
    const float* gp = gy + plane * g.OH * g.OW;
    float s = 0.0f;
    for (int oh = oh0; oh <= oh1; oh++) {
      for (int ow = ow0; ow <= ow1; ow++) s += gp[oh * g.OW + ow] / window_area(g, oh, ow);
    }
    dx[e] = s;
  }
}

}  // namespace

DMFC_API int dmfc_pool2d(int is_max, const int64_t* geom, uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("pool2d");
  PoolGeom g;
  if (!read_geom(geom, g)) return fail(DMFC_ERR_ARG, "pool2d: bad geometry");
  int64_t n = g.planes * g.OH * g.OW;
  if (n <= 0) return DMFC_OK;
  dim3 gr(grid_stride_blocks(n, 256)), t(256);
  cudaError_t e = is_max ? launch(k_max_pool, gr, t, g, ptr<const float>(x), ptr<float>(out), n)
                         : launch(k_avg_pool, gr, t, g, ptr<const float>(x), ptr<float>(out), n);
  return finish(is_max ? "max_pool2d" : "avg_pool2d", e);
}

DMFC_API int dmfc_max_pool2d_backward(const int64_t* geom, uint64_t x, uint64_t gy, uint64_t dx) {
  DMF_REQUIRE_INIT("max_pool2d_backward");
  PoolGeom g;
  if (!read_geom(geom, g)) return fail(DMFC_ERR_ARG, "max_pool2d_backward: bad geometry");
  int64_t nin = g.planes * g.H * g.W;
  if (nin <= 0) return DMFC_OK;
  DMF_CHECK("max_pool2d_backward (clear)",
            cudaMemsetAsync(ptr<void>(dx), 0, (size_t)(nin * 4), stream()));
  int64_t n = g.planes * g.OH * g.OW;
  if (n <= 0) return finish("max_pool2d_backward", cudaSuccess);
  cudaError_t e = launch(k_max_pool_back, dim3(grid_stride_blocks(n, 256)), dim3(256), g,
                         ptr<const float>(x), ptr<const float>(gy), ptr<float>(dx), n);
  return finish("max_pool2d_backward", e);
}

DMFC_API int dmfc_avg_pool2d_backward(const int64_t* geom, uint64_t gy, uint64_t dx) {
  DMF_REQUIRE_INIT("avg_pool2d_backward");
  PoolGeom g;
  if (!read_geom(geom, g)) return fail(DMFC_ERR_ARG, "avg_pool2d_backward: bad geometry");
  int64_t n = g.planes * g.H * g.W;
  if (n <= 0) return DMFC_OK;
  cudaError_t e = launch(k_avg_pool_back, dim3(grid_stride_blocks(n, 256)), dim3(256), g,
                         ptr<const float>(gy), ptr<float>(dx), n);
  return finish("avg_pool2d_backward", e);
}
