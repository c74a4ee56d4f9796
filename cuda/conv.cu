/*
 * 2-D convolution (f32, NCHW, groups, stride, padding, dilation) as implicit GEMM on the
 * shared tiled kernel (gemm.cuh), one GEMM per group (the z dimension):
 *
 *   forward       out[n, o, p]    M = O/g rows (o),  N = batch * OH*OW (n, p),  K = C/g*KH*KW
 *   input grad    dx[n, c, q]     M = C/g (c),       N = batch * H*W (n, q),    K = O/g*KH*KW
 *                 (each dx element is one GEMM output: no atomics, no zero fill)
 *   weight grad   dw[o, c, kh, kw] M = O/g (o),      N = C/g*KH*KW,             K = batch * OH*OW
 *                 (long K: split into slices accumulated with atomics when the output tile
 *                  count alone cannot fill the device)
 * Index decomposition uses 32-bit integers (every extent < 2^31); offsets are 64-bit.
 */
#include "gemm.cuh"

using namespace dmf;

namespace {

struct ConvGeom {
  int N, C, H, W, O, KH, KW, OH, OW, G, sh, sw, ph, pw, dh, dw;
  int Cg, Og, KHW, P;  // derived
};

bool read_geom(const int64_t* g, ConvGeom& c) {
  for (int i = 0; i < 16; i++) {
    if (g[i] < 0 || g[i] >= ((int64_t)1 << 31)) return false;
  }
  c.N = (int)g[0];
  c.C = (int)g[1];
  c.H = (int)g[2];
  c.W = (int)g[3];
  c.O = (int)g[4];
  c.KH = (int)g[5];
  c.KW = (int)g[6];
  c.OH = (int)g[7];
  c.OW = (int)g[8];
  c.G = (int)g[9];
  c.sh = (int)g[10];
  c.sw = (int)g[11];
  c.ph = (int)g[12];
  c.pw = (int)g[13];
  c.dh = (int)g[14];
  c.dw = (int)g[15];
  if (c.G <= 0 || c.C % c.G || c.O % c.G || c.sh <= 0 || c.sw <= 0) return false;
  c.Cg = c.C / c.G;
  c.Og = c.O / c.G;
  c.KHW = c.KH * c.KW;
  c.P = c.OH * c.OW;
  return true;
}

struct ZCtx {
  int g;
  int64_t kbeg, kend;
};

/** x[n, g*Cg + c, ih, iw] for column-matrix row (c, kh, kw) and output position (oh, ow). */
DMF_D float im2col_at(const ConvGeom& q, const float* x, int g, int n, int c, int r, int oh,
                      int ow) {
  int kh = r / q.KW, kw = r - kh * q.KW;
  int ih = oh * q.sh - q.ph + kh * q.dh;
  int iw = ow * q.sw - q.pw + kw * q.dw;
  if (ih < 0 || ih >= q.H || iw < 0 || iw >= q.W) return 0.0f;
  return x[(((int64_t)n * q.C + (int64_t)g * q.Cg + c) * q.H + ih) * q.W + iw];
}

struct ConvFwd {
  static constexpr bool A_KFAST = true, B_NFAST = true;
  ConvGeom q;
  const float* x;
  const float* w;
  float* out;
  int64_t M, N, zcount;
  typedef ZCtx Z;
  DMF_D Z at(int64_t z) const { return Z{(int)z, 0, (int64_t)q.Cg * q.KHW}; }
  DMF_D float a(const Z& c, int64_t m, int64_t k) const {
    return w[((int64_t)c.g * q.Og + m) * ((int64_t)q.Cg * q.KHW) + k];
  }
  DMF_D float b(const Z& c, int64_t k, int64_t col) const {
    int n = (int)(col / q.P), p = (int)(col - (int64_t)n * q.P);
    int oh = p / q.OW, ow = p - oh * q.OW;
    int ci = (int)k / q.KHW, r = (int)k - ci * q.KHW;
    return im2col_at(q, x, c.g, n, ci, r, oh, ow);
  }
  DMF_D void store(const Z& c, int64_t m, int64_t col, float v) const {
    int64_t n = col / q.P, p = col - n * q.P;
    out[(n * q.O + (int64_t)c.g * q.Og + m) * q.P + p] = v;
  }
};

struct ConvInputGrad {
  static constexpr bool A_KFAST = true, B_NFAST = true;
  ConvGeom q;
  const float* gy;
  const float* w;
  float* dx;
  int64_t M, N, zcount;
  typedef ZCtx Z;
  DMF_D Z at(int64_t z) const { return Z{(int)z, 0, (int64_t)q.Og * q.KHW}; }
  // A(c, (o, r)) = w[g*Og + o, c, r]
  DMF_D float a(const Z& c, int64_t m, int64_t k) const {
    int o = (int)k / q.KHW, r = (int)k - o * q.KHW;
    return w[(((int64_t)c.g * q.Og + o) * q.Cg + m) * q.KHW + r];
  }
  // B((o, kh, kw), (n, ih, iw)) = gy[n, g*Og + o, oh, ow] where ih = oh*sh - ph + kh*dh, ...
  DMF_D float b(const Z& c, int64_t k, int64_t col) const {
    int HW = q.H * q.W;
    int n = (int)(col / HW), rem = (int)(col - (int64_t)n * HW);
    int ih = rem / q.W, iw = rem - ih * q.W;
    int o = (int)k / q.KHW, r = (int)k - o * q.KHW;
    int kh = r / q.KW, kw = r - kh * q.KW;
    int th = ih + q.ph - kh * q.dh, tw = iw + q.pw - kw * q.dw;
    if (th < 0 || tw < 0) return 0.0f;
    int oh = th / q.sh, ow = tw / q.sw;
    if (oh * q.sh != th || ow * q.sw != tw || oh >= q.OH || ow >= q.OW) return 0.0f;
    return gy[(((int64_t)n * q.O + (int64_t)c.g * q.Og + o) * q.OH + oh) * q.OW + ow];
  }
  DMF_D void store(const Z& c, int64_t m, int64_t col, float v) const {
    int64_t HW = (int64_t)q.H * q.W;
    int64_t n = col / HW, rem = col - n * HW;
    dx[(n * q.C + (int64_t)c.g * q.Cg + m) * HW + rem] = v;
  }
};

struct ConvWeightGrad {
  static constexpr bool A_KFAST = true, B_NFAST = false;
  ConvGeom q;
  const float* x;
  const float* gy;
  float* dw;
  int64_t M, N, zcount;
  int splits;
  int64_t kchunk;
  typedef ZCtx Z;
  DMF_D Z at(int64_t z) const {
    int g = (int)(z / splits), s = (int)(z - (int64_t)g * splits);
    int64_t K = (int64_t)q.N * q.P;
    int64_t b = (int64_t)s * kchunk;
    int64_t e = b + kchunk < K ? b + kchunk : K;
    return Z{g, b, e};
  }
  // A(o, (n, p)) = gy[n, g*Og + o, p]
  DMF_D float a(const Z& c, int64_t m, int64_t k) const {
    int64_t n = k / q.P, p = k - n * q.P;
    return gy[(n * q.O + (int64_t)c.g * q.Og + m) * q.P + p];
  }
  // B((n, p), (c, r)) = im2col
  DMF_D float b(const Z& c, int64_t k, int64_t col) const {
    int n = (int)(k / q.P), p = (int)(k - (int64_t)n * q.P);
    int oh = p / q.OW, ow = p - oh * q.OW;
    int ci = (int)col / q.KHW, r = (int)col - ci * q.KHW;
    return im2col_at(q, x, c.g, n, ci, r, oh, ow);
  }
  DMF_D void store(const Z& c, int64_t m, int64_t col, float v) const {
    float* d = dw + ((int64_t)c.g * q.Og + m) * ((int64_t)q.Cg * q.KHW) + col;
    if (splits > 1) atomicAdd(d, v);
    else *d = v;
  }
};

bool big_tiles(int64_t M, int64_t N, int64_t z) {
  return M >= 128 && N >= 128 && ((M + 127) / 128) * ((N + 127) / 128) * z >= sm_count();
}

}  // namespace

DMFC_API int dmfc_conv2d(const int64_t* geom, uint64_t x, uint64_t w, uint64_t out) {
  DMF_REQUIRE_INIT("conv2d");
  ConvFwd p;
  if (!read_geom(geom, p.q)) return fail(DMFC_ERR_ARG, "conv2d: bad geometry");
  p.x = ptr<const float>(x);
  p.w = ptr<const float>(w);
  p.out = ptr<float>(out);
  p.M = p.q.Og;
  p.N = (int64_t)p.q.N * p.q.P;
  p.zcount = p.q.G;
  if (p.M <= 0 || p.N <= 0) return DMFC_OK;
  if ((int64_t)p.q.Cg * p.q.KHW == 0) {
    DMF_CHECK("conv2d (empty kernel)",
              cudaMemsetAsync(p.out, 0, (size_t)((int64_t)p.q.N * p.q.O * p.q.P * 4), stream()));
    return DMFC_OK;
  }
  return finish("conv2d", gemm_launch(p, big_tiles(p.M, p.N, p.zcount)));
}

DMFC_API int dmfc_conv2d_input_grad(const int64_t* geom, uint64_t gy, uint64_t w, uint64_t dx) {
  DMF_REQUIRE_INIT("conv2d_input_grad");
  ConvInputGrad p;
  if (!read_geom(geom, p.q)) return fail(DMFC_ERR_ARG, "conv2d_input_grad: bad geometry");
  p.gy = ptr<const float>(gy);
  p.w = ptr<const float>(w);
  p.dx = ptr<float>(dx);
  p.M = p.q.Cg;
  p.N = (int64_t)p.q.N * p.q.H * p.q.W;
  p.zcount = p.q.G;
  if (p.M <= 0 || p.N <= 0) return DMFC_OK;
  if ((int64_t)p.q.Og * p.q.KHW == 0) {
    DMF_CHECK("conv2d_input_grad (empty)",
              cudaMemsetAsync(p.dx, 0, (size_t)((int64_t)p.q.N * p.q.C * p.q.H * p.q.W * 4),
                              stream()));
    return DMFC_OK;
  }
  return finish("conv2d_input_grad", gemm_launch(p, big_tiles(p.M, p.N, p.zcount)));
}

DMFC_API int dmfc_conv2d_weight_grad(const int64_t* geom, uint64_t x, uint64_t gy, uint64_t dw) {
  DMF_REQUIRE_INIT("conv2d_weight_grad");
  ConvWeightGrad p;
  if (!read_geom(geom, p.q)) return fail(DMFC_ERR_ARG, "conv2d_weight_grad: bad geometry");
  p.x = ptr<const float>(x);
  p.gy = ptr<const float>(gy);
  p.dw = ptr<float>(dw);
  p.M = p.q.Og;
  p.N = (int64_t)p.q.Cg * p.q.KHW;
  if (p.M <= 0 || p.N <= 0) return DMFC_OK;
  int64_t K = (int64_t)p.q.N * p.q.P;
  int64_t bytes = (int64_t)p.q.O * p.N * 4;
  // split K when the output tiles cannot fill the device; every slice >= 16 tiles of BK = 16
  int64_t tiles = ((p.M + 63) / 64) * ((p.N + 63) / 64) * p.q.G;
  int64_t want = (2 * (int64_t)sm_count() + tiles - 1) / tiles;
  int64_t most = K / 256;
  int64_t splits = imax(1, imin(want, imin(most, 64)));
  p.splits = (int)splits;
  p.kchunk = ((K + splits - 1) / splits + 15) / 16 * 16;
  p.splits = (int)((K + p.kchunk - 1) / p.kchunk);
  if (p.splits < 1) p.splits = 1;
  p.zcount = (int64_t)p.q.G * p.splits;
  if (p.splits > 1 || K == 0) {
    DMF_CHECK("conv2d_weight_grad (clear)", cudaMemsetAsync(p.dw, 0, (size_t)bytes, stream()));
  }
  if (K == 0) return DMFC_OK;
  return finish("conv2d_weight_grad", gemm_launch(p, false));
}
