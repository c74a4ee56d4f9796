/*
 * Swin window attention (op window_attention, src/ops/window_attention.ts) forward and backward
 * in f32: qkv [B, n, 3c] read as [3, heads, hd] (q | k | v, hd = c / heads), bias
 * [heads, n, n], mask [nW, n, n] (window b adds mask[b % nW]), out [B, n, c],
 * lse [B, heads, n].
 *
 * Each (window, head) is a handful of small products done in the thread's workspace with
 * zero-padded operands (rows to a multiple of 4, columns to a multiple of 16), by one register-
 * blocked kernel (4 rows x 16 or 32 columns of accumulators, summed in k order). The logits
 * are kept transposed, st[j][i] = scale q_i . k_j + bias[i][j] + mask[i][j] (key j a row, query
 * i a column; bias and mask are transposed once per call), so the softmax over keys runs down
 * the columns: max, exp (vectorised polynomial, max-shifted, in float) and sums are plain
 * vertical vector operations, 16 queries at a time.
 *
 * - Forward: one task per (window, head): st = k (scale q)^T (+ bias + mask), softmax per
 *   column, lse = max + log(sum), out = p v.
 * - Backward: one task per (group of WA_GROUP consecutive windows, head), the windows of a
 *   group one after another: p = exp(st - lse) (recomputed), dp^T = v dout^T,
 *   ds = p (dp - sum_j p dp), dq = scale ds k, dk = scale ds^T q, dv = p^T dout. The bias
 *   gradient of a task's windows is summed into the task's own partial; the partials are then
 *   added in group order, so dbias does not depend on the thread count.
 *
 * The task bodies are compiled per instruction set (DMF_ISA_VARIANTS in dmf.h: AVX-512,
 * AVX2+FMA, baseline); the variant follows the library's ISA choice (dmf_set_isa), like the
 * per-ISA table of kernels.c. Without fused multiply-adds (-std=c11 keeps GCC from
 * contracting), every variant rounds alike.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dmf.h"

/* Consecutive windows per backward task: fixes the order of the bias-gradient sums. */
#define WA_GROUP 8
/* Rows of a register block. */
#define WA_RB 4

typedef struct {
  const float *qkv, *gout, *lse_in;
  /* bias [heads, n, n] and mask [nW, n, n] transposed: bt[h][j][i] = bias[h][i][j] */
  const float *bt, *mt;
  float *out, *lse, *dqkv, *part;
  int64_t B, n, c, heads, hd, nw, groups;
  float scale;
} wa_job;

static int64_t pad16(int64_t n) { return dmf_round_up(n, 16); }
static int64_t pad_rows(int64_t n) { return dmf_round_up(n, WA_RB); }

/* Workspace floats per task (the thread's packing buffer dmf_ws_a holds DMF_WS_A). */
static int64_t fwd_floats(int64_t n, int64_t hd) {
  const int64_t nc = pad16(n), hc = pad16(hd);
  return 4 * nc * hc + nc * nc + 2 * nc;
}
static int64_t bwd_floats(int64_t n, int64_t hd) {
  const int64_t nc = pad16(n), hc = pad16(hd);
  return 7 * nc * hc + 2 * nc * nc + 2 * nc;
}

/*
 * One WA_RB x W block of C = A B: c[i][t] = sum over k < K of A(i, k) b[k * ldb + t], in k
 * order, with A(i, k) = a[i * lda + k] (A_COLS 0) or a[k * lda + i] (A_COLS 1). Fixed sizes:
 * the accumulators stay in registers.
 */
#define WA_BLOCK(W, A_COLS)                                                                 \
  DMF_INLINE void block_##W##_##A_COLS(const float *restrict a, int64_t lda,                 \
                                      const float *restrict b, int64_t ldb, int64_t K,      \
                                      float *restrict c, int64_t ldc) {                     \
    float acc[WA_RB][W];                                                                    \
    for (int i = 0; i < WA_RB; i++) {                                                       \
      for (int t = 0; t < W; t++) acc[i][t] = 0.0f;                                         \
    }                                                                                       \
    for (int64_t k = 0; k < K; k++) {                                                       \
      const float *restrict bk = b + k * ldb;                                               \
      for (int i = 0; i < WA_RB; i++) {                                                     \
        const float ai = A_COLS ? a[k * lda + i] : a[i * lda + k];                          \
        for (int t = 0; t < W; t++) acc[i][t] += ai * bk[t];                                \
      }                                                                                     \
    }                                                                                       \
    for (int i = 0; i < WA_RB; i++) {                                                       \
      for (int t = 0; t < W; t++) c[i * ldc + t] = acc[i][t];                               \
    }                                                                                       \
  }
WA_BLOCK(16, 0)
WA_BLOCK(32, 0)
WA_BLOCK(16, 1)
WA_BLOCK(32, 1)

/* C [rows, m] = A [rows, K] B [K, m] with rows a multiple of WA_RB and m of 16; A is read
 * from a as rows (a[i * lda + k]) or, with a_cols, as columns (a[k * lda + i]). */
DMF_INLINE void matmul(int a_cols, const float *restrict a, int64_t lda, const float *restrict b,
                      int64_t ldb, int64_t K, float *restrict c, int64_t ldc, int64_t rows,
                      int64_t m) {
  for (int64_t i = 0; i < rows; i += WA_RB) {
    const float *ai = a_cols ? a + i : a + i * lda;
    float *ci = c + i * ldc;
    int64_t t = 0;
    if (a_cols) {
      for (; t + 32 <= m; t += 32) block_32_1(ai, lda, b + t, ldb, K, ci + t, ldc);
      if (t < m) block_16_1(ai, lda, b + t, ldb, K, ci + t, ldc);
    } else {
      for (; t + 32 <= m; t += 32) block_32_0(ai, lda, b + t, ldb, K, ci + t, ldc);
      if (t < m) block_16_0(ai, lda, b + t, ldb, K, ci + t, ldc);
    }
  }
}

/* rows [pad, ldr] = the n rows of src (row stride ld, hd values each), zero beyond. */
DMF_INLINE void pack_rows(const float *restrict src, int64_t ld, int64_t n, int64_t hd,
                         int64_t pad, float *restrict rows, int64_t ldr) {
  for (int64_t r = 0; r < pad; r++) {
    float *restrict dst = rows + r * ldr;
    int64_t d = 0;
    if (r < n) {
      const float *restrict x = src + r * ld;
      for (; d < hd; d++) dst[d] = x[d];
    }
    for (; d < ldr; d++) dst[d] = 0.0f;
  }
}

/* cols [hd, ldc] = scale times the transpose of the n rows of src, zero beyond column n. */
DMF_INLINE void pack_cols(const float *restrict src, int64_t ld, int64_t n, int64_t hd,
                         float scale, float *restrict cols, int64_t ldc) {
  for (int64_t d = 0; d < hd; d++) {
    float *restrict cd = cols + d * ldc;
    for (int64_t r = 0; r < n; r++) cd[r] = src[r * ld + d] * scale;
    for (int64_t r = n; r < ldc; r++) cd[r] = 0.0f;
  }
}

/* st [nr, nc] (rows padded to the block height) = k (scale q)^T, then + bias^T + mask^T on the
 * first n rows and columns (the composed path's order: q * scale, the product, + bias,
 * + mask). */
DMF_INLINE void logits_t(const wa_job *j, const float *restrict ks, const float *restrict qt,
                        int64_t b, int64_t h, int64_t hc, int64_t nc, float *restrict st) {
  const int64_t n = j->n;
  matmul(0, ks, hc, qt, nc, j->hd, st, nc, pad_rows(n), nc);
  const float *restrict bt = j->bt + h * n * n;
  const float *restrict mt = j->mt ? j->mt + (b % j->nw) * n * n : NULL;
  for (int64_t r = 0; r < n; r++) {
    float *restrict sr = st + r * nc;
    for (int64_t i = 0; i < n; i++) sr[i] += bt[r * n + i];
    if (mt) {
      for (int64_t i = 0; i < n; i++) sr[i] += mt[r * n + i];
    }
  }
}

/* Softmax down the first n rows of every column of p [n, nc] (in place), and the log-sum-exp
 * of each column into l [nc]; m is scratch [nc]. */
DMF_INLINE void softmax_cols(float *restrict p, int64_t n, int64_t nc, float *restrict m,
                            float *restrict l) {
  for (int64_t i = 0; i < nc; i++) m[i] = -INFINITY;
  for (int64_t r = 0; r < n; r++) {
    const float *restrict pr = p + r * nc;
    /* a NaN is skipped here but reaches the outputs through exp and the sums */
    for (int64_t i = 0; i < nc; i++) m[i] = pr[i] > m[i] ? pr[i] : m[i];
  }
  for (int64_t i = 0; i < nc; i++) {
    m[i] = m[i] == -INFINITY ? 0.0f : m[i]; /* an all -inf column: the reference's shift */
    l[i] = 0.0f;
  }
  for (int64_t r = 0; r < n; r++) {
    float *restrict pr = p + r * nc;
    for (int64_t i = 0; i < nc; i++) pr[i] -= m[i];
    dmf_exp_nonpos(pr, nc);
    for (int64_t i = 0; i < nc; i++) l[i] += pr[i];
  }
  for (int64_t i = 0; i < nc; i++) {
    const float sum = l[i];
    l[i] = m[i] + logf(sum);
    m[i] = 1.0f / sum;
  }
  for (int64_t r = 0; r < n; r++) {
    float *restrict pr = p + r * nc;
    for (int64_t i = 0; i < nc; i++) pr[i] *= m[i];
  }
}

DMF_INLINE void forward_one(const wa_job *j, int64_t b, int64_t h, float *restrict ws) {
  const int64_t n = j->n, hd = j->hd, c = j->c, ld = 3 * c;
  const int64_t nc = pad16(n), hc = pad16(hd), nr = pad_rows(n);
  const float *q0 = j->qkv + b * n * ld + h * hd;
  float *restrict ks = ws, *restrict vs = ks + nc * hc, *restrict qt = vs + nc * hc;
  float *restrict st = qt + hc * nc, *restrict o = st + nc * nc;
  pack_rows(q0 + c, ld, n, hd, nc, ks, hc);
  pack_rows(q0 + 2 * c, ld, n, hd, nc, vs, hc);
  pack_cols(q0, ld, n, hd, j->scale, qt, nc);
  logits_t(j, ks, qt, b, h, hc, nc, st);
  float *restrict m = o + nc * hc, *restrict l = m + nc;
  softmax_cols(st, n, nc, m, l);
  memcpy(j->lse + (b * j->heads + h) * n, l, (size_t)n * sizeof(float));
  matmul(1, st, nc, vs, hc, n, o, hc, nr, hc); /* out = p v */
  float *out = j->out + b * n * c + h * hd;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t d = 0; d < hd; d++) out[i * c + d] = o[i * hc + d];
  }
}

/* Gradients of one (window, head); ds^T is added to acc [n, n] (acc[j][i] += ds[i][j]). */
DMF_INLINE void backward_one(const wa_job *j, int64_t b, int64_t h, float *restrict ws,
                            float *restrict acc) {
  const int64_t n = j->n, hd = j->hd, c = j->c, ld = 3 * c;
  const int64_t nc = pad16(n), hc = pad16(hd), nr = pad_rows(n);
  const float scale = j->scale;
  const float *q0 = j->qkv + b * n * ld + h * hd, *g0 = j->gout + b * n * c + h * hd;
  /* rows [nc, hc]: q, k, v, dout and a product; columns [hc, nc]: scale q^T, dout^T;
   * [nc, nc]: p^T, then ds^T */
  float *restrict qs = ws, *restrict ks = qs + nc * hc, *restrict vs = ks + nc * hc;
  float *restrict go = vs + nc * hc, *restrict prod = go + nc * hc, *restrict qt = prod + nc * hc;
  float *restrict gt = qt + hc * nc, *restrict pt = gt + hc * nc, *restrict dst = pt + nc * nc;
  pack_rows(q0, ld, n, hd, nc, qs, hc);
  pack_rows(q0 + c, ld, n, hd, nc, ks, hc);
  pack_rows(q0 + 2 * c, ld, n, hd, nc, vs, hc);
  pack_rows(g0, c, n, hd, nc, go, hc);
  pack_cols(q0, ld, n, hd, scale, qt, nc);
  pack_cols(g0, c, n, hd, 1.0f, gt, nc);
  logits_t(j, ks, qt, b, h, hc, nc, pt);
  matmul(0, vs, hc, gt, nc, hd, dst, nc, nr, nc); /* dp^T = v dout^T */
  const float *lse = j->lse_in + (b * j->heads + h) * n;
  float *restrict lv = dst + nc * nc, *restrict dv = lv + nc;
  for (int64_t i = 0; i < nc; i++) {
    lv[i] = i < n ? lse[i] : INFINITY; /* padding columns: p = 0 */
    dv[i] = 0.0f;
  }
  for (int64_t r = 0; r < n; r++) {
    float *restrict pr = pt + r * nc;
    const float *restrict dr = dst + r * nc;
    for (int64_t i = 0; i < nc; i++) pr[i] -= lv[i];
    dmf_exp_nonpos(pr, nc);
    for (int64_t i = 0; i < nc; i++) dv[i] += pr[i] * dr[i];
  }
  for (int64_t r = 0; r < n; r++) {
    const float *restrict pr = pt + r * nc;
    float *restrict dr = dst + r * nc;
    for (int64_t i = 0; i < nc; i++) dr[i] = pr[i] * (dr[i] - dv[i]);
  }
  for (int64_t r = 0; r < n; r++) {
    float *restrict ar = acc + r * n;
    const float *restrict dr = dst + r * nc;
    for (int64_t i = 0; i < n; i++) ar[i] += dr[i];
  }
  float *dq0 = j->dqkv + b * n * ld + h * hd, *dk0 = dq0 + c, *dv0 = dq0 + 2 * c;
  matmul(1, dst, nc, ks, hc, n, prod, hc, nr, hc); /* dq = ds k */
  for (int64_t i = 0; i < n; i++) {
    for (int64_t d = 0; d < hd; d++) dq0[i * ld + d] = scale * prod[i * hc + d];
  }
  matmul(0, dst, nc, qs, hc, n, prod, hc, nr, hc); /* dk = ds^T q */
  for (int64_t r = 0; r < n; r++) {
    for (int64_t d = 0; d < hd; d++) dk0[r * ld + d] = scale * prod[r * hc + d];
  }
  matmul(0, pt, nc, go, hc, n, prod, hc, nr, hc); /* dv = p^T dout */
  for (int64_t r = 0; r < n; r++) {
    for (int64_t d = 0; d < hd; d++) dv0[r * ld + d] = prod[r * hc + d];
  }
}

/* The task bodies, instantiated once per instruction set. */
#define WA_TASKS(isa, attr)                                                                \
  static attr void forward_task_##isa(void *ctx, int64_t t, int tid) {                     \
    const wa_job *j = (const wa_job *)ctx;                                                 \
    forward_one(j, t / j->heads, t % j->heads, dmf_ws_a(tid));                             \
  }                                                                                        \
  static attr void backward_task_##isa(void *ctx, int64_t t, int tid) {                    \
    const wa_job *j = (const wa_job *)ctx;                                                 \
    const int64_t g = t / j->heads, h = t % j->heads;                                      \
    float *acc = j->part + t * j->n * j->n;                                                \
    memset(acc, 0, (size_t)(j->n * j->n) * sizeof(float));                                \
    const int64_t b1 = (g + 1) * WA_GROUP < j->B ? (g + 1) * WA_GROUP : j->B;              \
    for (int64_t b = g * WA_GROUP; b < b1; b++) backward_one(j, b, h, dmf_ws_a(tid), acc); \
  }

DMF_ISA_VARIANTS(WA_TASKS)

static dmf_task_fn pick(int backward) {
  return backward ? DMF_PICK_ISA(backward_task) : DMF_PICK_ISA(forward_task);
}

/* A job from dims (B, n, c, heads, nW) with bias and mask transposed into one new buffer
 * (NULL: out of memory); the caller frees *scratch. */
static int setup(wa_job *j, const int64_t *dims, double scale, const float *bias,
                 const float *mask, float **scratch) {
  j->B = dims[0];
  j->n = dims[1];
  j->c = dims[2];
  j->heads = dims[3];
  j->nw = dims[4] > 0 ? dims[4] : 1;
  j->hd = j->heads > 0 ? j->c / j->heads : 0;
  j->scale = (float)scale;
  const int64_t n = j->n, nn = n * n, mats = j->heads + (mask ? j->nw : 0);
  float *t = (float *)malloc((size_t)(mats * nn + 1) * sizeof(float));
  *scratch = t;
  if (!t) return 0;
  for (int64_t m = 0; m < mats; m++) {
    const float *src = m < j->heads ? bias + m * nn : mask + (m - j->heads) * nn;
    float *dst = t + m * nn;
    for (int64_t i = 0; i < n; i++) {
      for (int64_t r = 0; r < n; r++) dst[r * n + i] = src[i * n + r];
    }
  }
  j->bt = t;
  j->mt = mask ? t + j->heads * nn : NULL;
  return 1;
}

/* dbias[h][i][j] = sum over groups g (in order) of part[g][h][j][i], for the heads of task t. */
static void sum_groups_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const wa_job *j = (const wa_job *)ctx;
  const int64_t n = j->n, nn = n * n, len = j->heads * nn;
  float *dbias = j->out + t * nn; /* the dbias output (set by the backward entry point) */
  const float *p = j->part + t * nn;
  for (int64_t i = 0; i < n; i++) {
    for (int64_t r = 0; r < n; r++) dbias[i * n + r] = p[r * n + i];
  }
  for (int64_t g = 1; g < j->groups; g++) {
    const float *pg = p + g * len;
    for (int64_t i = 0; i < n; i++) {
      for (int64_t r = 0; r < n; r++) dbias[i * n + r] += pg[r * n + i];
    }
  }
}

DMF_EXPORT int dmf_window_attention(const float *qkv, const float *bias, const float *mask,
                                    float *out, float *lse, const int64_t *dims, double scale) {
  if (fwd_floats(dims[1], dims[3] > 0 ? dims[2] / dims[3] : 0) > DMF_WS_A) return 0;
  wa_job j = {.qkv = qkv, .out = out, .lse = lse};
  float *scratch;
  if (!setup(&j, dims, scale, bias, mask, &scratch)) abort();
  const int64_t tasks = j.B * j.heads;
  if (tasks > 0 && j.n > 0) {
    dmf_lock();
    dmf_parallel(pick(0), &j, tasks, j.B * j.n * j.n * j.c);
    dmf_unlock();
  }
  free(scratch);
  return 1;
}

DMF_EXPORT int dmf_window_attention_backward(const float *gout, const float *qkv,
                                             const float *bias, const float *mask,
                                             const float *lse, float *dqkv, float *dbias,
                                             const int64_t *dims, double scale) {
  if (bwd_floats(dims[1], dims[3] > 0 ? dims[2] / dims[3] : 0) > DMF_WS_A) return 0;
  wa_job j = {.gout = gout, .qkv = qkv, .lse_in = lse, .dqkv = dqkv, .out = dbias};
  float *scratch;
  if (!setup(&j, dims, scale, bias, mask, &scratch)) abort();
  const int64_t len = j.heads * j.n * j.n;
  if (len > 0) {
    j.groups = j.B > 0 ? (j.B + WA_GROUP - 1) / WA_GROUP : 1;
    j.part = (float *)calloc((size_t)(j.groups * len), sizeof(float));
    if (!j.part) abort();
    dmf_lock();
    if (j.B > 0) dmf_parallel(pick(1), &j, j.groups * j.heads, j.B * j.n * j.n * j.c);
    dmf_parallel(sum_groups_task, &j, j.heads, j.groups * len);
    dmf_unlock();
    free(j.part);
  }
  free(scratch);
  return 1;
}
