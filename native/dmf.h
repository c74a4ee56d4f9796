/*
 * dmformer-deno native CPU backend: internal declarations shared by the dispatcher
 * (dispatch.c, pool.c; built with baseline flags) and the per-ISA kernel objects
 * (kernels.c, built once per instruction set with -DDMF_ISA=<name> and matching -m flags).
 *
 * Everything is f32 unless stated; matrices are row-major; element counts are int64_t.
 */
#ifndef DMF_H
#define DMF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define DMF_EXPORT __attribute__((visibility("default")))

/* Which per-ISA table runs. The numbers are part of the ABI (dmf_isa, dmf_set_isa). */
enum { DMF_ISA_GENERIC = 0, DMF_ISA_AVX2 = 1, DMF_ISA_AVX512 = 2 };

/* Elementwise op ids: part of the ABI (NATIVE_BINARY / NATIVE_UNARY in
 * src/backend/native/kernels.ts list them in this order). */
enum {
  BIN_ADD, BIN_SUB, BIN_MUL, BIN_DIV, BIN_POW, BIN_MINIMUM, BIN_MAXIMUM, BIN_ATAN2,
  /* predicates: f32 inputs, u8 output */
  BIN_EQ, BIN_NE, BIN_LT, BIN_LE, BIN_GT, BIN_GE, BIN_AND, BIN_OR, BIN_XOR,
  BIN_COUNT
};
#define BIN_FIRST_PREDICATE BIN_EQ

enum {
  UN_NEG, UN_ABS, UN_SIGN, UN_EXP, UN_LOG, UN_SQRT, UN_RSQRT, UN_RECIPROCAL, UN_SIN, UN_COS,
  UN_TANH, UN_SIGMOID, UN_RELU, UN_GELU, UN_GELU_TANH, UN_SOFTPLUS, UN_ERF, UN_FLOOR, UN_CEIL,
  UN_ROUND,
  /* predicates: f32 input, u8 output */
  UN_LOGICAL_NOT, UN_ISNAN,
  UN_COUNT
};
#define UN_FIRST_PREDICATE UN_LOGICAL_NOT

enum { RED_SUM, RED_MEAN, RED_MAX, RED_MIN, RED_COUNT };

/* An implicit im2col matrix [C * KH * KW, OH * OW] of one image x [C, H, W]: row
 * (c, kh, kw), column (oh, ow) holds x[c, oh * sh - ph + kh * dh, ow * sw - pw + kw * dw]
 * (0 outside the image). */
typedef struct {
  const float *x;
  int64_t C, H, W, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw;
} dmf_im2col_t;

/* One matrix product C (M x N) = op(A) (M x K) * op(B) (K x N), with A(i, k) read as
 * transA ? A[k * lda + i] : A[i * lda + k] and B(k, j) as transB ? B[j * ldb + k] : B[k * ldb + j].
 * When colB is set, B is that implicit im2col matrix (transB: its transpose) and B/ldb are unused.
 * accumulate: C += product instead of C = product. */
typedef struct {
  int64_t M, N, K;
  const float *A;
  int64_t lda;
  int transA;
  const float *B;
  int64_t ldb;
  int transB;
  float *C;
  int64_t ldc;
  int accumulate;
  const dmf_im2col_t *colB;
} dmf_gemm_t;

/* Packing workspace sizes (floats) every ISA fits in. */
#define DMF_WS_A (512 * 512 + 64 * 512)
#define DMF_WS_B (512 * 4096 + 64 * 512)

/* A per-ISA kernel table. */
typedef struct {
  const char *name;
  /* Register-block sizes: a thread's slice of C should start at multiples of these. */
  int mr, nr;
  /* C[m0:m1, n0:n1] of one product, single-threaded, with the caller's packing buffers. */
  void (*gemm_block)(const dmf_gemm_t *g, int64_t m0, int64_t m1, int64_t n0, int64_t n1,
                     float *wsA, float *wsB);
  /* o[i] = a[i * sa] op b[i * sb] for i < n (sa, sb in {0, 1}); predicates write uint8_t. */
  void (*binary)(int op, const float *a, int64_t sa, const float *b, int64_t sb, void *o,
                 int64_t n);
  void (*unary)(int op, const float *a, void *o, int64_t n);
  /* Reduces x viewed as [outer, n, inner] over the middle axis into o [outer, inner]; the
   * n-axis step is ld (>= inner) elements, the outer step n * ld. */
  void (*reduce)(int op, const float *x, float *o, int64_t outer, int64_t n, int64_t inner,
                 int64_t ld);
  /* Softmax (or log-softmax) of each contiguous row of n values. */
  void (*softmax)(int log, const float *x, float *o, int64_t rows, int64_t n);
} dmf_kernels_t;

extern const dmf_kernels_t dmf_kernels_generic;
#if defined(__x86_64__) || defined(_M_X64)
extern const dmf_kernels_t dmf_kernels_avx2;
extern const dmf_kernels_t dmf_kernels_avx512;
#define DMF_X86 1
#endif

/* Thread pool (pool.c): runs fn(ctx, task, tid) for task in [0, ntasks) on up to
 * dmf_threads() threads (the caller is thread 0) and returns when all are done. */
typedef void (*dmf_task_fn)(void *ctx, int64_t task, int tid);
void dmf_pool_run(dmf_task_fn fn, void *ctx, int64_t ntasks);
int dmf_threads(void);
void dmf_pool_set_threads(int n);
/* Packing buffers of thread `tid` (allocated once, 64-byte aligned). */
float *dmf_ws_a(int tid);
float *dmf_ws_b(int tid);

/* The instruction set in use (DMF_ISA_*; dispatch.c), for kernels outside the per-ISA table
 * that pick their own variant (norm.c, window_attention.c). */
int dmf_isa_current(void);

/* Always inlined: a caller compiled for a wider instruction set vectorises it with that set. */
#define DMF_INLINE static inline __attribute__((always_inline))

/* Per-ISA variants outside kernels.c: DMF_ISA_VARIANTS(M) expands M(name, attribute) for each
 * instruction set this build can target (generic always; AVX-512 and AVX2+FMA on x86-64 with
 * GCC / Clang), and DMF_PICK_ISA(f) picks f_<name> by dmf_isa_current(), so dmf_set_isa
 * applies to them as to the kernels.c table. */
#if defined(DMF_X86) && defined(__GNUC__)
#ifdef __clang__
#define DMF_ATTR_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#else
#define DMF_ATTR_AVX512 \
  __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,prefer-vector-width=512")))
#endif
#define DMF_ATTR_AVX2 __attribute__((target("avx2,fma")))
#define DMF_ISA_VARIANTS(M) M(generic, ) M(avx512, DMF_ATTR_AVX512) M(avx2, DMF_ATTR_AVX2)
#define DMF_PICK_ISA(f)                                 \
  (dmf_isa_current() == DMF_ISA_AVX512 ? f##_avx512     \
   : dmf_isa_current() == DMF_ISA_AVX2 ? f##_avx2       \
                                       : f##_generic)
#else
#define DMF_ISA_VARIANTS(M) M(generic, )
#define DMF_PICK_ISA(f) (f##_generic)
#endif

/* x rounded up to a multiple of m. */
static inline int64_t dmf_round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

/* The library-wide lock every exported entry point holds (dispatch.c): the pool and the
 * workspaces are shared, and Deno workers may call in from several threads. */
void dmf_lock(void);
void dmf_unlock(void);

/* Asks for transparent huge pages on a large output before it is first written (dispatch.c):
 * a fresh multi-megabyte typed array is otherwise faulted in 4 KiB pages, which costs more
 * than the kernel that fills it. A no-op for small buffers and where unsupported. */
void dmf_advise_huge(void *p, int64_t bytes);

/* Below this many elements of work a call stays on the calling thread. */
#define DMF_PAR_ELEMS (1 << 15)

/* Runs fn over [0, ntasks) on the pool, or inline when `work` (elements) is small. */
static inline void dmf_parallel(dmf_task_fn fn, void *ctx, int64_t ntasks, int64_t work) {
  if (ntasks <= 1 || work < DMF_PAR_ELEMS || dmf_threads() == 1) {
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
  } else {
    dmf_pool_run(fn, ctx, ntasks);
  }
}

/* Sum of n floats in double with four independent accumulators (the additions pipeline). */
static inline double dmf_sum_f32(const float *x, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += x[i];
    s1 += x[i + 1];
    s2 += x[i + 2];
    s3 += x[i + 3];
  }
  for (; i < n; i++) s0 += x[i];
  return (s0 + s1) + (s2 + s3);
}

/* Items per task when n items are split into about 4 tasks per thread. */
static inline int64_t dmf_chunk(int64_t n) {
  const int64_t parts = 4 * (int64_t)dmf_threads();
  return n < parts ? 1 : (n + parts - 1) / parts;
}

/* Items [*lo, *hi) of task t when n items are split into tasks of `chunk` items. */
static inline void dmf_range(int64_t t, int64_t chunk, int64_t n, int64_t *lo, int64_t *hi) {
  *lo = t * chunk;
  *hi = *lo + chunk < n ? *lo + chunk : n;
}

/* In place v = exp(v) for v <= 0 (or NaN; -inf and v < -87 give 0): Cody-Waite reduction and
 * the Cephes polynomial, ~1 ulp, written so that the compiler vectorises it (no libm call).
 * Results below ~1.6e-38 flush to 0, which softmax never notices next to a sum >= 1. Small
 * positive v (rounding noise in a logit minus its row's log-sum-exp) is still exact to ~1 ulp.
 * Always inlined, so a caller compiled for a wider instruction set vectorises it with that. */
static inline __attribute__((always_inline)) void dmf_exp_nonpos(float *restrict v, int64_t n) {
  for (int64_t i = 0; i < n; i++) {
    const float x = v[i];
    const float xc = x < -87.0f ? -87.0f : x;
    const float k = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f; /* round(x/ln2) */
    float r = xc - k * 0.693359375f;
    r = r - k * -2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * (r * r) + r + 1.0f;
    const uint32_t bits = (uint32_t)((int32_t)k + 127) << 23; /* 2^k, k in [-126, 0] */
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    const float y = x < -87.0f ? 0.0f : p * scale;
    v[i] = x != x ? x : y;
  }
}

/* Copies one element of es bytes. */
static inline void dmf_copy_el(void *d, const void *s, int64_t es) {
  switch (es) {
    case 4: *(uint32_t *)d = *(const uint32_t *)s; break;
    case 1: *(uint8_t *)d = *(const uint8_t *)s; break;
    case 8: *(uint64_t *)d = *(const uint64_t *)s; break;
    default: for (int64_t i = 0; i < es; i++) ((uint8_t *)d)[i] = ((const uint8_t *)s)[i]; break;
  }
}

/* Normalises an index into [0, n) (negative counts from the end); -1 when out of range. */
static inline int64_t dmf_index(int32_t i, int64_t n) {
  const int64_t j = i < 0 ? (int64_t)i + n : (int64_t)i;
  return j >= 0 && j < n ? j : -1;
}

/* LayerNorm / GroupNorm (norm.c) over x viewed as [n, groups, cg, hw] (geom holds those four):
 * each (n, g) row of cg * hw values is normalised; element (k, h) of group g uses channel
 * g * cg + k of w / b (NULL: no affine). mean / rstd hold one value per row. Backward writes dx
 * and, when dw and db are set, the parameter gradients. */
DMF_EXPORT void dmf_norm_forward(const float *x, const float *w, const float *b, float *y,
                                 float *mean, float *rstd, const int64_t *geom, double eps);
DMF_EXPORT void dmf_norm_backward(const float *gy, const float *x, const float *mean,
                                  const float *rstd, const float *w, float *dx, float *dw,
                                  float *db, const int64_t *geom);

/* Swin window attention (window_attention.c): qkv [B, n, 3c] read as [3, heads, c / heads],
 * bias [heads, n, n], mask [nW, n, n] (window b uses mask[b % nW]; NULL: none); dims holds
 * B, n, c, heads, nW. Forward writes out [B, n, c] and lse [B, heads, n] (log-sum-exp of each
 * logit row); backward writes dqkv [B, n, 3c] and dbias [heads, n, n] from gout [B, n, c] and
 * the saved lse. Both return 0 (nothing written) when a window does not fit the per-thread
 * workspace, 1 when done. */
DMF_EXPORT int dmf_window_attention(const float *qkv, const float *bias, const float *mask,
                                    float *out, float *lse, const int64_t *dims, double scale);
DMF_EXPORT int dmf_window_attention_backward(const float *gout, const float *qkv,
                                             const float *bias, const float *mask,
                                             const float *lse, float *dqkv, float *dbias,
                                             const int64_t *dims, double scale);

#endif
