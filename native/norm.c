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


/* The row loops are compiled per instruction set (DMF_ISA_VARIANTS, following dmf_set_isa; norm.c
 * is not one of the per-ISA kernels.c builds). The sums keep DMF_LANES independent double
 * accumulators, which the compiler vectorises without reassociating anything, so every variant
 * gives the same bits. */
#define DMF_LANES 16

DMF_INLINE double fold_lanes(const double *acc) {
  double s = 0;
  for (int l = 0; l < DMF_LANES; l++) s += acc[l];
  return s;
}

/* Sums of x and of (x - m)^2 over n floats, the second around the first's mean. */
DMF_INLINE void row_moments(const float *x, int64_t n, double *mean, double *var) {
  double acc[DMF_LANES] = {0};
  int64_t i = 0;
  for (; i + DMF_LANES <= n; i += DMF_LANES) {
    for (int l = 0; l < DMF_LANES; l++) acc[l] += x[i + l];
  }
  for (; i < n; i++) acc[0] += x[i];
  const double m = fold_lanes(acc) / (double)n;
  double sq[DMF_LANES] = {0};
  for (i = 0; i + DMF_LANES <= n; i += DMF_LANES) {
    for (int l = 0; l < DMF_LANES; l++) {
      const double d = x[i + l] - m;
      sq[l] += d * d;
    }
  }
  for (; i < n; i++) sq[0] += (x[i] - m) * (x[i] - m);
  *mean = m;
  *var = fold_lanes(sq) / (double)n;
}

/* y[i] = (x[i] - m) * scale[i] + shift[i] for the three layouts of the affine parameters. */
DMF_INLINE void affine_per_element(const float *x, float *y, int64_t n, double m, double inv,
                                   const float *w, const float *b) {
  if (w && b) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - m) * inv * w[i] + b[i]);
  } else if (w) {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - m) * inv * w[i]);
  } else {
    for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - m) * inv + (b ? b[i] : 0.0f));
  }
}

DMF_INLINE void affine_scalar(const float *x, float *y, int64_t n, double m, double scale,
                              double shift) {
  for (int64_t i = 0; i < n; i++) y[i] = (float)((x[i] - m) * scale + shift);
}

DMF_INLINE void forward_row(const norm_job *j, int64_t r) {
  const int64_t hw = j->hw, len = j->cg * hw, c0 = (r % j->groups) * j->cg;
  const float *x = j->x + r * len;
  float *y = j->y + r * len;
  double m, var;
  row_moments(x, len, &m, &var);
  const double inv = 1.0 / sqrt(var + j->eps);
  j->mu[r] = (float)m;
  j->rs[r] = (float)inv;
  const float *w = j->w ? j->w + c0 : NULL, *b = j->b ? j->b + c0 : NULL;
  if (hw == 1) {
    affine_per_element(x, y, len, m, inv, w, b);
    return;
  }
  for (int64_t k = 0; k < j->cg; k++) {
    const double scale = w ? w[k] * inv : inv, shift = b ? b[k] : 0.0;
    affine_scalar(x + k * hw, y + k * hw, hw, m, scale, shift);
  }
}

/* Lane sums over n elements of gy and of gy * xhat (xhat = (x - m) * inv). */
DMF_INLINE void sums_g_gxhat(const float *gy, const float *x, int64_t n, double m,
                             double inv, double *s_g, double *s_gx) {
  double a[DMF_LANES] = {0}, b[DMF_LANES] = {0};
  int64_t i = 0;
  for (; i + DMF_LANES <= n; i += DMF_LANES) {
    for (int l = 0; l < DMF_LANES; l++) {
      a[l] += gy[i + l];
      b[l] += gy[i + l] * ((x[i + l] - m) * inv);
    }
  }
  for (; i < n; i++) {
    a[0] += gy[i];
    b[0] += gy[i] * ((x[i] - m) * inv);
  }
  *s_g = fold_lanes(a);
  *s_gx = fold_lanes(b);
}

/* LayerNorm rows (one element per channel): the weighted sums, and the per-channel sums added
 * to acc_gx / acc_g when set. */
DMF_INLINE void sums_per_channel(const float *gy, const float *x, const float *w, int64_t n,
                                 double m, double inv, double *acc_gx, double *acc_g,
                                 double *s_g, double *s_gx) {
  double a[DMF_LANES] = {0}, b[DMF_LANES] = {0};
  int64_t i = 0;
  for (; i + DMF_LANES <= n; i += DMF_LANES) {
    for (int l = 0; l < DMF_LANES; l++) {
      const double g = gy[i + l], gx = g * ((x[i + l] - m) * inv), wk = w ? w[i + l] : 1.0;
      a[l] += wk * g;
      b[l] += wk * gx;
    }
  }
  for (; i < n; i++) {
    const double g = gy[i], wk = w ? w[i] : 1.0;
    a[0] += wk * g;
    b[0] += wk * g * ((x[i] - m) * inv);
  }
  if (acc_g) {
    for (int64_t c = 0; c < n; c++) {
      acc_gx[c] += gy[c] * ((x[c] - m) * inv);
      acc_g[c] += gy[c];
    }
  }
  *s_g = fold_lanes(a);
  *s_gx = fold_lanes(b);
}

/* dx = inv * (gy * w - a - (x - m) * inv * bx), w per element (w set) or the one value w_one. */
DMF_INLINE void input_grad(const float *gy, const float *x, const float *w, double w_one,
                           float *dx, int64_t n, double m, double inv, double a, double bx) {
  if (w) {
    for (int64_t i = 0; i < n; i++) {
      dx[i] = (float)(inv * (gy[i] * (double)w[i] - a - (x[i] - m) * inv * bx));
    }
  } else {
    for (int64_t i = 0; i < n; i++) {
      dx[i] = (float)(inv * (gy[i] * w_one - a - (x[i] - m) * inv * bx));
    }
  }
}

/* dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) with g = gy * weight; adds the row's
 * sum of gy * xhat and of gy per channel to acc[c] and acc[channels + c] when acc is set. */
DMF_INLINE void backward_row(const norm_job *j, int64_t r, double *acc) {
  const int64_t hw = j->hw, len = j->cg * hw, c0 = (r % j->groups) * j->cg;
  const int64_t channels = j->groups * j->cg;
  const float *x = j->x + r * len, *gy = j->gy + r * len;
  const float *w = j->w ? j->w + c0 : NULL;
  float *dx = j->dx + r * len;
  const double m = j->mean[r], inv = j->rstd[r];
  double sum_g = 0, sum_gx = 0;
  if (hw == 1) {
    sums_per_channel(gy, x, w, len, m, inv, acc ? acc + c0 : NULL,
                     acc ? acc + channels + c0 : NULL, &sum_g, &sum_gx);
    const double a = sum_g / (double)len, bx = sum_gx / (double)len;
    input_grad(gy, x, w, 1.0, dx, len, m, inv, a, bx);
    return;
  }
  for (int64_t k = 0; k < j->cg; k++) {
    double s1, s2;
    sums_g_gxhat(gy + k * hw, x + k * hw, hw, m, inv, &s1, &s2);
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
    input_grad(gy + k * hw, x + k * hw, NULL, w ? w[k] : 1.0, dx + k * hw, hw, m, inv, a, bx);
  }
}

/* The task bodies, instantiated once per instruction set. */
#define NORM_TASKS(isa, attr)                                                            \
  static attr void forward_task_##isa(void *ctx, int64_t t, int tid) {                   \
    (void)tid;                                                                           \
    const norm_job *j = (const norm_job *)ctx;                                           \
    int64_t r0, r1;                                                                      \
    dmf_range(t, j->chunk, j->rows, &r0, &r1);                                           \
    for (int64_t r = r0; r < r1; r++) forward_row(j, r);                                 \
  }                                                                                      \
  static attr void backward_task_##isa(void *ctx, int64_t t, int tid) {                  \
    (void)tid;                                                                           \
    const norm_job *j = (const norm_job *)ctx;                                           \
    double *acc = j->acc ? j->acc + t * 2 * j->groups * j->cg : NULL;                    \
    int64_t r0, r1;                                                                      \
    dmf_range(t, j->chunk, j->rows, &r0, &r1);                                           \
    for (int64_t r = r0; r < r1; r++) backward_row(j, r, acc);                           \
  }

DMF_ISA_VARIANTS(NORM_TASKS)

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
    const int64_t tasks = (j.rows + j.chunk - 1) / j.chunk;
    dmf_parallel(DMF_PICK_ISA(forward_task), &j, tasks, j.rows * j.cg * j.hw);
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
  dmf_parallel(DMF_PICK_ISA(backward_task), &j, tasks, j.rows * len);
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
