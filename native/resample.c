/*
 * Resampling kernels: nearest / bilinear resize and grid_sample, with their backward passes.
 * The source-index maps of resize come from the caller (the reference's float32 coordinate
 * math); weights and sums are evaluated in f64 in the reference's order and rounded once, so
 * results are bit-identical to it. Backward passes add into dx plane by plane (one task
 * owns a plane, or a band of input rows of it), keeping the reference's order per element.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dmf.h"

/* no fused multiply-adds: results must round like the reference (GCC: off under -std=c11) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

/* ---- nearest ---------------------------------------------------------------------------- */

typedef struct {
  const char *x;
  char *o;
  int64_t es, planes, H, W, OH, OW, chunk;
  const int32_t *rows, *cols; /* source row of each output row, source column of each column */
} nearest_job;

static void nearest_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const nearest_job *j = (const nearest_job *)ctx;
  const int64_t total = j->planes * j->OH, es = j->es;
  int64_t r0, r1;
  dmf_range(t, j->chunk, total, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->OH, i = r % j->OH;
    const char *src = j->x + (p * j->H + j->rows[i]) * j->W * es;
    char *dst = j->o + r * j->OW * es;
    if (es == 4) {
      const uint32_t *s4 = (const uint32_t *)src;
      uint32_t *d4 = (uint32_t *)dst;
      for (int64_t c = 0; c < j->OW; c++) d4[c] = s4[j->cols[c]];
    } else {
      for (int64_t c = 0; c < j->OW; c++) dmf_copy_el(dst + c * es, src + j->cols[c] * es, es);
    }
  }
}

/** out [planes, OH, OW] = x [planes, H, W] at (rows[i], cols[j]); elements of es bytes. */
DMF_EXPORT void dmf_resize_nearest(const void *x, void *out, int64_t es, const int64_t *meta,
                                   const int32_t *rows, const int32_t *cols) {
  dmf_lock();
  nearest_job j = {(const char *)x, (char *)out, es, meta[0], meta[1], meta[2], meta[3], meta[4],
                   0, rows, cols};
  const int64_t total = j.planes * j.OH;
  dmf_advise_huge(out, total * j.OW * es);
  j.chunk = dmf_chunk(total);
  if (total > 0 && j.OW > 0) {
    dmf_parallel(nearest_task, &j, (total + j.chunk - 1) / j.chunk, total * j.OW);
  }
  dmf_unlock();
}

typedef struct {
  const float *dy;
  float *dx;
  int64_t planes, H, W, OH, OW, chunk;
  const int32_t *cols;
  const int64_t *first; /* output rows [first[h], first[h + 1]) read input row h */
} nearest_back_job;

static void nearest_back_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const nearest_back_job *j = (const nearest_back_job *)ctx;
  const int64_t total = j->planes * j->H;
  int64_t r0, r1;
  dmf_range(t, j->chunk, total, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->H, h = r % j->H;
    float *restrict d = j->dx + r * j->W;
    for (int64_t i = j->first[h]; i < j->first[h + 1]; i++) {
      const float *restrict g = j->dy + (p * j->OH + i) * j->OW;
      for (int64_t c = 0; c < j->OW; c++) d[j->cols[c]] += g[c];
    }
  }
}

/** dx [planes, H, W] += the gradient of resize_nearest; rows must be non-decreasing. */
DMF_EXPORT void dmf_resize_nearest_backward(const float *dy, float *dx, const int64_t *meta,
                                            const int32_t *rows, const int32_t *cols) {
  dmf_lock();
  nearest_back_job j = {dy, dx, meta[0], meta[1], meta[2], meta[3], meta[4], 0, cols, NULL};
  int64_t *first = (int64_t *)malloc((size_t)(j.H + 1) * sizeof(int64_t));
  if (first) {
    int64_t i = 0;
    for (int64_t h = 0; h <= j.H; h++) {
      while (i < j.OH && rows[i] < h) i++;
      first[h] = i;
    }
    j.first = first;
    const int64_t total = j.planes * j.H;
    j.chunk = dmf_chunk(total);
    if (total > 0) {
      dmf_parallel(nearest_back_task, &j, (total + j.chunk - 1) / j.chunk, j.planes * j.OH * j.OW);
    }
    free(first);
  }
  dmf_unlock();
}

/* ---- bilinear --------------------------------------------------------------------------- */

/* Source pair and weight of the second source for each output row / column. */
typedef struct {
  const int32_t *ri, *ci; /* (i0, i1) pairs */
  const double *rl, *cl;  /* l1 per row / column */
} lin_maps;

typedef struct {
  const float *x;
  float *o;
  int64_t planes, H, W, OH, OW, chunk;
  lin_maps m;
} bilinear_job;

/* Horizontal pass of one source row: h[c] = (1 - lw) x[w0] + lw x[w1], in f64. */
static void bilinear_row(const bilinear_job *j, const float *x, double *h) {
  for (int64_t c = 0; c < j->OW; c++) {
    const double lw = j->m.cl[c];
    h[c] = (1 - lw) * (double)x[j->m.ci[2 * c]] + lw * (double)x[j->m.ci[2 * c + 1]];
  }
}

/* Output rows of a task; consecutive output rows mostly read the same two source rows, so
 * the horizontal passes of the last two source rows are kept (the same f64 values the
 * reference computes per output element). */
static void bilinear_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const bilinear_job *j = (const bilinear_job *)ctx;
  const int64_t total = j->planes * j->OH;
  int64_t r0, r1;
  dmf_range(t, j->chunk, total, &r0, &r1);
  double *buf = (double *)malloc((size_t)(2 * j->OW) * sizeof(double));
  if (!buf) return;
  double *rows[2] = {buf, buf + j->OW};
  int64_t keys[2] = {-1, -1}; /* source row (plane * H + h) held by each buffer */
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->OH, i = r % j->OH;
    const int64_t want[2] = {p * j->H + j->m.ri[2 * i], p * j->H + j->m.ri[2 * i + 1]};
    /* top row in buffer b0 (keeping the bottom one if held), bottom row in b0 or the other */
    int b0 = keys[0] == want[0] ? 0 : keys[1] == want[0] ? 1 : -1;
    if (b0 < 0) {
      b0 = keys[0] == want[1] ? 1 : 0;
      bilinear_row(j, j->x + want[0] * j->W, rows[b0]);
      keys[b0] = want[0];
    }
    int b1 = keys[b0] == want[1] ? b0 : keys[1 - b0] == want[1] ? 1 - b0 : -1;
    if (b1 < 0) {
      b1 = 1 - b0;
      bilinear_row(j, j->x + want[1] * j->W, rows[b1]);
      keys[b1] = want[1];
    }
    const double lh = j->m.rl[i];
    const double *restrict top = rows[b0], *restrict bottom = rows[b1];
    float *restrict o = j->o + r * j->OW;
    for (int64_t c = 0; c < j->OW; c++) o[c] = (float)((1 - lh) * top[c] + lh * bottom[c]);
  }
  free(buf);
}

/** Bilinear resize x [planes, H, W] -> out [planes, OH, OW] with the given source maps. */
DMF_EXPORT void dmf_resize_bilinear(const float *x, float *out, const int64_t *meta,
                                    const int32_t *ri, const double *rl, const int32_t *ci,
                                    const double *cl) {
  dmf_lock();
  bilinear_job j = {x, out, meta[0], meta[1], meta[2], meta[3], meta[4], 0, {ri, ci, rl, cl}};
  const int64_t total = j.planes * j.OH;
  dmf_advise_huge(out, total * j.OW * (int64_t)sizeof(float));
  j.chunk = dmf_chunk(total);
  if (total > 0 && j.OW > 0) {
    dmf_parallel(bilinear_task, &j, (total + j.chunk - 1) / j.chunk, total * j.OW);
  }
  dmf_unlock();
}

typedef struct {
  const float *dy;
  float *dx;
  int64_t H, W, OH, OW;
  lin_maps m;
} bilinear_back_job;

static inline void add_d(float *d, double v) { *d = (float)((double)*d + v); }

static void bilinear_back_task(void *ctx, int64_t p, int tid) {
  (void)tid;
  const bilinear_back_job *j = (const bilinear_back_job *)ctx;
  float *dx = j->dx + p * j->H * j->W;
  for (int64_t i = 0; i < j->OH; i++) {
    const int64_t h0 = j->m.ri[2 * i], h1 = j->m.ri[2 * i + 1];
    const double lh = j->m.rl[i];
    const float *g = j->dy + (p * j->OH + i) * j->OW;
    for (int64_t c = 0; c < j->OW; c++) {
      const int64_t w0 = j->m.ci[2 * c], w1 = j->m.ci[2 * c + 1];
      const double lw = j->m.cl[c], v = g[c];
      add_d(dx + h0 * j->W + w0, (1 - lh) * (1 - lw) * v);
      add_d(dx + h0 * j->W + w1, (1 - lh) * lw * v);
      add_d(dx + h1 * j->W + w0, lh * (1 - lw) * v);
      add_d(dx + h1 * j->W + w1, lh * lw * v);
    }
  }
}

/** dx [planes, H, W] += the gradient of resize_bilinear for dy [planes, OH, OW]. */
DMF_EXPORT void dmf_resize_bilinear_backward(const float *dy, float *dx, const int64_t *meta,
                                             const int32_t *ri, const double *rl,
                                             const int32_t *ci, const double *cl) {
  dmf_lock();
  bilinear_back_job j = {dy, dx, meta[1], meta[2], meta[3], meta[4], {ri, ci, rl, cl}};
  const int64_t planes = meta[0];
  dmf_parallel(bilinear_back_task, &j, planes, planes * j.OH * j.OW);
  dmf_unlock();
}

/* ---- grid_sample (bilinear, zeros padding, align_corners = false) ------------------------ */

enum { QB = 256 }; /* grid points per block */

/* Bilinear corners of one grid point: plane offsets (-1 outside) and weights, in the order
 * (y0, x0), (y0, x0 + 1), (y0 + 1, x0), (y0 + 1, x0 + 1); also the fractions tx, ty. */
typedef struct {
  int64_t off[4];
  double w[4], tx, ty;
} corners_t;

static void locate(float gx, float gy, int64_t H, int64_t W, corners_t *c) {
  const double ix = (((double)gx + 1) * (double)W - 1) / 2;
  const double iy = (((double)gy + 1) * (double)H - 1) / 2;
  const double x0 = floor(ix), y0 = floor(iy);
  const double tx = ix - x0, ty = iy - y0;
  c->tx = tx;
  c->ty = ty;
  c->w[0] = (1 - tx) * (1 - ty);
  c->w[1] = tx * (1 - ty);
  c->w[2] = (1 - tx) * ty;
  c->w[3] = tx * ty;
  for (int k = 0; k < 4; k++) {
    const double yy = y0 + (k >> 1), xx = x0 + (k & 1);
    c->off[k] = yy >= 0 && yy < (double)H && xx >= 0 && xx < (double)W
                    ? (int64_t)yy * W + (int64_t)xx
                    : -1;
  }
}

typedef struct {
  const float *x, *grid, *dy;
  float *o, *dx, *dg;
  int64_t N, C, H, W, Q, qblocks, cparts, cchunk;
} grid_job;

static void grid_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const grid_job *j = (const grid_job *)ctx;
  const int64_t n = t / j->qblocks, q0 = (t % j->qblocks) * QB;
  const int64_t nq = j->Q - q0 < QB ? j->Q - q0 : QB;
  corners_t cs[QB];
  for (int64_t q = 0; q < nq; q++) {
    const float *g = j->grid + (n * j->Q + q0 + q) * 2;
    locate(g[0], g[1], j->H, j->W, &cs[q]);
  }
  for (int64_t c = 0; c < j->C; c++) {
    const float *plane = j->x + (n * j->C + c) * j->H * j->W;
    float *o = j->o + (n * j->C + c) * j->Q + q0;
    for (int64_t q = 0; q < nq; q++) {
      double s = 0;
      for (int k = 0; k < 4; k++) {
        if (cs[q].off[k] >= 0) s += cs[q].w[k] * (double)plane[cs[q].off[k]];
      }
      o[q] = (float)s;
    }
  }
}

/** out [N, C, OH, OW] = grid_sample(x [N, C, H, W], grid [N, OH, OW, 2]); meta = N, C, H, W, Q. */
DMF_EXPORT void dmf_grid_sample(const float *x, const float *grid, float *out,
                                const int64_t *meta) {
  dmf_lock();
  grid_job j = {x, grid, NULL, out, NULL, NULL, meta[0], meta[1], meta[2], meta[3], meta[4],
                0, 0, 0};
  j.qblocks = (j.Q + QB - 1) / QB;
  dmf_parallel(grid_task, &j, j.N * j.qblocks, j.N * j.C * j.Q * 4);
  dmf_unlock();
}

/* dx: task (n, channel band); each plane sees its grid points in order. */
static void grid_dx_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const grid_job *j = (const grid_job *)ctx;
  const int64_t n = t / j->cparts, c0 = (t % j->cparts) * j->cchunk;
  const int64_t c1 = c0 + j->cchunk < j->C ? c0 + j->cchunk : j->C;
  corners_t cs[QB];
  for (int64_t q0 = 0; q0 < j->Q; q0 += QB) {
    const int64_t nq = j->Q - q0 < QB ? j->Q - q0 : QB;
    for (int64_t q = 0; q < nq; q++) {
      const float *g = j->grid + (n * j->Q + q0 + q) * 2;
      locate(g[0], g[1], j->H, j->W, &cs[q]);
    }
    for (int64_t c = c0; c < c1; c++) {
      float *plane = j->dx + (n * j->C + c) * j->H * j->W;
      const float *go = j->dy + (n * j->C + c) * j->Q + q0;
      for (int64_t q = 0; q < nq; q++) {
        for (int k = 0; k < 4; k++) {
          if (cs[q].off[k] >= 0) add_d(plane + cs[q].off[k], cs[q].w[k] * (double)go[q]);
        }
      }
    }
  }
}

/* dgrid: task (n, block of grid points); channels summed in order per point. */
static void grid_dg_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const grid_job *j = (const grid_job *)ctx;
  const int64_t n = t / j->qblocks, q0 = (t % j->qblocks) * QB;
  const int64_t nq = j->Q - q0 < QB ? j->Q - q0 : QB;
  corners_t cs[QB];
  double dix[QB], diy[QB];
  for (int64_t q = 0; q < nq; q++) {
    const float *g = j->grid + (n * j->Q + q0 + q) * 2;
    locate(g[0], g[1], j->H, j->W, &cs[q]);
    dix[q] = diy[q] = 0;
  }
  for (int64_t c = 0; c < j->C; c++) {
    const float *plane = j->x + (n * j->C + c) * j->H * j->W;
    const float *go = j->dy + (n * j->C + c) * j->Q + q0;
    for (int64_t q = 0; q < nq; q++) {
      const corners_t *k = &cs[q];
      const double v00 = k->off[0] >= 0 ? plane[k->off[0]] : 0;
      const double v01 = k->off[1] >= 0 ? plane[k->off[1]] : 0;
      const double v10 = k->off[2] >= 0 ? plane[k->off[2]] : 0;
      const double v11 = k->off[3] >= 0 ? plane[k->off[3]] : 0;
      const double g = go[q];
      dix[q] += g * ((v01 - v00) * (1 - k->ty) + (v11 - v10) * k->ty);
      diy[q] += g * ((v10 - v00) * (1 - k->tx) + (v11 - v01) * k->tx);
    }
  }
  for (int64_t q = 0; q < nq; q++) {
    float *d = j->dg + (n * j->Q + q0 + q) * 2;
    d[0] = (float)(dix[q] * (double)j->W / 2);
    d[1] = (float)(diy[q] * (double)j->H / 2);
  }
}

/** dx += and dgrid = the gradients of grid_sample from dy [N, C, OH, OW]. */
DMF_EXPORT void dmf_grid_sample_backward(const float *x, const float *grid, const float *dy,
                                         float *dx, float *dgrid, const int64_t *meta) {
  dmf_lock();
  grid_job j = {x, grid, dy, NULL, dx, dgrid, meta[0], meta[1], meta[2], meta[3], meta[4],
                0, 0, 0};
  j.qblocks = (j.Q + QB - 1) / QB;
  const int64_t parts = 4 * (int64_t)dmf_threads();
  j.cparts = j.N >= parts || j.C == 0 ? 1 : (parts + j.N - 1) / j.N;
  if (j.cparts > j.C && j.C > 0) j.cparts = j.C;
  j.cchunk = j.C == 0 ? 1 : (j.C + j.cparts - 1) / j.cparts;
  const int64_t work = j.N * j.C * j.Q * 4;
  dmf_parallel(grid_dx_task, &j, j.N * j.cparts, work);
  dmf_parallel(grid_dg_task, &j, j.N * j.qblocks, work);
  dmf_unlock();
}
