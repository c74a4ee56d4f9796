/*
 * Per-ISA kernels: sgemm (packing + register-blocked micro-kernel), elementwise loops,
 * reductions and softmax. This file is compiled once per instruction set:
 *   -DDMF_ISA=avx512 with AVX-512 flags, -DDMF_ISA=avx2 with AVX2/FMA flags,
 *   -DDMF_ISA=generic with the compiler's baseline flags (any architecture),
 * and each object exports one table, dmf_kernels_<isa>. dispatch.c picks a table at load time.
 *
 * Numerics follow the TypeScript reference (src/backend/cpu): +,-,*,/ and sqrt give identical
 * f32 results; log/sin/cos use libm's f32 versions (< 1 ulp); exp, sigmoid, tanh and the
 * GELUs compute in f64 with a vectorised exp and round once (GELU's erfc is a 1.2e-7 fit); the
 * other functions call libm in f64; softmax uses a vectorised f32 exp (~1 ulp); sums
 * accumulate in f64 like the reference; matmul accumulates in f32 (fma).
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dmf.h"

#ifndef DMF_ISA
#define DMF_ISA generic
#endif
#define DMF_CAT2(a, b) a##b
#define DMF_CAT(a, b) DMF_CAT2(a, b)
#define TABLE DMF_CAT(dmf_kernels_, DMF_ISA)

#if defined(__AVX512F__)
#include <immintrin.h>
#ifdef DMF_MR
#define MR DMF_MR
#define NR DMF_NR
#else
/* 6 x 64: 24 accumulators, 4 B loads and 6 broadcasts per step (measured faster than
 * 14 x 32, 12 x 32 and 8 x 48 on Zen 4) */
#define MR 6
#define NR 64
#endif
#define KC 256
#define MC 336
#define NC 2048
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define MR 6
#define NR 16
#define KC 256
#define MC 144
#define NC 2048
#else
#ifdef DMF_MR
#define MR DMF_MR
#define NR DMF_NR
#else
#define MR 4
#define NR 8
#endif
#define KC 256
#define MC 128
#define NC 2048
#endif

#ifdef DMF_KC
#undef KC
#define KC DMF_KC
#endif
#ifdef DMF_MC
#undef MC
#define MC DMF_MC
#endif
#ifdef DMF_NC
#undef NC
#define NC DMF_NC
#endif

#if KC *MC > DMF_WS_A || KC *NC > DMF_WS_B
#error "packing workspace too small"
#endif

/* ---- sgemm ------------------------------------------------------------------------------ */

/* Micro-kernel: the MR x NR tile c (row stride ldc) = (acc ? c : 0) + pa^T pb over kc steps,
 * pa holding MR values per step and pb NR values per step. */
#if defined(__AVX512F__)

#define NV (NR / 16)

static void micro(int64_t kc, const float *restrict pa, const float *restrict pb,
                  float *restrict c, int64_t ldc, int acc) {
  __m512 t[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) t[r][v] = _mm512_setzero_ps();
  }
  for (int64_t k = 0; k < kc; k++) {
    __m512 b[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) b[v] = _mm512_load_ps(pb + 16 * v);
#pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
      const __m512 a = _mm512_set1_ps(pa[r]);
#pragma GCC unroll 4
      for (int v = 0; v < NV; v++) t[r][v] = _mm512_fmadd_ps(a, b[v], t[r][v]);
    }
    pa += MR;
    pb += NR;
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < NV; v++) {
      float *p = c + r * ldc + 16 * v;
      _mm512_storeu_ps(p, acc ? _mm512_add_ps(_mm512_loadu_ps(p), t[r][v]) : t[r][v]);
    }
  }
}

#elif defined(__AVX2__) && defined(__FMA__)

#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5)

static void micro(int64_t kc, const float *restrict pa, const float *restrict pb,
                  float *restrict c, int64_t ldc, int acc) {
#define DECL(r) __m256 c##r##0 = _mm256_setzero_ps(), c##r##1 = _mm256_setzero_ps();
  ROWS(DECL)
#undef DECL
  for (int64_t k = 0; k < kc; k++) {
    const __m256 b0 = _mm256_load_ps(pb);
    const __m256 b1 = _mm256_load_ps(pb + 8);
#define STEP(r)                                 \
  {                                             \
    const __m256 a = _mm256_broadcast_ss(pa + r); \
    c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0);  \
    c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);  \
  }
    ROWS(STEP)
#undef STEP
    pa += MR;
    pb += NR;
  }
  if (acc) {
#define STORE(r)                                                                     \
  _mm256_storeu_ps(c + r * ldc, _mm256_add_ps(_mm256_loadu_ps(c + r * ldc), c##r##0)); \
  _mm256_storeu_ps(c + r * ldc + 8, _mm256_add_ps(_mm256_loadu_ps(c + r * ldc + 8), c##r##1));
    ROWS(STORE)
#undef STORE
  } else {
#define STORE(r)                           \
  _mm256_storeu_ps(c + r * ldc, c##r##0); \
  _mm256_storeu_ps(c + r * ldc + 8, c##r##1);
    ROWS(STORE)
#undef STORE
  }
}
#undef ROWS

#else

static void micro(int64_t kc, const float *restrict pa, const float *restrict pb,
                  float *restrict c, int64_t ldc, int acc) {
  float t[MR][NR];
  memset(t, 0, sizeof t);
  for (int64_t k = 0; k < kc; k++) {
    for (int r = 0; r < MR; r++) {
      const float a = pa[r];
      for (int j = 0; j < NR; j++) t[r][j] += a * pb[j];
    }
    pa += MR;
    pb += NR;
  }
  for (int r = 0; r < MR; r++) {
    float *cr = c + r * ldc;
    if (acc) {
      for (int j = 0; j < NR; j++) cr[j] += t[r][j];
    } else {
      for (int j = 0; j < NR; j++) cr[j] = t[r][j];
    }
  }
}

#endif

/* Packs rows [i0, i0+mc) and steps [k0, k0+kc) of op(A) into MR-row micro-panels, each
 * kc * MR floats (step-major); missing rows of the last panel are zero. */
__attribute__((noinline)) static void pack_a(const dmf_gemm_t *g, int64_t i0, int64_t mc,
                                             int64_t k0, int64_t kc, float *restrict dst) {
  for (int64_t p = 0; p < mc; p += MR) {
    const int64_t rows = mc - p < MR ? mc - p : MR;
    if (g->transA) {
      /* A(i, k) = A[k * lda + i]: MR contiguous values per step. */
      const float *src = g->A + k0 * g->lda + i0 + p;
      for (int64_t k = 0; k < kc; k++) {
        const float *s = src + k * g->lda;
        float *d = dst + k * MR;
        int r = 0;
        for (; r < rows; r++) d[r] = s[r];
        for (; r < MR; r++) d[r] = 0.0f;
      }
    } else {
      /* A(i, k) = A[i * lda + k]: MR row streams, contiguous writes. */
      const float *src[MR];
      for (int r = 0; r < MR; r++) src[r] = g->A + (i0 + p + (r < rows ? r : 0)) * g->lda + k0;
      if (rows == MR) {
        for (int64_t k = 0; k < kc; k++) {
          float *d = dst + k * MR;
          for (int r = 0; r < MR; r++) d[r] = src[r][k];
        }
      } else {
        for (int64_t k = 0; k < kc; k++) {
          float *d = dst + k * MR;
          for (int r = 0; r < MR; r++) d[r] = r < rows ? src[r][k] : 0.0f;
        }
      }
    }
    dst += kc * MR;
  }
}

/* Writes row r, columns [p0, p0 + len) of the implicit im2col matrix to dst (contiguous). */
static void col_segment(const dmf_im2col_t *g, int64_t r, int64_t p0, int64_t len,
                        float *restrict dst) {
  const int64_t kw = r % g->KW, kh = (r / g->KW) % g->KH, c = r / (g->KW * g->KH);
  const float *plane = g->x + c * g->H * g->W;
  /* output columns ow whose input column iw = ow * sw + start lies in [0, W) */
  const int64_t start = kw * g->dw - g->pw;
  int64_t lo = start >= 0 ? 0 : (-start + g->sw - 1) / g->sw;
  int64_t hi = g->W - start <= 0 ? 0 : (g->W - start + g->sw - 1) / g->sw;
  if (hi > g->OW) hi = g->OW;
  if (lo > hi) lo = hi;
  int64_t oh = p0 / g->OW, ow = p0 % g->OW;
  int64_t done = 0;
  while (done < len) {
    const int64_t run = g->OW - ow < len - done ? g->OW - ow : len - done;
    const int64_t ih = oh * g->sh - g->ph + kh * g->dh;
    float *d = dst + done;
    if (ih < 0 || ih >= g->H) {
      for (int64_t i = 0; i < run; i++) d[i] = 0.0f;
    } else {
      const float *src = plane + ih * g->W + start;
      const int64_t a = lo > ow ? lo : ow, e = hi < ow + run ? hi : ow + run;
      int64_t i = ow;
      for (; i < a && i < ow + run; i++) d[i - ow] = 0.0f;
      if (g->sw == 1) {
        for (; i < e; i++) d[i - ow] = src[i];
      } else {
        for (; i < e; i++) d[i - ow] = src[i * g->sw];
      }
      for (; i < ow + run; i++) d[i - ow] = 0.0f;
    }
    done += run;
    ow = 0;
    oh++;
  }
}

/* pack_b for an implicit im2col B. */
static void pack_b_col(const dmf_gemm_t *g, int64_t k0, int64_t kc, int64_t j0, int64_t nc,
                       float *restrict dst) {
  float row[NC > KC ? NC : KC];
  if (!g->transB) {
    /* B(k, j) = col[k][j]: one im2col row segment per step, cut into NR-wide panels */
    for (int64_t k = 0; k < kc; k++) {
      col_segment(g->colB, k0 + k, j0, nc, row);
      for (int64_t q = 0; q < nc; q += NR) {
        const int64_t cols = nc - q < NR ? nc - q : NR;
        float *d = dst + (q / NR) * kc * NR + k * NR;
        int64_t j = 0;
        for (; j < cols; j++) d[j] = row[q + j];
        for (; j < NR; j++) d[j] = 0.0f;
      }
    }
  } else {
    /* B(k, j) = col[j][k]: one im2col row segment per column */
    for (int64_t q = 0; q < nc; q += NR) {
      const int64_t cols = nc - q < NR ? nc - q : NR;
      float *p = dst + (q / NR) * kc * NR;
      int64_t j = 0;
      for (; j < cols; j++) {
        col_segment(g->colB, j0 + q + j, k0, kc, row);
        for (int64_t k = 0; k < kc; k++) p[k * NR + j] = row[k];
      }
      for (; j < NR; j++) {
        for (int64_t k = 0; k < kc; k++) p[k * NR + j] = 0.0f;
      }
    }
  }
}

/* Packs steps [k0, k0+kc) and columns [j0, j0+nc) of op(B) into NR-column micro-panels. */
__attribute__((noinline)) static void pack_b(const dmf_gemm_t *g, int64_t k0, int64_t kc,
                                             int64_t j0, int64_t nc, float *restrict dst) {
  if (g->colB) {
    pack_b_col(g, k0, kc, j0, nc, dst);
    return;
  }
  for (int64_t q = 0; q < nc; q += NR) {
    const int64_t cols = nc - q < NR ? nc - q : NR;
    if (!g->transB) {
      const float *src = g->B + k0 * g->ldb + j0 + q;
      if (cols == NR) {
        for (int64_t k = 0; k < kc; k++) memcpy(dst + k * NR, src + k * g->ldb, NR * sizeof(float));
      } else {
        for (int64_t k = 0; k < kc; k++) {
          const float *s = src + k * g->ldb;
          float *d = dst + k * NR;
          int64_t j = 0;
          for (; j < cols; j++) d[j] = s[j];
          for (; j < NR; j++) d[j] = 0.0f;
        }
      }
    } else {
      /* B(k, j) = B[j * ldb + k]: each column is contiguous in k. */
      int64_t j = 0;
      for (; j < cols; j++) {
        const float *s = g->B + (j0 + q + j) * g->ldb + k0;
        float *d = dst + j;
        for (int64_t k = 0; k < kc; k++) d[k * NR] = s[k];
      }
      for (; j < NR; j++) {
        float *d = dst + j;
        for (int64_t k = 0; k < kc; k++) d[k * NR] = 0.0f;
      }
    }
    dst += kc * NR;
  }
}

/* Dot product of contiguous vectors with 16 partial sums (vectorises without reassociation
 * flags). */
static float dot(const float *restrict a, const float *restrict b, int64_t K) {
  float acc[16] = {0};
  int64_t k = 0;
  for (; k + 16 <= K; k += 16) {
    for (int l = 0; l < 16; l++) acc[l] += a[k + l] * b[k + l];
  }
  for (int l = 0; k < K; k++, l++) acc[l] += a[k] * b[k];
  for (int w = 8; w > 0; w /= 2) {
    for (int l = 0; l < w; l++) acc[l] += acc[l + w];
  }
  return acc[0];
}

/* Small or skinny products: no packing. */
static void gemm_small(const dmf_gemm_t *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t K = g->K;
  /* column j of op(B) as a contiguous vector (transB, or a single column of a [K, 1] B) */
  const int contiguous_b = g->transB || (n1 - n0 == 1 && g->ldb == 1);
  for (int64_t i = m0; i < m1; i++) {
    float *c = g->C + i * g->ldc;
    if (!g->transA && contiguous_b) {
      const float *a = g->A + i * g->lda;
      for (int64_t j = n0; j < n1; j++) {
        const float s = dot(a, g->B + j * (g->transB ? g->ldb : 1), K);
        c[j] = g->accumulate ? c[j] + s : s;
      }
    } else if (!g->transB) {
      float row[256];
      for (int64_t jb = n0; jb < n1; jb += 256) {
        const int64_t je = jb + 256 < n1 ? jb + 256 : n1;
        for (int64_t j = jb; j < je; j++) row[j - jb] = 0.0f;
        for (int64_t k = 0; k < K; k++) {
          const float a = g->transA ? g->A[k * g->lda + i] : g->A[i * g->lda + k];
          const float *b = g->B + k * g->ldb;
          for (int64_t j = jb; j < je; j++) row[j - jb] += a * b[j];
        }
        for (int64_t j = jb; j < je; j++) c[j] = g->accumulate ? c[j] + row[j - jb] : row[j - jb];
      }
    } else {
      for (int64_t j = n0; j < n1; j++) {
        const float *b = g->B + j * g->ldb;
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += g->A[k * g->lda + i] * b[k];
        c[j] = g->accumulate ? c[j] + s : s;
      }
    }
  }
}

/* ---- small products (N, K <= 64, e.g. window attention): no packing ------------------- */

/* op(B) is copied once into a zero-padded K x NP buffer (NP = N rounded up to a vector),
 * then each TR x (up to TNV vectors) tile of C sums over k with op(A) broadcast straight
 * from memory. One product per call; dispatch.c hands each thread a range of a batch. */
#define TINY_DIM 64
#if defined(__AVX512F__)
typedef __m512 tv_t;
#define TV 16
#define TNV 4
#define TR 5
#define TV_ZERO() _mm512_setzero_ps()
#define TV_SET1(x) _mm512_set1_ps(x)
#define TV_LOAD(p) _mm512_load_ps(p)
#define TV_LOADU(p) _mm512_loadu_ps(p)
#define TV_STOREU(p, x) _mm512_storeu_ps(p, x)
#define TV_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 tv_t;
#define TV 8
#define TNV 2
#define TR 5
#define TV_ZERO() _mm256_setzero_ps()
#define TV_SET1(x) _mm256_set1_ps(x)
#define TV_LOAD(p) _mm256_load_ps(p)
#define TV_LOADU(p) _mm256_loadu_ps(p)
#define TV_STOREU(p, x) _mm256_storeu_ps(p, x)
#define TV_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#else
typedef float tv_t __attribute__((vector_size(16)));
#define TV 4
#define TNV 2
#define TR 4
#define TV_ZERO() ((tv_t){0.0f, 0.0f, 0.0f, 0.0f})
#define TV_SET1(x) ((tv_t){(x), (x), (x), (x)})
#define TV_LOAD(p) (*(const tv_t *)(p))
#define TV_LOADU(p) tv_loadu(p)
#define TV_STOREU(p, x) tv_storeu(p, x)
#define TV_FMA(a, b, c) ((a) * (b) + (c))
static inline tv_t tv_loadu(const float *p) {
  tv_t x;
  memcpy(&x, p, sizeof x);
  return x;
}
static inline void tv_storeu(float *p, tv_t x) { memcpy(p, &x, sizeof x); }
#endif

/* Rows [i, i + rows) (rows <= TR), columns [jb, jb + nv * TV) of bt, written to C up to
 * column n (relative to bt). nv is a constant after inlining. */
static inline __attribute__((always_inline)) void tiny_tile(const dmf_gemm_t *g, int64_t i,
                                                            int rows, const float *bt,
                                                            int64_t np, int64_t jb, int64_t n,
                                                            float *c0, const int nv) {
  const int64_t K = g->K;
  const int64_t ks = g->transA ? g->lda : 1, is = g->transA ? 1 : g->lda;
  const float *ar[TR];
#pragma GCC unroll 8
  for (int r = 0; r < TR; r++) ar[r] = g->A + (i + (r < rows ? r : rows - 1)) * is;
  tv_t acc[TR][TNV];
#pragma GCC unroll 8
  for (int r = 0; r < TR; r++) {
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) acc[r][v] = TV_ZERO();
  }
  const float *bp = bt + jb;
  for (int64_t k = 0; k < K; k++, bp += np) {
    tv_t b[TNV];
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) b[v] = TV_LOAD(bp + v * TV);
#pragma GCC unroll 8
    for (int r = 0; r < TR; r++) {
      const tv_t a = TV_SET1(ar[r][k * ks]);
#pragma GCC unroll 4
      for (int v = 0; v < nv; v++) acc[r][v] = TV_FMA(a, b[v], acc[r][v]);
    }
  }
  /* whole vectors inside [jb, n) are stored directly, the last partial one lane by lane */
  const int64_t cols = n - jb;
  const int full = cols >= nv * TV ? nv : (int)(cols / TV);
  const int tail = cols >= nv * TV ? 0 : (int)(cols % TV);
  for (int r = 0; r < rows; r++) {
    float *c = c0 + (i + r) * g->ldc + jb;
#pragma GCC unroll 4
    for (int v = 0; v < nv; v++) {
      if (v < full) {
        tv_t x = acc[r][v];
        if (g->accumulate) x += TV_LOADU(c + v * TV);
        TV_STOREU(c + v * TV, x);
      }
    }
    if (tail) {
      float t[TV];
      memcpy(t, &acc[r][full], sizeof t);
      float *ct = c + full * TV;
      for (int j = 0; j < tail; j++) ct[j] = g->accumulate ? ct[j] + t[j] : t[j];
    }
  }
}

#if defined(__AVX2__)
/* d[c * ld + r] = s[r * ls + c] for an 8 x 8 block. */
static inline void tr8x8(const float *s, int64_t ls, float *d, int64_t ld) {
  __m256 r[8], t[8], u[8];
  for (int i = 0; i < 8; i++) r[i] = _mm256_loadu_ps(s + i * ls);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int i = 0; i < 4; i++) {
    _mm256_storeu_ps(d + i * ld, _mm256_permute2f128_ps(u[i], u[i + 4], 0x20));
    _mm256_storeu_ps(d + (i + 4) * ld, _mm256_permute2f128_ps(u[i], u[i + 4], 0x31));
  }
}
#endif

static void gemm_tiny(const dmf_gemm_t *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t K = g->K, n = n1 - n0;
  const int64_t np = (n + TV - 1) / TV * TV;
  float bt[TINY_DIM * (TINY_DIM + TV)] __attribute__((aligned(64)));
  if (!g->transB) {
    for (int64_t k = 0; k < K; k++) {
      float *d = bt + k * np;
      memcpy(d, g->B + k * g->ldb + n0, n * sizeof(float));
      for (int64_t j = n; j < np; j++) d[j] = 0.0f;
    }
  } else {
    const float *s = g->B + n0 * g->ldb;
    const int64_t ldb = g->ldb;
    int64_t j = 0;
#if defined(__AVX2__)
    for (; j + 8 <= n; j += 8) {
      int64_t k = 0;
      for (; k + 8 <= K; k += 8) tr8x8(s + j * ldb + k, ldb, bt + k * np + j, np);
      for (; k < K; k++) {
        for (int64_t q = j; q < j + 8; q++) bt[k * np + q] = s[q * ldb + k];
      }
    }
#endif
    for (; j < n; j++) {
      for (int64_t k = 0; k < K; k++) bt[k * np + j] = s[j * ldb + k];
    }
    for (int64_t k = 0; k < K; k++) {
      for (int64_t q = n; q < np; q++) bt[k * np + q] = 0.0f;
    }
  }
  float *c0 = g->C + n0;
  for (int64_t jb = 0; jb < np; jb += TNV * TV) {
    const int64_t left = (np - jb) / TV;
    const int nv = left < TNV ? (int)left : TNV;
    for (int64_t i = m0; i < m1; i += TR) {
      const int rows = m1 - i < TR ? (int)(m1 - i) : TR;
      switch (nv) {
        case 1:
          tiny_tile(g, i, rows, bt, np, jb, n, c0, 1);
          break;
#if TNV >= 2
        case 2:
          tiny_tile(g, i, rows, bt, np, jb, n, c0, 2);
          break;
#endif
#if TNV >= 3
        case 3:
          tiny_tile(g, i, rows, bt, np, jb, n, c0, 3);
          break;
#endif
#if TNV >= 4
        default:
          tiny_tile(g, i, rows, bt, np, jb, n, c0, TNV);
          break;
#endif
      }
    }
  }
}

static void gemm_block(const dmf_gemm_t *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                       float *wsA, float *wsB) {
  const int64_t K = g->K;
  if (m1 <= m0 || n1 <= n0) return;
  if (K == 0) {
    if (!g->accumulate) {
      for (int64_t i = m0; i < m1; i++) {
        memset(g->C + i * g->ldc + n0, 0, (n1 - n0) * sizeof(float));
      }
    }
    return;
  }
  if (!g->colB && m1 - m0 <= TINY_DIM && n1 - n0 <= TINY_DIM && K <= TINY_DIM) {
    gemm_tiny(g, m0, m1, n0, n1);
    return;
  }
  if (!g->colB && ((m1 - m0) * (n1 - n0) * K <= 16 * 16 * 16 || (m1 - m0) < 2 || (n1 - n0) < 4)) {
    gemm_small(g, m0, m1, n0, n1);
    return;
  }
  float tile[MR * NR] __attribute__((aligned(64)));
  for (int64_t jc = n0; jc < n1; jc += NC) {
    const int64_t nc = n1 - jc < NC ? n1 - jc : NC;
    for (int64_t pc = 0; pc < K; pc += KC) {
      const int64_t kc = K - pc < KC ? K - pc : KC;
      const int acc = g->accumulate || pc > 0;
      pack_b(g, pc, kc, jc, nc, wsB);
      for (int64_t ic = m0; ic < m1; ic += MC) {
        const int64_t mc = m1 - ic < MC ? m1 - ic : MC;
        pack_a(g, ic, mc, pc, kc, wsA);
        /* The A micro-panel (MR x kc) stays in L1 while B micro-panels stream from L2. */
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const int64_t mr = mc - ir < MR ? mc - ir : MR;
          const float *pa = wsA + (ir / MR) * kc * MR;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const int64_t nr = nc - jr < NR ? nc - jr : NR;
            const float *pb = wsB + (jr / NR) * kc * NR;
            float *c = g->C + (ic + ir) * g->ldc + jc + jr;
            if (mr == MR && nr == NR) {
              micro(kc, pa, pb, c, g->ldc, acc);
            } else {
              micro(kc, pa, pb, tile, NR, 0);
              for (int64_t r = 0; r < mr; r++) {
                float *cr = c + r * g->ldc;
                const float *t = tile + r * NR;
                if (acc) {
                  for (int64_t j = 0; j < nr; j++) cr[j] += t[j];
                } else {
                  for (int64_t j = 0; j < nr; j++) cr[j] = t[j];
                }
              }
            }
          }
        }
      }
    }
  }
}

/* ---- elementwise ------------------------------------------------------------------------ */

/* Math.min / Math.max: NaN wins, and -0 < +0. */
static inline float nan_min(float x, float y) {
  if (x != x || y != y) return NAN;
  return x < y ? x : y < x ? y : (signbit(x) ? x : y);
}
static inline float nan_max(float x, float y) {
  if (x != x || y != y) return NAN;
  return x > y ? x : y > x ? y : (signbit(x) ? y : x);
}
/* C's pow, as PyTorch and the reference: pow(1, NaN) = pow(NaN, 0) = 1. */
static inline float c_pow(float x, float y) { return (float)pow((double)x, (double)y); }
/* Truthiness as in PyTorch (and the reference): any nonzero value, NaN included. */
static inline int truthy(float x) { return x != 0.0f; }

#define BIN_LOOP(EXPR)                                                             \
  if (sa == 1 && sb == 1) {                                                        \
    for (int64_t i = 0; i < n; i++) { const float x = a[i], y = b[i]; out[i] = EXPR; } \
  } else if (sa == 1) {                                                            \
    const float y = b[0];                                                          \
    for (int64_t i = 0; i < n; i++) { const float x = a[i]; out[i] = EXPR; }       \
  } else if (sb == 1) {                                                            \
    const float x = a[0];                                                          \
    for (int64_t i = 0; i < n; i++) { const float y = b[i]; out[i] = EXPR; }       \
  } else {                                                                         \
    const float x = a[0], y = b[0];                                                \
    for (int64_t i = 0; i < n; i++) out[i] = EXPR;                                 \
  }

static void binary(int op, const float *restrict a, int64_t sa, const float *restrict b,
                   int64_t sb, void *restrict o, int64_t n) {
  if (op < BIN_FIRST_PREDICATE) {
    float *restrict out = (float *)o;
    switch (op) {
      case BIN_ADD: BIN_LOOP(x + y); break;
      case BIN_SUB: BIN_LOOP(x - y); break;
      case BIN_MUL: BIN_LOOP(x * y); break;
      case BIN_DIV: BIN_LOOP(x / y); break;
      case BIN_POW: BIN_LOOP(c_pow(x, y)); break;
      case BIN_MINIMUM: BIN_LOOP(nan_min(x, y)); break;
      case BIN_MAXIMUM: BIN_LOOP(nan_max(x, y)); break;
      case BIN_ATAN2: BIN_LOOP((float)atan2((double)x, (double)y)); break;
      default: break;
    }
  } else {
    uint8_t *restrict out = (uint8_t *)o;
    switch (op) {
      case BIN_EQ: BIN_LOOP(x == y); break;
      case BIN_NE: BIN_LOOP(x != y); break;
      case BIN_LT: BIN_LOOP(x < y); break;
      case BIN_LE: BIN_LOOP(x <= y); break;
      case BIN_GT: BIN_LOOP(x > y); break;
      case BIN_GE: BIN_LOOP(x >= y); break;
      case BIN_AND: BIN_LOOP(truthy(x) && truthy(y)); break;
      case BIN_OR: BIN_LOOP(truthy(x) || truthy(y)); break;
      case BIN_XOR: BIN_LOOP((x != 0.0f) != (y != 0.0f)); break;
      default: break;
    }
  }
}
#undef BIN_LOOP

/* exp in f64 for vectorised loops: Cody-Waite reduction, degree-11 Taylor polynomial
 * (relative error < 1e-13), 2^k from the exponent bits; 0 below -708 and inf above 709
 * (denormal results flush to 0). */
static inline double exp_d(double x) {
  const double xc = x < -708.0 ? -708.0 : x > 709.0 ? 709.0 : x;
  /* kd = 1.5 * 2^52 + round(x / ln 2): its low mantissa bits hold the integer (no double to
   * int64 conversion, which AVX2 cannot vectorise) */
  const double kd = xc * 1.4426950408889634 + 6755399441055744.0;
  uint64_t ki;
  memcpy(&ki, &kd, sizeof ki);
  const double k = kd - 6755399441055744.0;
  const double r = (xc - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
  double p = 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  p = p * r + 1.0;
  const uint64_t bits = (ki + 1023) << 52; /* the 1.5 * 2^52 bits shift out */
  double scale;
  memcpy(&scale, &bits, sizeof scale);
  return x < -708.0 ? 0.0 : x > 709.0 ? INFINITY : p * scale;
}

/* GELU (erf form) over a contiguous block, vectorisable: 0.5 x erfc(-x / sqrt 2) with the
 * Chebyshev-fitted erfc of Numerical Recipes (relative error < 1.2e-7 everywhere, so the
 * subtraction-free form keeps full relative accuracy for x < 0), evaluated in f64. */
static void gelu_block(const float *restrict a, float *restrict out, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const double x = a[i];
    const double u = -x * 0.70710678118654752440;
    const double z = fabs(u);
    const double t = 1.0 / (1.0 + 0.5 * z);
    double p = 0.17087277;
    p = p * t - 0.82215223;
    p = p * t + 1.48851587;
    p = p * t - 1.13520398;
    p = p * t + 0.27886807;
    p = p * t - 0.18628806;
    p = p * t + 0.09678418;
    p = p * t + 0.37409196;
    p = p * t + 1.00002368;
    p = p * t - 1.26551223;
    const double e = t * exp_d(p - z * z);
    const double erfc_u = u >= 0.0 ? e : 2.0 - e;
    const float g = (float)(0.5 * x * erfc_u);
    out[i] = x != x ? (float)x : g;
  }
}

/* Sigmoid in f64 without cancellation on either side (vectorisable). */
static inline double sigmoid_d(double x) {
  const double e = exp_d(-fabs(x));
  const double s = 1.0 / (1.0 + e);
  return x >= 0.0 ? s : e * s;
}

/* tanh in f64 (vectorisable): (1 - e) / (1 + e) with e = exp(-2|x|); below |x| = 1e-4 the
 * two-term series (the exp form would lose ~1e-16 / |x| relative there). */
static inline double tanh_d(double x) {
  const double ax = fabs(x);
  const double e = exp_d(-2.0 * ax);
  const double big = (1.0 - e) / (1.0 + e);
  const double t = ax < 1e-4 ? ax - ax * ax * ax / 3.0 : big;
  return x < 0.0 ? -t : t;
}

/* y = f(x) over a block in f64, rounded once; NaN passes through. */
#define BLOCK_D(NAME, EXPR)                                                        \
  static void NAME(const float *restrict a, float *restrict out, int64_t n) {      \
    for (int64_t i = 0; i < n; i++) {                                              \
      const double x = a[i];                                                       \
      const float y = (float)(EXPR);                                               \
      out[i] = x != x ? (float)x : y;                                              \
    }                                                                              \
  }
BLOCK_D(exp_block, exp_d(x))
BLOCK_D(sigmoid_block, sigmoid_d(x))
BLOCK_D(tanh_block, tanh_d(x))
/* 0.5 x (1 + tanh z) = x sigmoid(2 z): no cancellation for x < 0. */
BLOCK_D(gelu_tanh_block, x * sigmoid_d(1.5957691216057307117 * (x + 0.044715 * x * x * x)))
#undef BLOCK_D

#define UN_LOOP(EXPR) \
  for (int64_t i = 0; i < n; i++) { const float x = a[i]; out[i] = EXPR; }
/* The same, computing in f64 and rounding once (like the reference). */
#define UN_LOOP_D(EXPR) \
  for (int64_t i = 0; i < n; i++) { const double x = a[i]; out[i] = (float)(EXPR); }

/* exp, log, sin and cos use glibc's f32 versions (< 1 ulp); the functions composed of
 * several steps (sigmoid, gelu, softplus...) and tanh/erf compute in f64 and round once. */
static void unary(int op, const float *restrict a, void *restrict o, int64_t n) {
  if (op < UN_FIRST_PREDICATE) {
    float *restrict out = (float *)o;
    switch (op) {
      case UN_NEG: UN_LOOP(-x); break;
      case UN_ABS: UN_LOOP(fabsf(x)); break;
      case UN_SIGN: UN_LOOP(x > 0.0f ? 1.0f : x < 0.0f ? -1.0f : x); break;
      case UN_EXP: exp_block(a, out, n); break;
      case UN_LOG: UN_LOOP(logf(x)); break;
      case UN_SQRT: UN_LOOP(sqrtf(x)); break;
      case UN_RSQRT: UN_LOOP_D(1.0 / sqrt(x)); break;
      case UN_RECIPROCAL: UN_LOOP(1.0f / x); break;
      case UN_SIN: UN_LOOP(sinf(x)); break;
      case UN_COS: UN_LOOP(cosf(x)); break;
      case UN_TANH: tanh_block(a, out, n); break;
      case UN_SIGMOID: sigmoid_block(a, out, n); break;
      case UN_RELU: UN_LOOP(x > 0.0f ? x : x < 0.0f ? 0.0f : x); break;
      /* 0.5 x (1 + erf(x / sqrt 2)) = 0.5 x erfc(-x / sqrt 2): no cancellation for x < 0. */
      case UN_GELU: gelu_block(a, out, n); break;
      case UN_GELU_TANH: gelu_tanh_block(a, out, n); break;
      case UN_SOFTPLUS: UN_LOOP_D(x > 20.0 ? x : log1p(exp(x))); break;
      case UN_ERF: UN_LOOP_D(erf(x)); break;
      case UN_FLOOR: UN_LOOP(floorf(x)); break;
      case UN_CEIL: UN_LOOP(ceilf(x)); break;
      case UN_ROUND: UN_LOOP(nearbyintf(x)); break; /* half to even in the default mode */
      default: break;
    }
  } else {
    uint8_t *restrict out = (uint8_t *)o;
    switch (op) {
      case UN_LOGICAL_NOT: UN_LOOP(!truthy(x)); break;
      case UN_ISNAN: UN_LOOP(x != x); break;
      default: break;
    }
  }
}
#undef UN_LOOP_D
#undef UN_LOOP

/* ---- reductions and softmax ------------------------------------------------------------- */

static float reduce_row(int op, const float *restrict x, int64_t n) {
  if (op == RED_SUM || op == RED_MEAN) {
    const double s = dmf_sum_f32(x, n);
    return (float)(op == RED_MEAN ? s / (double)n : s);
  }
  /* max/min: NaN wins; no NaN and n == 0 gives -inf / +inf like the reference. */
  int nan = 0;
  float m = op == RED_MAX ? -INFINITY : INFINITY;
  if (op == RED_MAX) {
    for (int64_t i = 0; i < n; i++) {
      nan |= x[i] != x[i];
      m = x[i] > m ? x[i] : m;
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      nan |= x[i] != x[i];
      m = x[i] < m ? x[i] : m;
    }
  }
  return nan ? NAN : m;
}

static void reduce(int op, const float *restrict x, float *restrict o, int64_t outer, int64_t n,
                   int64_t inner, int64_t ld) {
  if (inner == 1 && ld == 1) {
    for (int64_t r = 0; r < outer; r++) o[r] = reduce_row(op, x + r * n, n);
    return;
  }
  /* Column reduction: combine whole rows of `inner` values (vectorises over inner). */
  enum { CH = 512 };
  double acc[CH];
  float mx[CH];
  uint8_t nan[CH];
  for (int64_t r = 0; r < outer; r++) {
    const float *xr = x + r * n * ld;
    for (int64_t c0 = 0; c0 < inner; c0 += CH) {
      const int64_t w = inner - c0 < CH ? inner - c0 : CH;
      if (op == RED_SUM || op == RED_MEAN) {
        for (int64_t j = 0; j < w; j++) acc[j] = 0.0;
        for (int64_t i = 0; i < n; i++) {
          const float *s = xr + i * ld + c0;
          for (int64_t j = 0; j < w; j++) acc[j] += s[j];
        }
        float *d = o + r * inner + c0;
        if (op == RED_MEAN) {
          for (int64_t j = 0; j < w; j++) d[j] = (float)(acc[j] / (double)n);
        } else {
          for (int64_t j = 0; j < w; j++) d[j] = (float)acc[j];
        }
      } else {
        const float init = op == RED_MAX ? -INFINITY : INFINITY;
        for (int64_t j = 0; j < w; j++) {
          mx[j] = init;
          nan[j] = 0;
        }
        for (int64_t i = 0; i < n; i++) {
          const float *s = xr + i * ld + c0;
          if (op == RED_MAX) {
            for (int64_t j = 0; j < w; j++) {
              nan[j] |= s[j] != s[j];
              mx[j] = s[j] > mx[j] ? s[j] : mx[j];
            }
          } else {
            for (int64_t j = 0; j < w; j++) {
              nan[j] |= s[j] != s[j];
              mx[j] = s[j] < mx[j] ? s[j] : mx[j];
            }
          }
        }
        float *d = o + r * inner + c0;
        for (int64_t j = 0; j < w; j++) d[j] = nan[j] ? NAN : mx[j];
      }
    }
  }
}

static void softmax(int logsm, const float *restrict x, float *restrict o, int64_t rows,
                    int64_t n) {
  for (int64_t r = 0; r < rows; r++) {
    const float *xr = x + r * n;
    float *or = o + r * n;
    /* The reference's Math.max propagates NaN: then every output is NaN. */
    float m = -INFINITY;
    int nan = 0;
    for (int64_t i = 0; i < n; i++) {
      nan |= xr[i] != xr[i];
      m = xr[i] > m ? xr[i] : m;
    }
    if (nan) {
      for (int64_t i = 0; i < n; i++) or[i] = NAN;
      continue;
    }
    if (m == -INFINITY) m = 0.0f;
    /* m = +inf: inf - inf = NaN, and NaN flows through like in the reference */
    for (int64_t i = 0; i < n; i++) or[i] = xr[i] - m;
    dmf_exp_nonpos(or, n);
    /* x - m rounded to f32 is off by up to half an ulp of |x - m| (the reference subtracts
     * in f64): correct exp(d + err) = exp(d) (1 + err) with the TwoSum error term. */
    for (int64_t i = 0; i < n; i++) {
      const float d = xr[i] - m;
      const float z = d - xr[i];
      const float err = (xr[i] - (d - z)) - (m + z);
      or[i] = d > -87.0f ? or[i] + or[i] * err : or[i]; /* err is finite there */
    }
    double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
      s0 += or[i];
      s1 += or[i + 1];
      s2 += or[i + 2];
      s3 += or[i + 3];
    }
    for (; i < n; i++) s0 += or[i];
    const double s = (s0 + s1) + (s2 + s3);
    if (logsm) {
      const double ls = log(s);
      for (int64_t j = 0; j < n; j++) or[j] = (float)(((double)xr[j] - (double)m) - ls);
    } else {
      const float inv = (float)(1.0 / s);
      for (int64_t j = 0; j < n; j++) or[j] *= inv;
    }
  }
}

#define STR2(x) #x
#define STR(x) STR2(x)

const dmf_kernels_t TABLE = {
    .name = STR(DMF_ISA),
    .mr = MR,
    .nr = NR,
    .gemm_block = gemm_block,
    .binary = binary,
    .unary = unary,
    .reduce = reduce,
    .softmax = softmax,
};
