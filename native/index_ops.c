/*
 * Indexing kernels with i32 indices: gather, scatter_add, index_select, index_add.
 * Each returns the number of out-of-range indices (skipped); the caller then runs the
 * reference kernel, which raises the error. The scatters add in f32 and split work only
 * across the axes that are not indexed, so every output element receives its additions in
 * the reference's order (bit-identical results, no races).
 */
#include <stdatomic.h>
#include <string.h>

#include "dmf.h"

#define MAX_RANK 8
enum { COLS = 256 }; /* inner positions per task */

/* A tensor op viewed around `axis`: shapes of the index (driving) tensor and of up to two
 * addressed tensors, with contiguous strides. */
typedef struct {
  int rank, axis;
  int64_t ishape[MAX_RANK];           /* index shape */
  int64_t s1[MAX_RANK], s2[MAX_RANK]; /* strides of the first / second addressed tensor */
  int64_t n1;                         /* size of the first tensor along the axis */
  int64_t outer, n, inner, col_tasks; /* index viewed as [outer, n, inner] */
} view_t;

static void strides_of(const int64_t *shape, int rank, int64_t *st) {
  int64_t acc = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= shape[d];
  }
}

/* meta (int64): rank, axis, index shape, first shape, second shape (rank values each). */
static view_t read_view(const int64_t *meta, int with_second) {
  view_t v;
  memset(&v, 0, sizeof v);
  v.rank = (int)meta[0];
  v.axis = (int)meta[1];
  int64_t sh1[MAX_RANK], sh2[MAX_RANK];
  for (int d = 0; d < v.rank; d++) {
    v.ishape[d] = meta[2 + d];
    sh1[d] = meta[2 + v.rank + d];
    sh2[d] = with_second ? meta[2 + 2 * v.rank + d] : sh1[d];
  }
  strides_of(sh1, v.rank, v.s1);
  strides_of(sh2, v.rank, v.s2);
  v.n1 = sh1[v.axis];
  v.outer = v.inner = 1;
  for (int d = 0; d < v.axis; d++) v.outer *= v.ishape[d];
  for (int d = v.axis + 1; d < v.rank; d++) v.inner *= v.ishape[d];
  v.n = v.ishape[v.axis];
  v.col_tasks = (v.inner + COLS - 1) / COLS;
  return v;
}

/* Offsets in both addressed tensors of flat position f over index axes [d0, d1). */
static void offsets(const view_t *v, int64_t f, int d0, int d1, int64_t *o1, int64_t *o2) {
  int64_t a = 0, b = 0;
  for (int d = d1 - 1; d >= d0; d--) {
    const int64_t c = f % v->ishape[d];
    f /= v->ishape[d];
    a += c * v->s1[d];
    b += c * v->s2[d];
  }
  *o1 = a;
  *o2 = b;
}

/* Task t covers outer row *i and inner positions [k0, k0 + *w): returns k0 and fills the
 * row's offsets (o1, o2) and the positions' offsets (k1, k2) in both addressed tensors. */
static int64_t task_cols(const view_t *v, int64_t t, int64_t *i, int64_t *w, int64_t *o1,
                         int64_t *o2, int64_t *k1, int64_t *k2) {
  *i = t / v->col_tasks;
  const int64_t k0 = (t % v->col_tasks) * COLS;
  *w = v->inner - k0 < COLS ? v->inner - k0 : COLS;
  offsets(v, *i, 0, v->axis, o1, o2);
  for (int64_t k = 0; k < *w; k++) offsets(v, k0 + k, v->axis + 1, v->rank, &k1[k], &k2[k]);
  return k0;
}

/* ---- gather ----------------------------------------------------------------------------- */

typedef struct {
  view_t v; /* first: x, second: out (= index shape) */
  const int32_t *index;
  const char *x;
  char *out;
  int64_t es;
  atomic_llong bad;
} gather_job;

static void gather_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  gather_job *j = (gather_job *)ctx;
  const view_t *v = &j->v;
  int64_t i, w, xo, unused, kx[COLS], kunused[COLS];
  const int64_t k0 = task_cols(v, t, &i, &w, &xo, &unused, kx, kunused);
  const int64_t sa = v->s1[v->axis], es = j->es;
  int64_t bad = 0;
  for (int64_t r = 0; r < v->n; r++) {
    const int64_t p = (i * v->n + r) * v->inner + k0; /* flat index position */
    for (int64_t k = 0; k < w; k++) {
      const int64_t s = dmf_index(j->index[p + k], v->n1);
      if (s < 0) {
        bad++;
        continue;
      }
      dmf_copy_el(j->out + (p + k) * es, j->x + (xo + s * sa + kx[k]) * es, es);
    }
  }
  if (bad) atomic_fetch_add_explicit(&j->bad, bad, memory_order_relaxed);
}

/** out = torch.gather(x, axis, index); meta = rank, axis, index shape, x shape. */
DMF_EXPORT int64_t dmf_gather(const void *x, const int32_t *index, void *out, int64_t es,
                              const int64_t *meta) {
  dmf_lock();
  gather_job j;
  memset(&j, 0, sizeof j);
  j.v = read_view(meta, 0);
  j.index = index;
  j.x = (const char *)x;
  j.out = (char *)out;
  j.es = es;
  const int64_t total = j.v.outer * j.v.n * j.v.inner;
  if (total > 0) dmf_parallel(gather_task, &j, j.v.outer * j.v.col_tasks, total);
  const int64_t bad = atomic_load(&j.bad);
  dmf_unlock();
  return bad;
}

/* ---- scatter_add ------------------------------------------------------------------------ */

typedef struct {
  view_t v; /* first: out (= x), second: src */
  const int32_t *index;
  const float *src;
  float *out;
  atomic_llong bad;
} scatter_job;

static void scatter_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  scatter_job *j = (scatter_job *)ctx;
  const view_t *v = &j->v;
  int64_t i, w, oo, so, ko[COLS], ks[COLS];
  const int64_t k0 = task_cols(v, t, &i, &w, &oo, &so, ko, ks);
  const int64_t oa = v->s1[v->axis], sa = v->s2[v->axis];
  int64_t bad = 0;
  for (int64_t r = 0; r < v->n; r++) {
    const int32_t *ix = j->index + (i * v->n + r) * v->inner + k0;
    const float *s = j->src + so + r * sa;
    for (int64_t k = 0; k < w; k++) {
      const int64_t d = dmf_index(ix[k], v->n1);
      if (d < 0) {
        bad++;
        continue;
      }
      j->out[oo + d * oa + ko[k]] += s[ks[k]];
    }
  }
  if (bad) atomic_fetch_add_explicit(&j->bad, bad, memory_order_relaxed);
}

/** out = x, then out[.., index[p], ..] += src[p] along axis; meta = rank, axis, index shape,
 * x shape, src shape. */
DMF_EXPORT int64_t dmf_scatter_add(const float *x, const int32_t *index, const float *src,
                                   float *out, const int64_t *meta) {
  dmf_lock();
  scatter_job j;
  memset(&j, 0, sizeof j);
  j.v = read_view(meta, 1);
  j.index = index;
  j.src = src;
  j.out = out;
  int64_t xn = 1;
  for (int d = 0; d < j.v.rank; d++) xn *= meta[2 + j.v.rank + d];
  if (out != x) memcpy(out, x, (size_t)xn * sizeof(float));
  const int64_t total = j.v.outer * j.v.n * j.v.inner;
  if (total > 0) dmf_parallel(scatter_task, &j, j.v.outer * j.v.col_tasks, total);
  const int64_t bad = atomic_load(&j.bad);
  dmf_unlock();
  return bad;
}

/* ---- index_select / index_add ----------------------------------------------------------- */

typedef struct {
  const int32_t *index;
  const char *x;
  char *out;
  int64_t es, outer, n, m, inner, chunk; /* x [outer, n, inner], out [outer, m, inner] */
} select_job;

static void select_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const select_job *j = (const select_job *)ctx;
  const int64_t rows = j->outer * j->m, B = j->inner * j->es;
  int64_t r0, r1;
  dmf_range(t, j->chunk, rows, &r0, &r1);
  for (int64_t row = r0; row < r1; row++) {
    const int64_t i = row / j->m, s = dmf_index(j->index[row % j->m], j->n);
    memcpy(j->out + row * B, j->x + (i * j->n + s) * B, (size_t)B);
  }
}

static int64_t count_bad(const int32_t *index, int64_t m, int64_t n) {
  int64_t bad = 0;
  for (int64_t j = 0; j < m; j++) bad += dmf_index(index[j], n) < 0;
  return bad;
}

/** out [outer, m, inner] = x [outer, n, inner] rows picked by index (m entries). */
DMF_EXPORT int64_t dmf_index_select(const void *x, const int32_t *index, void *out, int64_t es,
                                    int64_t outer, int64_t n, int64_t m, int64_t inner) {
  dmf_lock();
  const int64_t bad = count_bad(index, m, n);
  if (bad == 0 && outer * m * inner > 0) {
    select_job j = {index, (const char *)x, (char *)out, es, outer, n, m, inner,
                    dmf_chunk(outer * m)};
    dmf_parallel(select_task, &j, (outer * m + j.chunk - 1) / j.chunk, outer * m * inner);
  }
  dmf_unlock();
  return bad;
}

typedef struct {
  const int32_t *index;
  const float *src;
  float *out;
  int64_t outer, n, m, inner, col_tasks;
} add_job;

static void index_add_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const add_job *j = (const add_job *)ctx;
  const int64_t i = t / j->col_tasks, k0 = (t % j->col_tasks) * COLS;
  const int64_t k1 = k0 + COLS < j->inner ? k0 + COLS : j->inner;
  for (int64_t r = 0; r < j->m; r++) {
    const int64_t d = dmf_index(j->index[r], j->n);
    float *restrict o = j->out + (i * j->n + d) * j->inner;
    const float *restrict s = j->src + (i * j->m + r) * j->inner;
    for (int64_t k = k0; k < k1; k++) o[k] += s[k];
  }
}

/** out = x; out[i, index[r], k] += src[i, r, k] with x [outer, n, inner], src [outer, m, inner]. */
DMF_EXPORT int64_t dmf_index_add(const float *x, const int32_t *index, const float *src,
                                 float *out, int64_t outer, int64_t n, int64_t m, int64_t inner) {
  dmf_lock();
  const int64_t bad = count_bad(index, m, n);
  if (out != x) memcpy(out, x, (size_t)(outer * n * inner) * sizeof(float));
  if (bad == 0 && outer * m * inner > 0) {
    add_job j = {index, src, out, outer, n, m, inner, (inner + COLS - 1) / COLS};
    dmf_parallel(index_add_task, &j, outer * j.col_tasks, outer * m * inner);
  }
  dmf_unlock();
  return bad;
}
