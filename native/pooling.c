/*
 * 2-D max / average pooling over [planes, H, W] and their backward passes, matching the
 * reference (src/backend/cpu/conv.ts): the first maximum of a window wins and NaN beats any
 * number; average pooling counts padded positions (count_include_pad) and sums in f64.
 * Backward tasks own whole planes, so each dx element gets its additions in the reference's
 * order.
 */
#include <math.h>
#include <string.h>

#include "dmf.h"

/* no fused multiply-adds: results must round like the reference (GCC: off under -std=c11) */
#ifdef __clang__
#pragma STDC FP_CONTRACT OFF
#endif

typedef struct {
  const float *x, *dy;
  float *o, *dx;
  int64_t planes, H, W, OH, OW, kh, kw, sh, sw, ph, pw, chunk;
} pool_job;

static pool_job read_pool(const int64_t *m) {
  pool_job j;
  memset(&j, 0, sizeof j);
  j.planes = m[0];
  j.H = m[1];
  j.W = m[2];
  j.OH = m[3];
  j.OW = m[4];
  j.kh = m[5];
  j.kw = m[6];
  j.sh = m[7];
  j.sw = m[8];
  j.ph = m[9];
  j.pw = m[10];
  return j;
}

static inline int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }
static inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* Offset in the plane of the window maximum at (h0, w0), or -1 for an empty window. */
static int64_t argmax_window(const pool_job *j, const float *a, int64_t h0, int64_t w0) {
  float best = -INFINITY;
  int64_t at = -1;
  const int64_t i1 = min64(h0 + j->kh, j->H), c1 = min64(w0 + j->kw, j->W);
  for (int64_t i = max64(h0, 0); i < i1; i++) {
    for (int64_t c = max64(w0, 0); c < c1; c++) {
      const float v = a[i * j->W + c];
      if (at < 0 || v > best || (v != v && best == best)) {
        best = v;
        at = i * j->W + c;
      }
    }
  }
  return at;
}

static void max_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const pool_job *j = (const pool_job *)ctx;
  const int64_t total = j->planes * j->OH;
  int64_t r0, r1;
  dmf_range(t, j->chunk, total, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->OH, oh = r % j->OH;
    const float *a = j->x + p * j->H * j->W;
    float *o = j->o + r * j->OW;
    for (int64_t ow = 0; ow < j->OW; ow++) {
      const int64_t at = argmax_window(j, a, oh * j->sh - j->ph, ow * j->sw - j->pw);
      o[ow] = at < 0 ? -INFINITY : a[at];
    }
  }
}

static void avg_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const pool_job *j = (const pool_job *)ctx;
  const int64_t total = j->planes * j->OH;
  int64_t r0, r1;
  dmf_range(t, j->chunk, total, &r0, &r1);
  for (int64_t r = r0; r < r1; r++) {
    const int64_t p = r / j->OH, oh = r % j->OH;
    const float *a = j->x + p * j->H * j->W;
    float *o = j->o + r * j->OW;
    const int64_t h0 = oh * j->sh - j->ph;
    const int64_t i0 = max64(h0, 0), i1 = min64(h0 + j->kh, j->H);
    const int64_t hn = min64(h0 + j->kh, j->H + j->ph) - h0;
    for (int64_t ow = 0; ow < j->OW; ow++) {
      const int64_t w0 = ow * j->sw - j->pw;
      const int64_t c0 = max64(w0, 0), c1 = min64(w0 + j->kw, j->W);
      double s = 0;
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t c = c0; c < c1; c++) s += a[i * j->W + c];
      }
      const int64_t wn = min64(w0 + j->kw, j->W + j->pw) - w0;
      o[ow] = (float)(s / (double)(hn * wn));
    }
  }
}

static void run_rows(dmf_task_fn fn, pool_job *j) {
  const int64_t total = j->planes * j->OH;
  j->chunk = dmf_chunk(total);
  if (total > 0 && j->OW > 0) {
    dmf_parallel(fn, j, (total + j->chunk - 1) / j->chunk, total * j->OW * j->kh * j->kw);
  }
}

/** meta (int64): planes, H, W, OH, OW, kernel h/w, stride h/w, padding h/w. */
DMF_EXPORT void dmf_max_pool2d(const float *x, float *out, const int64_t *meta) {
  dmf_lock();
  pool_job j = read_pool(meta);
  j.x = x;
  j.o = out;
  run_rows(max_task, &j);
  dmf_unlock();
}

DMF_EXPORT void dmf_avg_pool2d(const float *x, float *out, const int64_t *meta) {
  dmf_lock();
  pool_job j = read_pool(meta);
  j.x = x;
  j.o = out;
  run_rows(avg_task, &j);
  dmf_unlock();
}

static void max_back_task(void *ctx, int64_t p, int tid) {
  (void)tid;
  const pool_job *j = (const pool_job *)ctx;
  const float *a = j->x + p * j->H * j->W;
  float *dx = j->dx + p * j->H * j->W;
  const float *g = j->dy + p * j->OH * j->OW;
  for (int64_t oh = 0; oh < j->OH; oh++) {
    for (int64_t ow = 0; ow < j->OW; ow++) {
      const int64_t at = argmax_window(j, a, oh * j->sh - j->ph, ow * j->sw - j->pw);
      if (at >= 0) dx[at] += g[oh * j->OW + ow];
    }
  }
}

static void avg_back_task(void *ctx, int64_t p, int tid) {
  (void)tid;
  const pool_job *j = (const pool_job *)ctx;
  float *dx = j->dx + p * j->H * j->W;
  const float *g = j->dy + p * j->OH * j->OW;
  for (int64_t oh = 0; oh < j->OH; oh++) {
    const int64_t h0 = oh * j->sh - j->ph;
    const int64_t i0 = max64(h0, 0), i1 = min64(h0 + j->kh, j->H);
    const int64_t hn = min64(h0 + j->kh, j->H + j->ph) - h0;
    for (int64_t ow = 0; ow < j->OW; ow++) {
      const int64_t w0 = ow * j->sw - j->pw;
      const int64_t c0 = max64(w0, 0), c1 = min64(w0 + j->kw, j->W);
      const int64_t wn = min64(w0 + j->kw, j->W + j->pw) - w0;
      const double share = (double)g[oh * j->OW + ow] / (double)(hn * wn);
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t c = c0; c < c1; c++) {
          float *d = dx + i * j->W + c;
          *d = (float)((double)*d + share);
        }
      }
    }
  }
}

/** dx [planes, H, W] += the gradient of max_pool2d(x) for dy [planes, OH, OW]. */
DMF_EXPORT void dmf_max_pool2d_backward(const float *x, const float *dy, float *dx,
                                        const int64_t *meta) {
  dmf_lock();
  pool_job j = read_pool(meta);
  j.x = x;
  j.dy = dy;
  j.dx = dx;
  dmf_parallel(max_back_task, &j, j.planes, j.planes * j.OH * j.OW * j.kh * j.kw);
  dmf_unlock();
}

/** dx [planes, H, W] += the gradient of avg_pool2d for dy [planes, OH, OW]. */
DMF_EXPORT void dmf_avg_pool2d_backward(const float *dy, float *dx, const int64_t *meta) {
  dmf_lock();
  pool_job j = read_pool(meta);
  j.dy = dy;
  j.dx = dx;
  dmf_parallel(avg_back_task, &j, j.planes, j.planes * j.OH * j.OW * j.kh * j.kw);
  dmf_unlock();
}
