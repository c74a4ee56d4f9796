/*
 * layer_norm / group_norm forward and backward (f32) over the rows of
 * src/backend/norm_geometry.ts: x is [n, groups, cg, hw], each (n, g) a row of cg * hw
 * contiguous values whose element (k, h) uses affine channel g * cg + k (LayerNorm: groups = 1,
 * hw = 1). Sums run in double and every output is rounded once, so results are within an ulp
 * or two of the float64 reference. Rows are split over the pool; the weight / bias gradients
 * are summed per task of a fixed row count and then in task order, so they do not depend on
 * the thread count.
 */
#include <math.h>
#include <stdlib.h>

#include "dmf.h"

typedef struct {
  const float *x, *w, *b, *gy, *mean, *rstd;
  float *y, *mu, *rs, *dx;
  double *acc; /* backward: [tasks][2 * channels] sums of gy * xhat and gy, or NULL */
  int64_t rows, groups, cg, hw, chunk;
  double eps;
} norm_job;


static double sum_sq_dev(const float *x, int64_t n, double m) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double d0 = x[i] - m, d1 = x[i + 1] - m, d2 = x[i + 2] - m, d3 = x[i + 3] - m;
    s0 += d0 * d0;
    s1 += d1 * d1;
    s2 += d2 * d2;
    s3 += d3 * d3;
  }
  for (; i < n; i++) s0 += (x[i] - m) * (x[i] - m);
  return (s0 + s1) + (s2 + s3);
}

static void forward_row(const norm_job *j, int64_t r) {
  const int64_t hw = j->hw, len = j->cg * hw, c0 = (r % j->groups) * j->cg;
  const float *x = j->x + r * len;
  float *y = j->y + r * len;
  const double m = dmf_sum_f32(x, len) / (double)len;
  const double inv = 1.0 / sqrt(sum_sq_dev(x, len, m) / (double)len + j->eps);
  j->mu[r] = (float)m;
  j->rs[r] = (float)inv;
  const float *w = j->w ? j->w + c0 : NULL, *b = j->b ? j->b + c0 : NULL;
  if (hw == 1) {
    for (int64_t i = 0; i < len; i++) {
      y[i] = (float)((x[i] - m) * inv * (w ? w[i] : 1.0f) + (b ? b[i] : 0.0f));
    }
    return;
  }
  for (int64_t k = 0; k < j->cg; k++) {
    const double scale = w ? w[k] * inv : inv, shift = b ? b[k] : 0.0;
    for (int64_t i = k * hw; i < (k + 1) * hw; i++) y[i] = (float)((x[i] - m) * scale + shift);
  }
}

static void forward_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const norm_job *j = (const norm_job *)ctx;
  const int64_t r1 = (t + 1) * j->chunk < j->rows ? (t + 1) * j->chunk : j->rows;
  for (int64_t r = t * j->chunk; r < r1; r++) forward_row(j, r);
}

/* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = gy * weight; adds the row's
 * sum of gy * xhat and of gy per channel to acc[c] and acc[channels + c] when acc is set. */
static void backward_row(const norm_job *j, int64_t r, double *acc) {
  const int64_t hw = j->hw, len = j->cg * hw, c0 = (r % j->groups) * j->cg;
  const int64_t channels = j->groups * j->cg;
  const float *x = j->x + r * len, *gy = j->gy + r * len;
  const float *w = j->w ? j->w + c0 : NULL;
  float *dx = j->dx + r * len;
  const double m = j->mean[r], inv = j->rstd[r];
  double sum_g = 0, sum_gx = 0;
  for (int64_t k = 0; k < j->cg; k++) {
    double s1 = 0, s2 = 0;
    for (int64_t i = k * hw; i < (k + 1) * hw; i++) {
      s1 += gy[i];
      s2 += gy[i] * ((x[i] - m) * inv);
    }
    const double wk = w ? w[k] : 1.0;
    sum_g += wk * s1;
    sum_gx += wk * s2;
    if (acc) {
      acc[c0 + k] += s2;
      acc[channels + c0 + k] += s1;
    }
  }
  const double a = sum_g / (double)len, bx = sum_gx / (double)len;
  for (int64_t k = 0; k < j->cg; k++) {
    const double wk = w ? w[k] : 1.0;
    for (int64_t i = k * hw; i < (k + 1) * hw; i++) {
      dx[i] = (float)(inv * (gy[i] * wk - a - (x[i] - m) * inv * bx));
    }
  }
}

static void backward_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const norm_job *j = (const norm_job *)ctx;
  double *acc = j->acc ? j->acc + t * 2 * j->groups * j->cg : NULL;
  const int64_t r1 = (t + 1) * j->chunk < j->rows ? (t + 1) * j->chunk : j->rows;
  for (int64_t r = t * j->chunk; r < r1; r++) backward_row(j, r, acc);
}

/* geom: n, groups, cg, hw. w and b may be NULL (no affine). */
DMF_EXPORT void dmf_norm_forward(const float *x, const float *w, const float *b, float *y,
                                 float *mean, float *rstd, const int64_t *geom, double eps) {
  dmf_lock();
  norm_job j = {.x = x, .w = w, .b = b, .y = y, .mu = mean, .rs = rstd, .eps = eps};
  j.rows = geom[0] * geom[1];
  j.groups = geom[1];
  j.cg = geom[2];
  j.hw = geom[3];
  j.chunk = dmf_chunk(j.rows);
  if (j.rows > 0) {
    dmf_parallel(forward_task, &j, (j.rows + j.chunk - 1) / j.chunk, j.rows * j.cg * j.hw);
  }
  dmf_unlock();
}

/* geom: n, groups, cg, hw. w may be NULL; dw and db are both NULL (no affine) or both set. */
DMF_EXPORT void dmf_norm_backward(const float *gy, const float *x, const float *mean,
                                  const float *rstd, const float *w, float *dx, float *dw,
                                  float *db, const int64_t *geom) {
  dmf_lock();
  norm_job j = {.gy = gy, .x = x, .mean = mean, .rstd = rstd, .w = w, .dx = dx};
  j.rows = geom[0] * geom[1];
  j.groups = geom[1];
  j.cg = geom[2];
  j.hw = geom[3];
  const int64_t len = j.cg * j.hw, channels = j.groups * j.cg;
  /* with parameter gradients: a fixed ~16K elements per task (the partial sums' order) */
  j.chunk = dw ? (len >= (1 << 14) ? 1 : (1 << 14) / (len > 0 ? len : 1)) : dmf_chunk(j.rows);
  const int64_t tasks = j.rows > 0 ? (j.rows + j.chunk - 1) / j.chunk : 0;
  if (dw) {
    j.acc = (double *)calloc((size_t)(tasks * 2 * channels + 1), sizeof(double));
    if (!j.acc) abort();
  }
  dmf_parallel(backward_task, &j, tasks, j.rows * len);
  if (dw) {
    for (int64_t c = 0; c < 2 * channels; c++) {
      double s = 0;
      for (int64_t t = 0; t < tasks; t++) s += j.acc[t * 2 * channels + c];
      if (c < channels) {
        dw[c] = (float)s;
      } else {
        db[c - channels] = (float)s;
      }
    }
    free(j.acc);
  }
  dmf_unlock();
}
