/*
 * Multi-scale deformable attention (op msda) and its backward pass, in the reference's f64
 * arithmetic and order (src/backend/cpu/msda.ts): value [N, S, M, D], locations
 * [N, Lq, M, L, P, 2], weights [N, Lq, M, L, P] -> out [N, Lq, M * D]. Each point reads the
 * four bilinear neighbours of pixel (x W - 0.5, y H - 0.5); neighbours outside contribute 0.
 *
 * Forward tasks own blocks of queries. Backward tasks own one (batch, head) pair: the value
 * rows a head reads belong to it alone, so grad_value needs no per-thread copies and every
 * element receives its additions in the reference's order. Both first locate all points of a
 * head and prefetch the value rows they read (scattered loads dominate otherwise).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dmf.h"

/* no fused multiply-adds: results must round like the reference (GCC: off under -std=c11) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

#define MAX_LEVELS 16

typedef struct {
  int64_t N, S, M, D, Lq, L, P;
  int64_t H[MAX_LEVELS], W[MAX_LEVELS], start[MAX_LEVELS];
  const float *value, *loc, *attn, *gout;
  float *out, *gvalue, *gloc, *gattn;
  int64_t qchunk; /* forward: (batch, query) rows per task */
} msda_job;

/* The four neighbours of a point: value rows (-1 outside), weights and their derivatives
 * with respect to the pixel coordinates u (x) and v (y). */
typedef struct {
  int64_t row[4];
  double w[4], dwdu[4], dwdv[4];
} corners_t;

/* floor() without a libm call (baseline x86-64 has no rounding instruction); NaN and
 * magnitudes from 2^52 on (already integral) take the libm path, and -0 stays -0. */
static inline double floor_d(double x) {
  if (!(fabs(x) < 4503599627370496.0)) return floor(x);
  const double t = (double)(int64_t)x;
  return t > x ? t - 1 : t == x ? x : t;
}

/* Returns 0 when no neighbour lies inside the level. */
static int locate(double u, double v, int64_t H, int64_t W, int64_t level_row, corners_t *c) {
  const double x0 = floor_d(u), y0 = floor_d(v);
  const double fx = u - x0, fy = v - y0;
  int any = 0;
  for (int k = 0; k < 4; k++) {
    const int dy = k >> 1, dx = k & 1;
    const double yy = y0 + dy, xx = x0 + dx;
    const int inside = yy >= 0 && yy < (double)H && xx >= 0 && xx < (double)W;
    c->row[k] = inside ? level_row + (int64_t)yy * W + (int64_t)xx : -1;
    any |= inside;
    const double wx = dx ? fx : 1 - fx;
    const double wy = dy ? fy : 1 - fy;
    c->w[k] = wx * wy;
    c->dwdu[k] = (dx ? 1 : -1) * wy;
    c->dwdv[k] = (dy ? 1 : -1) * wx;
  }
  return any;
}

/* One sampled neighbour of a head: its value row and attention weight x bilinear weight. */
typedef struct {
  const float *val;
  double w;
} tap_t;

/* o[d] = sum over taps (in order) of w * val[d], in f64, D in register blocks of 8. */
static void accumulate(const tap_t *taps, int64_t nt, int64_t D, float *o) {
  int64_t d0 = 0;
  for (; d0 + 8 <= D; d0 += 8) {
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (int64_t t = 0; t < nt; t++) {
      const float *v = taps[t].val + d0;
      const double w = taps[t].w;
      for (int e = 0; e < 8; e++) acc[e] += w * (double)v[e];
    }
    for (int e = 0; e < 8; e++) o[d0 + e] = (float)acc[e];
  }
  for (; d0 < D; d0++) {
    double acc = 0;
    for (int64_t t = 0; t < nt; t++) acc += taps[t].w * (double)taps[t].val[d0];
    o[d0] = (float)acc;
  }
}

/* Starts loading D floats at p. */
static inline void prefetch_row(const float *p, int64_t D) {
  for (int64_t d = 0; d < D; d += 16) __builtin_prefetch(p + d);
}

/* Records a tap and starts loading its row: rows are scattered over the value tensor. */
static inline void add_tap(tap_t *tap, const float *val, double w, int64_t D) {
  prefetch_row(val, D);
  tap->val = val;
  tap->w = w;
}

static void forward_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const msda_job *j = (const msda_job *)ctx;
  const int64_t r0 = t * j->qchunk, rows = j->N * j->Lq; /* rows: (batch, query) pairs */
  const int64_t r1 = r0 + j->qchunk < rows ? r0 + j->qchunk : rows;
  const int64_t M = j->M, D = j->D, L = j->L, P = j->P;
  tap_t *taps = (tap_t *)malloc((size_t)(4 * L * P) * sizeof(tap_t));
  if (!taps) return;
  corners_t c;
  for (int64_t r = r0; r < r1; r++) {
    const int64_t n = r / j->Lq;
    for (int64_t m = 0; m < M; m++) {
      const int64_t head = r * M + m;
      int64_t nt = 0;
      for (int64_t l = 0; l < L; l++) {
        const int64_t H = j->H[l], W = j->W[l];
        for (int64_t p = 0; p < P; p++) {
          const int64_t i = (head * L + l) * P + p;
          const double u = (double)j->loc[2 * i] * (double)W - 0.5;
          const double v = (double)j->loc[2 * i + 1] * (double)H - 0.5;
          const double a = j->attn[i];
          const double x0 = floor_d(u), y0 = floor_d(v);
          if (x0 >= 0 && x0 + 1 < (double)W && y0 >= 0 && y0 + 1 < (double)H) {
            /* all four neighbours inside (the common case): locate() without the branches */
            const double fx = u - x0, fy = v - y0;
            const double w[4] = {(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy};
            const int64_t r0 = n * j->S + j->start[l] + (int64_t)y0 * W + (int64_t)x0;
            const int64_t rows[4] = {r0, r0 + 1, r0 + W, r0 + W + 1};
            for (int k = 0; k < 4; k++) {
              add_tap(&taps[nt++], j->value + (rows[k] * M + m) * D, a * w[k], D);
            }
            continue;
          }
          if (!locate(u, v, H, W, n * j->S + j->start[l], &c)) continue;
          for (int k = 0; k < 4; k++) {
            if (c.row[k] < 0) continue;
            add_tap(&taps[nt++], j->value + (c.row[k] * M + m) * D, a * c.w[k], D);
          }
        }
      }
      accumulate(taps, nt, D, j->out + head * D);
    }
  }
  free(taps);
}

/* Dot products of dy with the four corners' value rows: four independent f64 chains in one
 * pass (a corner outside the level reads a row of zeros). */
static void corner_dots(const double *restrict g, const float *const *vr, int64_t D,
                        double *dot) {
  const float *restrict v0 = vr[0], *restrict v1 = vr[1], *restrict v2 = vr[2],
                        *restrict v3 = vr[3];
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  for (int64_t d = 0; d < D; d++) {
    s0 += g[d] * (double)v0[d];
    s1 += g[d] * (double)v1[d];
    s2 += g[d] * (double)v2[d];
    s3 += g[d] * (double)v3[d];
  }
  dot[0] = s0;
  dot[1] = s1;
  dot[2] = s2;
  dot[3] = s3;
}

/* grad_value row += w * dy, each element in f64 and rounded once (vectorises over d). */
static void add_scaled(float *restrict row, const double *restrict g, double w, int64_t D) {
  for (int64_t d = 0; d < D; d++) row[d] = (float)((double)row[d] + w * g[d]);
}

static void backward_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const msda_job *j = (const msda_job *)ctx;
  const int64_t M = j->M, D = j->D, L = j->L, P = j->P;
  const int64_t n = t / M, m = t % M;
  double *g = (double *)malloc((size_t)D * sizeof(double));      /* dy of the head in f64 */
  float *zeros = (float *)calloc((size_t)D, sizeof(float));        /* corners outside */
  corners_t *cs = (corners_t *)malloc((size_t)(L * P) * sizeof(corners_t));
  uint8_t *hit = (uint8_t *)malloc((size_t)(L * P));
  if (!g || !zeros || !cs || !hit) goto done;
  const float *vr[4];
  double dot[4];
  for (int64_t q = 0; q < j->Lq; q++) {
    const int64_t head = (n * j->Lq + q) * M + m;
    for (int64_t d = 0; d < D; d++) g[d] = j->gout[head * D + d];
    /* locate every point of the head first and start loading its rows */
    for (int64_t l = 0; l < L; l++) {
      const int64_t H = j->H[l], W = j->W[l];
      for (int64_t p = 0; p < P; p++) {
        const int64_t i = (head * L + l) * P + p;
        const double u = (double)j->loc[2 * i] * (double)W - 0.5;
        const double v = (double)j->loc[2 * i + 1] * (double)H - 0.5;
        corners_t *c = &cs[l * P + p];
        hit[l * P + p] = (uint8_t)locate(u, v, H, W, n * j->S + j->start[l], c);
        for (int k = 0; k < 4; k++) {
          if (c->row[k] < 0) continue;
          prefetch_row(j->value + (c->row[k] * M + m) * D, D);
          prefetch_row(j->gvalue + (c->row[k] * M + m) * D, D);
        }
      }
    }
    for (int64_t l = 0; l < L; l++) {
      for (int64_t p = 0; p < P; p++) {
        if (!hit[l * P + p]) continue;
        const corners_t *c = &cs[l * P + p];
        const int64_t i = (head * L + l) * P + p;
        const double a = j->attn[i];
        for (int k = 0; k < 4; k++) {
          vr[k] = c->row[k] >= 0 ? j->value + (c->row[k] * M + m) * D : zeros;
        }
        corner_dots(g, vr, D, dot);
        double sample = 0, du = 0, dv = 0;
        for (int k = 0; k < 4; k++) {
          if (c->row[k] < 0) continue;
          add_scaled(j->gvalue + (c->row[k] * M + m) * D, g, a * c->w[k], D);
          sample += c->w[k] * dot[k];
          du += c->dwdu[k] * dot[k];
          dv += c->dwdv[k] * dot[k];
        }
        j->gattn[i] = (float)sample;
        j->gloc[2 * i] = (float)(a * du * (double)j->W[l]);
        j->gloc[2 * i + 1] = (float)(a * dv * (double)j->H[l]);
      }
    }
  }
done:
  free(g);
  free(zeros);
  free(cs);
  free(hit);
}

/* meta (int64): N, S, M, D, Lq, L, P, then L level heights and L level widths. */
static int read_job(const int64_t *meta, msda_job *j) {
  memset(j, 0, sizeof *j);
  j->N = meta[0];
  j->S = meta[1];
  j->M = meta[2];
  j->D = meta[3];
  j->Lq = meta[4];
  j->L = meta[5];
  j->P = meta[6];
  if (j->L > MAX_LEVELS) return 0;
  int64_t acc = 0;
  for (int64_t l = 0; l < j->L; l++) {
    j->H[l] = meta[7 + l];
    j->W[l] = meta[7 + j->L + l];
    j->start[l] = acc;
    acc += j->H[l] * j->W[l];
  }
  return 1;
}

/** out = msda(value, loc, attn); returns 0 (not run) for more than MAX_LEVELS levels. */
DMF_EXPORT int dmf_msda(const float *value, const float *loc, const float *attn, float *out,
                        const int64_t *meta) {
  msda_job j;
  if (!read_job(meta, &j)) return 0;
  dmf_lock();
  j.value = value;
  j.loc = loc;
  j.attn = attn;
  j.out = out;
  dmf_advise_huge(out, j.N * j.Lq * j.M * j.D * (int64_t)sizeof(float));
  const int64_t points = j.N * j.Lq * j.M * j.L * j.P;
  j.qchunk = dmf_chunk(j.N * j.Lq);
  dmf_parallel(forward_task, &j, (j.N * j.Lq + j.qchunk - 1) / j.qchunk, points * 4 * j.D);
  dmf_unlock();
  return 1;
}

/** Gradients for value, locations and weights from gout [N, Lq, M * D] (outputs zeroed here). */
DMF_EXPORT int dmf_msda_backward(const float *value, const float *loc, const float *attn,
                                 const float *gout, float *gvalue, float *gloc, float *gattn,
                                 const int64_t *meta) {
  msda_job j;
  if (!read_job(meta, &j)) return 0;
  dmf_lock();
  j.value = value;
  j.loc = loc;
  j.attn = attn;
  j.gout = gout;
  j.gvalue = gvalue;
  j.gloc = gloc;
  j.gattn = gattn;
  const int64_t points = j.N * j.Lq * j.M * j.L * j.P;
  memset(gvalue, 0, (size_t)(j.N * j.S * j.M * j.D) * sizeof(float));
  memset(gloc, 0, (size_t)(2 * points) * sizeof(float));
  memset(gattn, 0, (size_t)points * sizeof(float));
  dmf_parallel(backward_task, &j, j.N * j.M, points * 8 * j.D);
  dmf_unlock();
  return 1;
}
