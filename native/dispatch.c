/*
 * The flat C ABI of libdmf (called from src/backend/native through Deno.dlopen) and the
 * drivers that split work over the thread pool. Built with baseline flags; the arithmetic
 * runs in the per-ISA table chosen at load time (dmf_init) with __builtin_cpu_supports.
 *
 * Every exported call holds one global mutex: the pool, the workspaces and the im2col buffer
 * are shared, and Deno workers may call in from several threads.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "dmf.h"

static const dmf_kernels_t *K = &dmf_kernels_generic;
static int isa_now = DMF_ISA_GENERIC;
static int isa_best = -1;
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

#define LOCK() pthread_mutex_lock(&big_lock)
#define UNLOCK() pthread_mutex_unlock(&big_lock)

void dmf_lock(void) { LOCK(); }
void dmf_unlock(void) { UNLOCK(); }
int dmf_isa_current(void) { return isa_now; }

#define HUGE_PAGE ((uintptr_t)2 << 20)

/* Transparent huge pages for large fresh outputs, only with DMF_HUGEPAGES=1: an isolated
 * 590 MB relu runs 10x faster with them, but the whole Swin-T clip ran 25% slower (direct
 * compaction on page faults under THP defrag=madvise). */
static int huge_pages_enabled(void) {
  static int enabled = -1;
  if (enabled < 0) {
    const char *env = getenv("DMF_HUGEPAGES");
    enabled = env != NULL && env[0] == '1';
  }
  return enabled;
}

void dmf_advise_huge(void *p, int64_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes < 8 * (int64_t)HUGE_PAGE || !huge_pages_enabled()) return;
  const uintptr_t a = ((uintptr_t)p + HUGE_PAGE - 1) & ~(HUGE_PAGE - 1);
  const uintptr_t e = ((uintptr_t)p + (uintptr_t)bytes) & ~(HUGE_PAGE - 1);
  if (e > a) madvise((void *)a, e - a, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

/* Below this many multiply-adds a call stays on one thread (DMF_PAR_ELEMS: elements, for
 * memory-bound ops). */
#define PAR_FLOPS (1 << 18)

static int detect_isa(void) {
#ifdef DMF_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
      __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("fma")) {
    return DMF_ISA_AVX512;
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return DMF_ISA_AVX2;
#endif
  return DMF_ISA_GENERIC;
}

static void use_isa(int isa) {
  if (isa_best < 0) isa_best = detect_isa();
  if (isa < 0 || isa > isa_best) isa = isa_best;
#ifdef DMF_X86
  K = isa == DMF_ISA_AVX512 ? &dmf_kernels_avx512
      : isa == DMF_ISA_AVX2 ? &dmf_kernels_avx2
                            : &dmf_kernels_generic;
#else
  isa = DMF_ISA_GENERIC;
  K = &dmf_kernels_generic;
#endif
  isa_now = isa;
}

/** Selects the best ISA (or the one named by $DMF_NATIVE_ISA) and returns it. */
DMF_EXPORT int dmf_init(void) {
  LOCK();
  const char *env = getenv("DMF_NATIVE_ISA");
  int want = -1;
  if (env && strcmp(env, "generic") == 0) want = DMF_ISA_GENERIC;
  if (env && strcmp(env, "avx2") == 0) want = DMF_ISA_AVX2;
  if (env && strcmp(env, "avx512") == 0) want = DMF_ISA_AVX512;
  use_isa(want);
  const int r = isa_now;
  UNLOCK();
  return r;
}

/** Forces an ISA (clamped to what the CPU supports; -1 = best); returns the one in use. */
DMF_EXPORT int dmf_set_isa(int isa) {
  LOCK();
  use_isa(isa);
  const int r = isa_now;
  UNLOCK();
  return r;
}

/** The best ISA this CPU supports. */
DMF_EXPORT int dmf_best_isa(void) {
  LOCK();
  if (isa_best < 0) isa_best = detect_isa();
  const int r = isa_best;
  UNLOCK();
  return r;
}

DMF_EXPORT int dmf_set_threads(int n) {
  LOCK();
  dmf_pool_set_threads(n);
  const int r = dmf_threads();
  UNLOCK();
  return r;
}

DMF_EXPORT int dmf_get_threads(void) {
  LOCK();
  const int r = dmf_threads();
  UNLOCK();
  return r;
}

/* ---- matmul ----------------------------------------------------------------------------- */

typedef struct {
  dmf_gemm_t g;          /* the first product; A/B/C advance per batch */
  int64_t batch;
  int brank;
  const int64_t *bshape; /* batch shape, and per-operand element strides over it */
  const int64_t *sa, *sb;
  int64_t sm, sn;        /* splits of each product along M and N */
  int64_t mstep, nstep;
  int64_t chunk;         /* products per task when a batch of small products is chunked */
} mm_job;

static void mm_task(void *ctx, int64_t t, int tid) {
  const mm_job *j = (const mm_job *)ctx;
  const int64_t per = j->sm * j->sn;
  const int64_t b = t / per;
  const int64_t r = t % per;
  const int64_t im = r / j->sn;
  const int64_t jn = r % j->sn;
  dmf_gemm_t g = j->g;
  int64_t rem = b, oa = 0, ob = 0;
  for (int d = j->brank - 1; d >= 0; d--) {
    const int64_t i = rem % j->bshape[d];
    rem /= j->bshape[d];
    oa += i * j->sa[d];
    ob += i * j->sb[d];
  }
  g.A += oa;
  g.B += ob;
  g.C += b * g.M * g.ldc;
  const int64_t m0 = im * j->mstep, n0 = jn * j->nstep;
  const int64_t m1 = m0 + j->mstep < g.M ? m0 + j->mstep : g.M;
  const int64_t n1 = n0 + j->nstep < g.N ? n0 + j->nstep : g.N;
  if (m0 < m1 && n0 < n1) K->gemm_block(&g, m0, m1, n0, n1, dmf_ws_a(tid), dmf_ws_b(tid));
}

/* A range of whole products (sm = sn = 1): batches of small products, e.g. window attention. */
static void mm_chunk_task(void *ctx, int64_t t, int tid) {
  const mm_job *j = (const mm_job *)ctx;
  int64_t b0, b1;
  dmf_range(t, j->chunk, j->batch, &b0, &b1);
  for (int64_t b = b0; b < b1; b++) mm_task(ctx, b, tid);
}


static void run_gemm(mm_job *j) {
  const dmf_gemm_t *g = &j->g;
  const int T = dmf_threads();
  const double flops = (double)g->M * (double)g->N * (double)g->K * (double)j->batch;
  j->sm = j->sn = 1;
  j->mstep = g->M;
  j->nstep = g->N;
  if (T > 1 && flops >= PAR_FLOPS && j->batch < 4 * T) {
    /* Few products: split each one into T strips along its larger side. */
    if (g->N >= g->M) {
      j->nstep = dmf_round_up((g->N + T - 1) / T, K->nr);
      j->sn = (g->N + j->nstep - 1) / j->nstep;
    } else {
      j->mstep = dmf_round_up((g->M + T - 1) / T, K->mr);
      j->sm = (g->M + j->mstep - 1) / j->mstep;
    }
  }
  const int64_t ntasks = j->batch * j->sm * j->sn;
  if (T > 1 && flops >= PAR_FLOPS && j->sm * j->sn == 1 && j->batch >= 16 * T &&
      (double)g->M * (double)g->N * (double)g->K <= 64.0 * 64.0 * 64.0) {
    /* Many small products: about 8 ranges of whole products per thread. */
    j->chunk = (j->batch + 8 * T - 1) / (8 * T);
    dmf_pool_run(mm_chunk_task, j, (j->batch + j->chunk - 1) / j->chunk);
    return;
  }
  if (flops < PAR_FLOPS || T == 1) {
    for (int64_t t = 0; t < ntasks; t++) mm_task(j, t, 0);
  } else {
    dmf_pool_run(mm_task, j, ntasks);
  }
}

/**
 * Batched matmul with broadcast batch axes. meta (int64): M, N, K, transA, transB, brank,
 * then brank batch sizes, brank element strides of a, brank element strides of b.
 * c is contiguous [batch..., M, N].
 */
DMF_EXPORT void dmf_matmul(const float *a, const float *b, float *c, const int64_t *meta) {
  LOCK();
  mm_job j;
  memset(&j, 0, sizeof j);
  j.g.M = meta[0];
  j.g.N = meta[1];
  j.g.K = meta[2];
  j.g.transA = (int)meta[3];
  j.g.transB = (int)meta[4];
  j.brank = (int)meta[5];
  j.bshape = meta + 6;
  j.sa = meta + 6 + j.brank;
  j.sb = meta + 6 + 2 * j.brank;
  j.batch = 1;
  for (int d = 0; d < j.brank; d++) j.batch *= j.bshape[d];
  dmf_advise_huge(c, j.batch * j.g.M * j.g.N * (int64_t)sizeof(float));
  j.g.A = a;
  j.g.lda = j.g.transA ? j.g.M : j.g.K;
  j.g.B = b;
  j.g.ldb = j.g.transB ? j.g.K : j.g.N;
  j.g.C = c;
  j.g.ldc = j.g.N;
  j.g.accumulate = 0;
  if (j.batch > 0 && j.g.M > 0 && j.g.N > 0) run_gemm(&j);
  UNLOCK();
}

static void gemm1(const dmf_gemm_t *g) {
  mm_job j;
  memset(&j, 0, sizeof j);
  j.g = *g;
  j.batch = 1;
  if (g->M > 0 && g->N > 0) run_gemm(&j);
}

/** Plain sgemm for benchmarks and tests: C (M x N, ldc) (+)= op(A) op(B). */
DMF_EXPORT void dmf_sgemm(int transA, int transB, int64_t M, int64_t N, int64_t Kd,
                          const float *a, int64_t lda, const float *b, int64_t ldb, float *c,
                          int64_t ldc, int accumulate) {
  LOCK();
  dmf_gemm_t g = {M, N, Kd, a, lda, transA, b, ldb, transB, c, ldc, accumulate, NULL};
  gemm1(&g);
  UNLOCK();
}

/* ---- conv2d (im2col + sgemm) ------------------------------------------------------------ */

typedef struct {
  int64_t N, C, H, W, O, KH, KW, OH, OW, groups, sh, sw, ph, pw, dh, dw;
} geom;

static geom read_geom(const int64_t *m) {
  geom g = {m[0], m[1], m[2],  m[3],  m[4],  m[5],  m[6],  m[7],
            m[8], m[9], m[10], m[11], m[12], m[13], m[14], m[15]};
  return g;
}

/* A 64-byte aligned scratch buffer of at least `floats` floats, regrown (contents lost) when
 * too small. */
typedef struct {
  float *p;
  size_t cap;
} scratch;

static float *scratch_get(scratch *s, size_t floats) {
  if (floats > s->cap) {
    free(s->p);
    s->p = NULL;
    if (posix_memalign((void **)&s->p, 64, floats * sizeof(float)) != 0) abort();
    s->cap = floats;
  }
  return s->p;
}

static scratch col_buf, wt_buf;

/* 1x1, stride 1, no padding: the image itself is the column matrix. */
static int pointwise(const geom *g) {
  return g->KH == 1 && g->KW == 1 && g->sh == 1 && g->sw == 1 && g->ph == 0 && g->pw == 0 &&
         g->OH == g->H && g->OW == g->W;
}

typedef struct {
  const geom *g;
  const float *x; /* image n, group grp: Cg planes */
  float *col;     /* [Cg * KH * KW, OH * OW] */
} col_job;

/* Valid output columns [lo, hi) for input offset `off` = ow * s - p + kw * d within [0, W). */
static void valid_range(int64_t W, int64_t OW, int64_t s, int64_t start, int64_t *lo,
                        int64_t *hi) {
  /* iw = ow * s + start must satisfy 0 <= iw < W */
  int64_t a = start >= 0 ? 0 : (-start + s - 1) / s;
  int64_t b = W - start <= 0 ? 0 : (W - start + s - 1) / s;
  if (b > OW) b = OW;
  if (a > b) a = b;
  *lo = a;
  *hi = b;
}

/* dx plane c += the column rows of channel c (exclusive per task: no races). */
static void col2im_task(void *ctx, int64_t c, int tid) {
  (void)tid;
  const col_job *j = (const col_job *)ctx;
  const geom *g = j->g;
  const int64_t P = g->OH * g->OW;
  float *plane = (float *)j->x + c * g->H * g->W;
  for (int64_t kh = 0; kh < g->KH; kh++) {
    for (int64_t kw = 0; kw < g->KW; kw++) {
      const float *row = j->col + ((c * g->KH + kh) * g->KW + kw) * P;
      const int64_t start = kw * g->dw - g->pw;
      int64_t lo, hi;
      valid_range(g->W, g->OW, g->sw, start, &lo, &hi);
      for (int64_t oh = 0; oh < g->OH; oh++) {
        const int64_t ih = oh * g->sh - g->ph + kh * g->dh;
        if (ih < 0 || ih >= g->H) continue;
        const float *r = row + oh * g->OW;
        float *dst = plane + ih * g->W + start;
        if (g->sw == 1) {
          for (int64_t ow = lo; ow < hi; ow++) dst[ow] += r[ow];
        } else {
          for (int64_t ow = lo; ow < hi; ow++) dst[ow * g->sw] += r[ow];
        }
      }
    }
  }
}

static dmf_im2col_t im2col_of(const geom *g, const float *xg) {
  const int64_t Cg = g->C / g->groups;
  dmf_im2col_t d = {xg,     Cg,     g->H,   g->W,   g->KH,  g->KW,  g->OH,
                    g->OW,  g->sh,  g->sw,  g->ph,  g->pw,  g->dh,  g->dw};
  return d;
}

/* y = conv2d(x, w): one GEMM per image and group, B the implicit im2col of the image (no
 * column buffer), or the image itself for pointwise convolutions. */
static void conv_forward(const geom *g, const float *x, const float *w, float *y) {
  const int64_t Cg = g->C / g->groups, Og = g->O / g->groups, Kc = Cg * g->KH * g->KW;
  const int64_t P = g->OH * g->OW;
  const int pw = pointwise(g);
  for (int64_t n = 0; n < g->N; n++) {
    for (int64_t grp = 0; grp < g->groups; grp++) {
      const float *xg = x + (n * g->C + grp * Cg) * g->H * g->W;
      const dmf_im2col_t col = im2col_of(g, xg);
      dmf_gemm_t m = {Og, P, Kc, w + grp * Og * Kc, Kc, 0, xg, P, 0,
                      y + (n * g->O + grp * Og) * P, P, 0, pw ? NULL : &col};
      gemm1(&m);
    }
  }
}

/** y = conv2d(x, w); meta = N, C, H, W, O, KH, KW, OH, OW, groups, stride h/w, pad h/w,
 * dilation h/w (int64). */
DMF_EXPORT void dmf_conv2d(const float *x, const float *w, float *y, const int64_t *meta) {
  LOCK();
  const geom g = read_geom(meta);
  dmf_advise_huge(y, g.N * g.O * g.OH * g.OW * (int64_t)sizeof(float));
  conv_forward(&g, x, w, y);
  UNLOCK();
}

/** dx = conv2d_input_grad(dy, w). */
DMF_EXPORT void dmf_conv2d_input_grad(const float *dy, const float *w, float *dx,
                                      const int64_t *meta) {
  LOCK();
  const geom g = read_geom(meta);
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, Kc = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW;
  const int pw = pointwise(&g);
  const int64_t qh = g.dh * (g.KH - 1) - g.ph, qw = g.dw * (g.KW - 1) - g.pw;
  if (!pw && g.sh == 1 && g.sw == 1 && qh >= 0 && qw >= 0) {
    /* Stride 1: dx is the convolution of dy with the flipped, transposed weights
     * w'[grp * Cg + c, o, kh, kw] = w[grp * Og + o, c, KH-1-kh, KW-1-kw], padded by
     * d (K - 1) - p: again an implicit-im2col GEMM. */
    const int64_t KK = g.KH * g.KW;
    float *wt = scratch_get(&wt_buf, (size_t)(g.O * Kc));
    for (int64_t grp = 0; grp < g.groups; grp++) {
      for (int64_t o = 0; o < Og; o++) {
        for (int64_t c = 0; c < Cg; c++) {
          const float *src = w + ((grp * Og + o) * Cg + c) * KK;
          float *dst = wt + ((grp * Cg + c) * Og + o) * KK;
          for (int64_t k = 0; k < KK; k++) dst[k] = src[KK - 1 - k];
        }
      }
    }
    const geom t = {g.N, g.O, g.OH, g.OW, g.C, g.KH, g.KW, g.H, g.W, g.groups, 1, 1, qh, qw,
                    g.dh, g.dw};
    conv_forward(&t, dy, wt, dx);
    UNLOCK();
    return;
  }
  /* General case: col [Kc, P] = w_g^T [Kc, Og] @ dy_g [Og, P], then col2im into dx. */
  float *col = pw ? NULL : scratch_get(&col_buf, (size_t)(Kc * P));
  memset(dx, 0, (size_t)(g.N * g.C * g.H * g.W) * sizeof(float));
  for (int64_t n = 0; n < g.N; n++) {
    for (int64_t grp = 0; grp < g.groups; grp++) {
      float *dxg = dx + (n * g.C + grp * Cg) * g.H * g.W;
      dmf_gemm_t m = {Kc, P, Og, w + grp * Og * Kc, Kc, 1, dy + (n * g.O + grp * Og) * P, P, 0,
                      pw ? dxg : col, P, pw, NULL};
      gemm1(&m);
      if (!pw) {
        col_job j = {&g, dxg, col};
        dmf_parallel(col2im_task, &j, Cg, Kc * P);
      }
    }
  }
  UNLOCK();
}

/** dw = conv2d_weight_grad(x, dy), summed over the batch. */
DMF_EXPORT void dmf_conv2d_weight_grad(const float *x, const float *dy, float *dw,
                                       const int64_t *meta) {
  LOCK();
  const geom g = read_geom(meta);
  const int64_t Cg = g.C / g.groups, Og = g.O / g.groups, Kc = Cg * g.KH * g.KW;
  const int64_t P = g.OH * g.OW;
  const int pw = pointwise(&g);
  for (int64_t n = 0; n < g.N; n++) {
    for (int64_t grp = 0; grp < g.groups; grp++) {
      const float *xg = x + (n * g.C + grp * Cg) * g.H * g.W;
      const dmf_im2col_t col = im2col_of(&g, xg);
      /* dw_g [Og, Kc] (+)= dy_g [Og, P] @ col^T [P, Kc] */
      dmf_gemm_t m = {Og, Kc, P, dy + (n * g.O + grp * Og) * P, P, 0, xg, P, 1,
                      dw + grp * Og * Kc, Kc, n > 0, pw ? NULL : &col};
      gemm1(&m);
    }
  }
  UNLOCK();
}

/* ---- elementwise ------------------------------------------------------------------------ */

#define MAX_RANK 8

typedef struct {
  int op, rank;
  const float *a, *b;
  void *o;
  size_t osize; /* output element size */
  int64_t shape[MAX_RANK], sa[MAX_RANK], sb[MAX_RANK];
  int64_t rows, len, chunk; /* rows of the last axis; elements per task when rank == 1 */
} bin_job;

static void bin_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const bin_job *j = (const bin_job *)ctx;
  const int r = j->rank;
  if (r == 1) {
    int64_t i0, i1;
    dmf_range(t, j->chunk, j->len, &i0, &i1);
    K->binary(j->op, j->a + i0 * j->sa[0], j->sa[0], j->b + i0 * j->sb[0], j->sb[0],
              (char *)j->o + i0 * j->osize, i1 - i0);
    return;
  }
  /* rows [t * chunk, ...) of the collapsed shape */
  int64_t r0, r1;
  dmf_range(t, j->chunk, j->rows, &r0, &r1);
  const int64_t L = j->shape[r - 1];
  for (int64_t row = r0; row < r1; row++) {
    int64_t rem = row, oa = 0, ob = 0;
    for (int d = r - 2; d >= 0; d--) {
      const int64_t i = rem % j->shape[d];
      rem /= j->shape[d];
      oa += i * j->sa[d];
      ob += i * j->sb[d];
    }
    K->binary(j->op, j->a + oa, j->sa[r - 1], j->b + ob, j->sb[r - 1],
              (char *)j->o + row * L * j->osize, L);
  }
}

/**
 * o = a op b with broadcasting. meta (int64): rank (1..8), shape, a strides, b strides, all over
 * the (collapsed) output shape; the last-axis strides must be 0 or 1.
 */
DMF_EXPORT void dmf_binary(int op, const float *a, const float *b, void *o, const int64_t *meta) {
  LOCK();
  bin_job j;
  memset(&j, 0, sizeof j);
  j.op = op;
  j.rank = (int)meta[0];
  j.a = a;
  j.b = b;
  j.o = o;
  j.osize = op >= BIN_FIRST_PREDICATE ? 1 : 4;
  int64_t total = 1;
  for (int d = 0; d < j.rank; d++) {
    j.shape[d] = meta[1 + d];
    j.sa[d] = meta[1 + j.rank + d];
    j.sb[d] = meta[1 + 2 * j.rank + d];
    total *= j.shape[d];
  }
  dmf_advise_huge(o, total * (int64_t)j.osize);
  if (total > 0) {
    const int T = dmf_threads();
    const int64_t par = total >= DMF_PAR_ELEMS && T > 1 ? 4 * T : 1;
    int64_t ntasks;
    if (j.rank == 1) {
      j.len = total;
      j.chunk = dmf_round_up((total + par - 1) / par, 64);
      ntasks = (total + j.chunk - 1) / j.chunk;
    } else {
      j.rows = total / j.shape[j.rank - 1];
      j.chunk = (j.rows + par - 1) / par;
      ntasks = (j.rows + j.chunk - 1) / j.chunk;
    }
    dmf_pool_run(bin_task, &j, ntasks);
  }
  UNLOCK();
}

typedef struct {
  int op;
  const float *a;
  void *o;
  size_t osize;
  int64_t n, chunk;
} un_job;

static void un_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const un_job *j = (const un_job *)ctx;
  int64_t i0, i1;
  dmf_range(t, j->chunk, j->n, &i0, &i1);
  K->unary(j->op, j->a + i0, (char *)j->o + i0 * j->osize, i1 - i0);
}

/** o = op(a) over n contiguous elements. */
DMF_EXPORT void dmf_unary(int op, const float *a, void *o, int64_t n) {
  LOCK();
  un_job j = {op, a, o, op >= UN_FIRST_PREDICATE ? 1 : 4, n, n};
  dmf_advise_huge(o, n * (int64_t)j.osize);
  const int T = dmf_threads();
  /* transcendental ops pay off from fewer elements than plain arithmetic */
  if (n >= DMF_PAR_ELEMS / 4 && T > 1) j.chunk = dmf_round_up((n + 4 * T - 1) / (4 * T), 64);
  if (n > 0) dmf_pool_run(un_task, &j, (n + j.chunk - 1) / j.chunk);
  UNLOCK();
}

/* ---- reductions and softmax ------------------------------------------------------------- */

typedef struct {
  int op;
  const float *x;
  float *o;
  int64_t outer, n, inner, chunk;
} red_job;

static void red_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const red_job *j = (const red_job *)ctx;
  if (j->outer > 1) {
    int64_t r0, r1;
    dmf_range(t, j->chunk, j->outer, &r0, &r1);
    K->reduce(j->op, j->x + r0 * j->n * j->inner, j->o + r0 * j->inner, r1 - r0, j->n, j->inner,
              j->inner);
  } else {
    /* one outer block: split the kept inner columns */
    int64_t c0, c1;
    dmf_range(t, j->chunk, j->inner, &c0, &c1);
    K->reduce(j->op, j->x + c0, j->o + c0, 1, j->n, c1 - c0, j->inner);
  }
}

/** Reduces x viewed as [outer, n, inner] over the middle axis into o [outer, inner]. */
DMF_EXPORT void dmf_reduce(int op, const float *x, float *o, int64_t outer, int64_t n,
                           int64_t inner) {
  LOCK();
  red_job j = {op, x, o, outer, n, inner, outer};
  const int T = dmf_threads();
  const int64_t total = outer * n * inner;
  int64_t ntasks = 1;
  if (total >= 4 * DMF_PAR_ELEMS && T > 1) {
    if (outer >= T) {
      j.chunk = (outer + T - 1) / T;
      ntasks = (outer + j.chunk - 1) / j.chunk;
    } else if (outer == 1 && inner >= 64 * T) {
      j.chunk = dmf_round_up((inner + T - 1) / T, 16);
      ntasks = (inner + j.chunk - 1) / j.chunk;
    }
  }
  if (ntasks == 1) {
    K->reduce(op, x, o, outer, n, inner, inner);
  } else {
    dmf_pool_run(red_task, &j, ntasks);
  }
  UNLOCK();
}

typedef struct {
  int log;
  const float *x;
  float *o;
  int64_t rows, n, chunk;
} sm_job;

static void sm_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const sm_job *j = (const sm_job *)ctx;
  int64_t r0, r1;
  dmf_range(t, j->chunk, j->rows, &r0, &r1);
  K->softmax(j->log, j->x + r0 * j->n, j->o + r0 * j->n, r1 - r0, j->n);
}

/** Softmax (log = 0) or log-softmax (log = 1) over rows of n contiguous values. */
DMF_EXPORT void dmf_softmax(int log, const float *x, float *o, int64_t rows, int64_t n) {
  LOCK();
  sm_job j = {log, x, o, rows, n, rows};
  dmf_advise_huge(o, rows * n * (int64_t)sizeof(float));
  const int T = dmf_threads();
  if (rows * n >= DMF_PAR_ELEMS / 4 && rows >= 2 && T > 1) {
    const int64_t parts = rows < 4 * T ? rows : 4 * T;
    j.chunk = (rows + parts - 1) / parts;
  }
  if (rows > 0) dmf_pool_run(sm_task, &j, (rows + j.chunk - 1) / j.chunk);
  UNLOCK();
}

/* ---- strided copy ----------------------------------------------------------------------- */

typedef struct {
  const char *src;
  char *dst;
  int64_t es; /* element size in bytes */
  int rank;
  int64_t shape[MAX_RANK], st[MAX_RANK]; /* input strides (elements) per output axis */
  int tr;                                /* axis with input stride 1 for the tiled path, or -1 */
  int64_t outer, chunk;                  /* outer index space split over tasks */
} sc_job;

static inline void copy_el(char *d, const char *s, int64_t es) {
  switch (es) {
    case 4: *(uint32_t *)d = *(const uint32_t *)s; break;
    case 1: *d = *s; break;
    case 8: *(uint64_t *)d = *(const uint64_t *)s; break;
    default: memcpy(d, s, (size_t)es); break;
  }
}

/* Output strides (elements) of a contiguous tensor of shape. */
static void out_strides(const sc_job *j, int64_t *os) {
  int64_t acc = 1;
  for (int d = j->rank - 1; d >= 0; d--) {
    os[d] = acc;
    acc *= j->shape[d];
  }
}

static void sc_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const sc_job *j = (const sc_job *)ctx;
  const int r = j->rank;
  const int64_t es = j->es;
  int64_t os[MAX_RANK];
  out_strides(j, os);
  int64_t o0, o1;
  dmf_range(t, j->chunk, j->outer, &o0, &o1);
  if (j->tr < 0) {
    /* rows of the last axis; outer = product of the other axes */
    const int64_t L = j->shape[r - 1], sl = j->st[r - 1];
    for (int64_t row = o0; row < o1; row++) {
      int64_t rem = row, off = 0;
      for (int d = r - 2; d >= 0; d--) {
        off += (rem % j->shape[d]) * j->st[d];
        rem /= j->shape[d];
      }
      const char *s = j->src + off * es;
      char *dd = j->dst + row * L * es;
      if (sl == 1) {
        memcpy(dd, s, (size_t)(L * es));
      } else if (es == 4) {
        const uint32_t *s4 = (const uint32_t *)s;
        uint32_t *d4 = (uint32_t *)dd;
        for (int64_t i = 0; i < L; i++) d4[i] = s4[i * sl];
      } else {
        for (int64_t i = 0; i < L; i++) copy_el(dd + i * es, s + i * sl * es, es);
      }
    }
    return;
  }
  /* Tiled transpose between axis tr (input stride 1) and the last axis (output stride 1);
   * outer = product of the remaining axes. */
  const int a = j->tr, l = r - 1;
  const int64_t A = j->shape[a], L = j->shape[l], sL = j->st[l], oA = os[a];
  enum { TB = 32 };
  for (int64_t blk = o0; blk < o1; blk++) {
    int64_t rem = blk, ioff = 0, ooff = 0;
    for (int d = r - 2; d >= 0; d--) {
      if (d == a) continue;
      const int64_t i = rem % j->shape[d];
      rem /= j->shape[d];
      ioff += i * j->st[d];
      ooff += i * os[d];
    }
    for (int64_t i0 = 0; i0 < A; i0 += TB) {
      const int64_t i1 = i0 + TB < A ? i0 + TB : A;
      for (int64_t k0 = 0; k0 < L; k0 += TB) {
        const int64_t k1 = k0 + TB < L ? k0 + TB : L;
        if (es == 4) {
          const uint32_t *s4 = (const uint32_t *)j->src + ioff;
          uint32_t *d4 = (uint32_t *)j->dst + ooff;
          for (int64_t i = i0; i < i1; i++) {
            for (int64_t k = k0; k < k1; k++) d4[i * oA + k] = s4[i + k * sL];
          }
        } else {
          for (int64_t i = i0; i < i1; i++) {
            for (int64_t k = k0; k < k1; k++) {
              copy_el(j->dst + (ooff + i * oA + k) * es, j->src + (ioff + i + k * sL) * es, es);
            }
          }
        }
      }
    }
  }
}

/**
 * Contiguous out[idx] = src[offset + sum idx[d] * strides[d]] for elements of `es` bytes.
 * meta (int64): rank (0..8), offset, shape, strides.
 */
DMF_EXPORT void dmf_strided_copy(const void *src, void *dst, int64_t es, const int64_t *meta) {
  LOCK();
  sc_job j;
  memset(&j, 0, sizeof j);
  j.es = es;
  j.src = (const char *)src + meta[1] * es;
  j.dst = (char *)dst;
  const int rank = (int)meta[0];
  int64_t total = 1;
  /* drop size-1 axes, merge axes contiguous in the input */
  for (int d = 0; d < rank; d++) {
    const int64_t n = meta[2 + d], s = meta[2 + rank + d];
    total *= n;
    if (n == 1) continue;
    if (j.rank > 0 && j.st[j.rank - 1] == s * n) {
      j.shape[j.rank - 1] *= n;
      j.st[j.rank - 1] = s;
    } else {
      j.shape[j.rank] = n;
      j.st[j.rank] = s;
      j.rank++;
    }
  }
  if (total == 0) {
    UNLOCK();
    return;
  }
  dmf_advise_huge(dst, total * es);
  if (j.rank == 0) {
    j.rank = 1;
    j.shape[0] = 1;
    j.st[0] = 1;
  }
  j.tr = -1;
  const int r = j.rank;
  if (j.st[r - 1] != 1 && j.shape[r - 1] >= 4) {
    for (int d = r - 2; d >= 0; d--) {
      if (j.st[d] == 1 && j.shape[d] >= 4) {
        j.tr = d;
        break;
      }
    }
  }
  j.outer = total / j.shape[r - 1];
  if (j.tr >= 0) j.outer /= j.shape[j.tr];
  const int T = dmf_threads();
  int64_t ntasks = 1;
  j.chunk = j.outer;
  if (total >= 4 * DMF_PAR_ELEMS && T > 1 && j.outer >= 2) {
    const int64_t parts = j.outer < 4 * T ? j.outer : 4 * T;
    j.chunk = (j.outer + parts - 1) / parts;
    ntasks = (j.outer + j.chunk - 1) / j.chunk;
  }
  dmf_pool_run(sc_task, &j, ntasks);
  UNLOCK();
}
