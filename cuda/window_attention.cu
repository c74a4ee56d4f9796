/*
 * Swin window attention (op window_attention, src/ops/window_attention.ts) forward and backward
 * (f32): qkv [B, n, 3c] read as [3, heads, hd] (q | k | v, hd = c / heads), bias
 * [heads, n, n], mask [nW, n, n] (window b adds mask[b % nW]; 0: none), out [B, n, c],
 * lse [B, heads, n] (log-sum-exp of each logit row, kept for the backward pass).
 *
 * A block of 4 warps works on one (window, head) at a time, a warp per row: the lanes hold
 * the row's channels lane + 32 k (k < R, R = 1, 2, 4 or 8 by head_dim, so head_dim <= 256) and
 * every dot product is a butterfly sum over the warp. When two n x hd operands fit (4096
 * floats each), they are staged in shared memory; otherwise they are read from global memory.
 *
 * - Forward: block per (window, head), warp per query row i: the row's maximum logit, then
 *   exp(s - max), its sum and the weighted sum of the values (max-shifted softmax in float).
 * - Backward: block per (group of consecutive windows, head), the windows one after another.
 *   Phase A (k, v staged; warp per query row i): D_i = dout_i . out_i (= sum_j p dp),
 *   p = exp(s - lse_i), dp = dout_i . v_j, ds = p (dp - D_i), dq_i = scale sum_j ds k_j, and
 *   ds is added to row i of the block's bias-gradient partial. Phase B (q, dout staged; warp
 *   per key row j): dk_j = scale sum_i ds q_i, dv_j = sum_i p dout_i. Every warp owns its rows
 *   of dqkv and of the partial: no atomics. The partials are summed over the groups in order
 *   (deterministic).
 */
#include "common.cuh"

using namespace dmf;

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
/* floats of one staged operand (n * hd) */
constexpr int kShared = 4096;
/* at most this many window groups in the backward pass (bias-gradient partials) */
constexpr int64_t kMaxGroups = 512;

struct Geom {
  int64_t B, n, c, heads, hd, nw;
  float scale;
};

DMF_D float nan_max(float m, float v) { return (m != m || v != v) ? NAN : fmaxf(m, v); }

DMF_D float bias_mask(const Geom& g, const float* __restrict__ bias,
                      const float* __restrict__ mask, int64_t b, int64_t h, int64_t i,
                      int64_t j) {
  float v = bias[(h * g.n + i) * g.n + j];
  if (mask) v += mask[((b % g.nw) * g.n + i) * g.n + j];
  return v;
}

/** sum over d of x[d] y[d] * sx, where lane l holds x[l + 32 k]; every lane gets the total. */
template <int R>
DMF_D float warp_dot(const float (&x)[R], const float* y, int64_t hd, int lane, float sy = 1.0f) {
  float s = 0.0f;
#pragma unroll
  for (int k = 0; k < R; k++) {
    const int64_t d = lane + 32 * k;
    if (d < hd) s += x[k] * (y[d] * sy);
  }
  return group_sum(s, 32);
}

/** Loads this lane's channels of a row (scaled) into x, zero past hd. */
template <int R>
DMF_D void load_row(float (&x)[R], const float* row, int64_t hd, int lane, float scale) {
#pragma unroll
  for (int k = 0; k < R; k++) {
    const int64_t d = lane + 32 * k;
    x[k] = d < hd ? row[d] * scale : 0.0f;
  }
}

/** Stages the n rows (stride lda / ldb) of two operands into sa and sb. */
DMF_D void stage(const Geom& g, const float* a, int64_t lda, const float* b, int64_t ldb,
                 float* sa, float* sb) {
  for (int64_t e = threadIdx.x; e < g.n * g.hd; e += kThreads) {
    const int64_t r = e / g.hd, d = e - r * g.hd;
    sa[e] = a[r * lda + d];
    sb[e] = b[r * ldb + d];
  }
}

template <int R, bool SH>
__global__ void __launch_bounds__(kThreads)
    k_window_attention(Geom g, const float* __restrict__ qkv, const float* __restrict__ bias,
                       const float* __restrict__ mask, float* __restrict__ out,
                       float* __restrict__ lse) {
  __shared__ float sk[SH ? kShared : 1];
  __shared__ float sv[SH ? kShared : 1];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t ld = 3 * g.c;
  for (int64_t t = blockIdx.x; t < g.B * g.heads; t += gridDim.x) {
    const int64_t b = t / g.heads, h = t - b * g.heads;
    const float* q0 = qkv + b * g.n * ld + h * g.hd;
    const float *k0 = q0 + g.c, *v0 = q0 + 2 * g.c;
    if (SH) {
      stage(g, k0, ld, v0, ld, sk, sv);
      __syncthreads();
    }
    const int64_t kld = SH ? g.hd : ld;
    const float *kb = SH ? sk : k0, *vb = SH ? sv : v0;
    for (int64_t i = warp; i < g.n; i += kWarps) {
      float q[R], acc[R];
      load_row(q, q0 + i * ld, g.hd, lane, g.scale);
#pragma unroll
      for (int k = 0; k < R; k++) acc[k] = 0.0f;
      float m = -INFINITY;
      for (int64_t j = 0; j < g.n; j++) {
        m = nan_max(m, warp_dot(q, kb + j * kld, g.hd, lane) + bias_mask(g, bias, mask, b, h, i, j));
      }
      if (m == -INFINITY) m = 0.0f;  // an all -inf row: the reference softmax's shift
      float l = 0.0f;
      for (int64_t j = 0; j < g.n; j++) {
        const float s = warp_dot(q, kb + j * kld, g.hd, lane) + bias_mask(g, bias, mask, b, h, i, j);
        const float e = expf(s - m);
        l += e;
        const float* vr = vb + j * kld;
#pragma unroll
        for (int k = 0; k < R; k++) {
          const int64_t d = lane + 32 * k;
          if (d < g.hd) acc[k] += e * vr[d];
        }
      }
      float* o = out + (b * g.n + i) * g.c + h * g.hd;
#pragma unroll
      for (int k = 0; k < R; k++) {
        const int64_t d = lane + 32 * k;
        if (d < g.hd) o[d] = acc[k] / l;
      }
      if (lane == 0) lse[(b * g.heads + h) * g.n + i] = m + logf(l);
    }
    if (SH) __syncthreads();  // sk / sv are restaged for the next (window, head)
  }
}

template <int R, bool SH>
__global__ void __launch_bounds__(kThreads)
    k_window_attention_backward(Geom g, int64_t per, int64_t groups,
                                const float* __restrict__ gout, const float* __restrict__ qkv,
                                const float* __restrict__ bias, const float* __restrict__ mask,
                                const float* __restrict__ fout, const float* __restrict__ lse,
                                float* __restrict__ dqkv, float* __restrict__ part,
                                float* __restrict__ dsum) {
  __shared__ float sa[SH ? kShared : 1];
  __shared__ float sb[SH ? kShared : 1];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int64_t ld = 3 * g.c, n = g.n;
  for (int64_t t = blockIdx.x; t < groups * g.heads; t += gridDim.x) {
    const int64_t grp = t / g.heads, h = t - grp * g.heads;
    const int64_t b0 = grp * per, b1 = imin(b0 + per, g.B);
    float* pp = part + t * n * n;
    for (int64_t b = b0; b < b1; b++) {
      const float* q0 = qkv + b * n * ld + h * g.hd;
      const float *k0 = q0 + g.c, *v0 = q0 + 2 * g.c;
      const float* g0 = gout + b * n * g.c + h * g.hd;
      const float* o0 = fout + b * n * g.c + h * g.hd;
      float* dq0 = dqkv + b * n * ld + h * g.hd;
      const float* lrow = lse + (b * g.heads + h) * n;
      float* drow = dsum + (b * g.heads + h) * n;
      const int64_t sld = SH ? g.hd : ld, gld = SH ? g.hd : g.c;
      // phase A: a warp per query row
      if (SH) {
        stage(g, k0, ld, v0, ld, sa, sb);
        __syncthreads();
      }
      const float *kb = SH ? sa : k0, *vb = SH ? sb : v0;
      for (int64_t i = warp; i < n; i += kWarps) {
        float q[R], go[R], dq[R];
        load_row(q, q0 + i * ld, g.hd, lane, g.scale);
        load_row(go, g0 + i * g.c, g.hd, lane, 1.0f);
#pragma unroll
        for (int k = 0; k < R; k++) dq[k] = 0.0f;
        const float D = warp_dot(go, o0 + i * g.c, g.hd, lane);
        if (lane == 0) drow[i] = D;
        for (int64_t j = 0; j < n; j++) {
          const float s = warp_dot(q, kb + j * sld, g.hd, lane) + bias_mask(g, bias, mask, b, h, i, j);
          const float p = expf(s - lrow[i]);
          const float ds = p * (warp_dot(go, vb + j * sld, g.hd, lane) - D);
          const float* kr = kb + j * sld;
#pragma unroll
          for (int k = 0; k < R; k++) {
            const int64_t d = lane + 32 * k;
            if (d < g.hd) dq[k] += ds * kr[d];
          }
          if (lane == 0) pp[i * n + j] = (b == b0 ? 0.0f : pp[i * n + j]) + ds;
        }
#pragma unroll
        for (int k = 0; k < R; k++) {
          const int64_t d = lane + 32 * k;
          if (d < g.hd) dq0[i * ld + d] = g.scale * dq[k];
        }
      }
      __syncthreads();  // drow written; sa / sb free
      // phase B: a warp per key row
      if (SH) {
        stage(g, q0, ld, g0, g.c, sa, sb);
        __syncthreads();
      }
      const float *qb = SH ? sa : q0, *gb = SH ? sb : g0;
      for (int64_t j = warp; j < n; j += kWarps) {
        float kk[R], vv[R], dk[R], dv[R];
        load_row(kk, k0 + j * ld, g.hd, lane, 1.0f);
        load_row(vv, v0 + j * ld, g.hd, lane, 1.0f);
#pragma unroll
        for (int k = 0; k < R; k++) dk[k] = dv[k] = 0.0f;
        for (int64_t i = 0; i < n; i++) {
          const float* qr = qb + i * sld;
          const float* gr = gb + i * gld;
          // (q * scale) . k, the product phase A and the forward pass form
          const float s = warp_dot(kk, qr, g.hd, lane, g.scale) + bias_mask(g, bias, mask, b, h, i, j);
          const float p = expf(s - lrow[i]);
          const float ds = p * (warp_dot(vv, gr, g.hd, lane) - drow[i]);
#pragma unroll
          for (int k = 0; k < R; k++) {
            const int64_t d = lane + 32 * k;
            if (d < g.hd) {
              dv[k] += p * gr[d];
              dk[k] += ds * qr[d];
            }
          }
        }
#pragma unroll
        for (int k = 0; k < R; k++) {
          const int64_t d = lane + 32 * k;
          if (d < g.hd) {
            dq0[g.c + j * ld + d] = g.scale * dk[k];
            dq0[2 * g.c + j * ld + d] = dv[k];
          }
        }
      }
      __syncthreads();  // before the next window restages sa / sb
    }
  }
}

/** dbias[e] = sum over groups (in order) of part[group][e]. */
__global__ void k_window_attention_sum(int64_t groups, int64_t len, const float* __restrict__ part,
                                       float* __restrict__ dbias) {
  GRID_STRIDE(e, len) {
    float s = 0.0f;
    for (int64_t q = 0; q < groups; q++) s += part[q * len + e];
    dbias[e] = s;
  }
}

Geom read_geom(const int64_t* dims, double scale) {
  Geom g;
  g.B = dims[0];
  g.n = dims[1];
  g.c = dims[2];
  g.heads = dims[3];
  g.nw = dims[4] > 0 ? dims[4] : 1;
  g.hd = g.heads > 0 ? g.c / g.heads : 0;
  g.scale = (float)scale;
  return g;
}

/** Lanes' registers per row (R) for head_dim hd; 0 when hd > 256. */
int regs_for(int64_t hd) {
  for (int r = 1; r <= 8; r *= 2) {
    if (hd <= 32 * r) return r;
  }
  return 0;
}

bool staged(const Geom& g) { return g.n * g.hd <= kShared; }

unsigned blocks_for(int64_t tasks) {
  return (unsigned)imax(1, imin(tasks, (int64_t)sm_count() * 16));
}

template <int R, bool SH>
cudaError_t forward_r(const Geom& g, const float* qkv, const float* bias, const float* mask,
                      float* out, float* lse) {
  return launch(k_window_attention<R, SH>, dim3(blocks_for(g.B * g.heads)), dim3(kThreads), g,
                qkv, bias, mask, out, lse);
}

template <int R, bool SH>
cudaError_t backward_r(const Geom& g, int64_t per, int64_t groups, const float* gout,
                       const float* qkv, const float* bias, const float* mask, const float* fout,
                       const float* lse, float* dqkv, float* part, float* dsum) {
  return launch(k_window_attention_backward<R, SH>, dim3(blocks_for(groups * g.heads)),
                dim3(kThreads), g, per, groups, gout, qkv, bias, mask, fout, lse, dqkv, part,
                dsum);
}

/** Calls F<R, SH>(args...) for the register count and staging of g. */
#define WA_DISPATCH(F, g, ...)                                                 \
  ([&]() -> cudaError_t {                                                       \
    const bool sh = staged(g);                                                  \
    switch (regs_for((g).hd)) {                                                 \
      case 1: return sh ? F<1, true>(g, __VA_ARGS__) : F<1, false>(g, __VA_ARGS__); \
      case 2: return sh ? F<2, true>(g, __VA_ARGS__) : F<2, false>(g, __VA_ARGS__); \
      case 4: return sh ? F<4, true>(g, __VA_ARGS__) : F<4, false>(g, __VA_ARGS__); \
      default: return sh ? F<8, true>(g, __VA_ARGS__) : F<8, false>(g, __VA_ARGS__); \
    }                                                                           \
  }())

}  // namespace

DMFC_API int dmfc_window_attention(const int64_t* dims, double scale, uint64_t qkv, uint64_t bias,
                                   uint64_t mask, uint64_t out, uint64_t lse) {
  DMF_REQUIRE_INIT("window_attention");
  const Geom g = read_geom(dims, scale);
  if (regs_for(g.hd) == 0) {
    return fail(DMFC_ERR_ARG, "window_attention: head_dim %lld > 256 is not supported",
                (long long)g.hd);
  }
  if (g.B * g.heads * g.n <= 0) return DMFC_OK;
  cudaError_t e = WA_DISPATCH(forward_r, g, ptr<const float>(qkv), ptr<const float>(bias),
                              ptr<const float>(mask), ptr<float>(out), ptr<float>(lse));
  return finish("window_attention", e);
}

DMFC_API int dmfc_window_attention_backward(const int64_t* dims, double scale, uint64_t gout,
                                            uint64_t qkv, uint64_t bias, uint64_t mask,
                                            uint64_t out, uint64_t lse, uint64_t dqkv,
                                            uint64_t dbias) {
  DMF_REQUIRE_INIT("window_attention_backward");
  const Geom g = read_geom(dims, scale);
  if (regs_for(g.hd) == 0) {
    return fail(DMFC_ERR_ARG, "window_attention_backward: head_dim %lld > 256 is not supported",
                (long long)g.hd);
  }
  const int64_t len = g.heads * g.n * g.n;
  if (len <= 0) return DMFC_OK;
  float* db = ptr<float>(dbias);
  if (g.B <= 0) {
    DMF_CHECK("window_attention_backward (clear)",
              cudaMemsetAsync(db, 0, (size_t)(len * 4), stream()));
    return DMFC_OK;
  }
  const int64_t per = (g.B + kMaxGroups - 1) / kMaxGroups;
  const int64_t groups = (g.B + per - 1) / per;
  int rc;
  const int64_t rows = g.B * g.heads * g.n;
  float* scratch = static_cast<float*>(scratch_alloc(
      (rows + (groups > 1 ? groups * len : 0)) * 4, "window_attention_backward", &rc));
  if (!scratch) return rc;
  float* part = groups > 1 ? scratch + rows : db;
  cudaError_t e = WA_DISPATCH(backward_r, g, per, groups, ptr<const float>(gout),
                              ptr<const float>(qkv), ptr<const float>(bias),
                              ptr<const float>(mask), ptr<const float>(out),
                              ptr<const float>(lse), ptr<float>(dqkv), part, scratch);
  if (e == cudaSuccess && groups > 1) {
    e = launch(k_window_attention_sum, dim3(grid_stride_blocks(len, 256)), dim3(256), groups, len,
               (const float*)part, db);
  }
  scratch_free(scratch);
  return finish("window_attention_backward", e);
}
