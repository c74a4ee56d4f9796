/*
 * Data-movement kernels: pad (constant / replicate), row copies (cat), where and cumsum.
 * Built with baseline flags; work is split over the thread pool by rows of the output.
 * Elements are moved as raw bytes (es = element size), so any dtype of that size works.
 */
#include <string.h>

#include "dmf.h"

#define MAX_RANK 8

/* Writes `count` copies of the es-byte pattern `value` to dst. */
static void fill_pattern(char *dst, const char *value, int64_t es, int64_t count) {
  if (count <= 0) return;
  if (es == 4) {
    uint32_t v;
    memcpy(&v, value, 4);
    uint32_t *d = (uint32_t *)dst;
    for (int64_t i = 0; i < count; i++) d[i] = v;
  } else if (es == 1) {
    memset(dst, *value, (size_t)count);
  } else {
    for (int64_t i = 0; i < count; i++) memcpy(dst + i * es, value, (size_t)es);
  }
}

/* ---- pad -------------------------------------------------------------------------------- */

typedef struct {
  const char *src;
  char *dst;
  const char *value;
  int64_t es, inner; /* inner: elements per block (trailing unpadded axes, folded by the caller) */
  int replicate, rank;
  int64_t in[MAX_RANK], before[MAX_RANK], out[MAX_RANK], stride[MAX_RANK]; /* strides: blocks */
  int64_t rows, chunk;
} pad_job;

static void pad_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const pad_job *j = (const pad_job *)ctx;
  const int r = j->rank;
  const int64_t es = j->es, B = j->inner * es; /* bytes per block */
  const int64_t nIn = j->in[r - 1], b = j->before[r - 1], OL = j->out[r - 1];
  const int64_t a = OL - b - nIn;
  int64_t r0, r1;
  dmf_range(t, j->chunk, j->rows, &r0, &r1);
  for (int64_t row = r0; row < r1; row++) {
    char *d = j->dst + row * OL * B;
    int64_t rem = row, off = 0;
    int inside = nIn > 0;
    for (int dim = r - 2; dim >= 0; dim--) {
      int64_t s = rem % j->out[dim] - j->before[dim];
      rem /= j->out[dim];
      if (s < 0 || s >= j->in[dim]) {
        if (!j->replicate || j->in[dim] == 0) {
          inside = 0;
          break;
        }
        s = s < 0 ? 0 : j->in[dim] - 1;
      }
      off += s * j->stride[dim];
    }
    if (!inside) {
      fill_pattern(d, j->value, es, OL * j->inner);
      continue;
    }
    const char *s = j->src + off * B;
    if (j->replicate) {
      for (int64_t k = 0; k < b; k++) memcpy(d + k * B, s, (size_t)B);
      for (int64_t k = 0; k < a; k++) memcpy(d + (b + nIn + k) * B, s + (nIn - 1) * B, (size_t)B);
    } else {
      fill_pattern(d, j->value, es, b * j->inner);
      fill_pattern(d + (b + nIn) * B, j->value, es, a * j->inner);
    }
    memcpy(d + b * B, s, (size_t)(nIn * B));
  }
}

/**
 * Pads x into out. meta (int64): rank (1..8), inner, then rank input sizes, rank "before" pads
 * and rank output sizes; the unpadded trailing axes are folded into blocks of `inner`
 * elements. replicate = 0: fill with the es-byte `value`; 1: repeat the edge blocks.
 */
DMF_EXPORT void dmf_pad(const void *x, void *out, int64_t es, const void *value, int replicate,
                        const int64_t *meta) {
  dmf_lock();
  pad_job j;
  memset(&j, 0, sizeof j);
  j.src = (const char *)x;
  j.dst = (char *)out;
  j.value = (const char *)value;
  j.es = es;
  j.replicate = replicate;
  j.rank = (int)meta[0];
  j.inner = meta[1];
  int64_t total = j.inner;
  for (int d = 0; d < j.rank; d++) {
    j.in[d] = meta[2 + d];
    j.before[d] = meta[2 + j.rank + d];
    j.out[d] = meta[2 + 2 * j.rank + d];
    total *= j.out[d];
  }
  int64_t acc = 1;
  for (int d = j.rank - 1; d >= 0; d--) {
    j.stride[d] = acc;
    acc *= j.in[d];
  }
  dmf_advise_huge(out, total * es);
  if (total > 0) {
    j.rows = total / (j.out[j.rank - 1] * j.inner);
    j.chunk = dmf_chunk(j.rows);
    dmf_parallel(pad_task, &j, (j.rows + j.chunk - 1) / j.chunk, total);
  }
  dmf_unlock();
}

/* ---- row copies (cat) ------------------------------------------------------------------- */

typedef struct {
  const char *src;
  char *dst;
  int64_t rows, bytes, sstride, dstride; /* bytes per row; row strides in bytes */
  int64_t chunk;                         /* rows per task (whole rows) */
  int64_t pieces, piece;                 /* or: each row cut into `pieces` of `piece` bytes */
} rows_job;

static void rows_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const rows_job *j = (const rows_job *)ctx;
  if (j->pieces > 1) {
    const int64_t row = t / j->pieces, p0 = (t % j->pieces) * j->piece;
    const int64_t p1 = p0 + j->piece < j->bytes ? p0 + j->piece : j->bytes;
    if (p0 < p1) {
      memcpy(j->dst + row * j->dstride + p0, j->src + row * j->sstride + p0, (size_t)(p1 - p0));
    }
    return;
  }
  int64_t r0, r1;
  dmf_range(t, j->chunk, j->rows, &r0, &r1);
  for (int64_t row = r0; row < r1; row++) {
    memcpy(j->dst + row * j->dstride, j->src + row * j->sstride, (size_t)j->bytes);
  }
}

/**
 * Copies `rows` rows of `bytes` bytes: dst[dst_off + r * dstride] <- src[r * sstride] (all in
 * bytes). cat calls it once per input, dst_off being the input's place in the first row.
 */
DMF_EXPORT void dmf_copy_rows(const void *src, void *dst, int64_t dst_off, int64_t rows,
                              int64_t bytes, int64_t sstride, int64_t dstride) {
  dmf_lock();
  rows_job j = {(const char *)src, (char *)dst + dst_off, rows, bytes, sstride, dstride,
                dmf_chunk(rows), 1, bytes};
  dmf_advise_huge(dst, rows * dstride);
  int64_t ntasks = (rows + j.chunk - 1) / j.chunk;
  const int64_t parts = 4 * (int64_t)dmf_threads();
  /* few long rows: cut each row into pieces of at least 64 KiB */
  if (rows < parts && bytes >= 2 * 65536) {
    int64_t pieces = (parts + rows - 1) / rows;
    if (pieces > bytes / 65536) pieces = bytes / 65536;
    j.pieces = pieces;
    j.piece = (bytes + pieces - 1) / pieces;
    ntasks = rows * pieces;
  }
  if (rows > 0 && bytes > 0) dmf_parallel(rows_task, &j, ntasks, rows * bytes / 4);
  dmf_unlock();
}

/* ---- where ------------------------------------------------------------------------------ */

typedef struct {
  const uint8_t *c;
  const uint32_t *a, *b;
  uint32_t *o;
  int rank;
  int64_t shape[MAX_RANK], sc[MAX_RANK], sa[MAX_RANK], sb[MAX_RANK];
  int64_t rows, chunk;
} where_job;

static void where_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const where_job *j = (const where_job *)ctx;
  const int r = j->rank;
  const int64_t L = j->shape[r - 1];
  const int64_t ic = j->sc[r - 1], ia = j->sa[r - 1], ib = j->sb[r - 1];
  int64_t r0, r1;
  dmf_range(t, j->chunk, j->rows, &r0, &r1);
  for (int64_t row = r0; row < r1; row++) {
    int64_t rem = row, oc = 0, oa = 0, ob = 0;
    for (int d = r - 2; d >= 0; d--) {
      const int64_t i = rem % j->shape[d];
      rem /= j->shape[d];
      oc += i * j->sc[d];
      oa += i * j->sa[d];
      ob += i * j->sb[d];
    }
    const uint8_t *restrict c = j->c + oc;
    const uint32_t *restrict a = j->a + oa;
    const uint32_t *restrict b = j->b + ob;
    uint32_t *restrict o = j->o + row * L;
    if (ic == 1 && ia == 1 && ib == 1) {
      /* both sides loaded unconditionally: the select vectorises */
      for (int64_t i = 0; i < L; i++) {
        const uint32_t x = a[i], y = b[i];
        o[i] = c[i] ? x : y;
      }
    } else {
      for (int64_t i = 0; i < L; i++) {
        const uint32_t x = a[i * ia], y = b[i * ib];
        o[i] = c[i * ic] ? x : y;
      }
    }
  }
}

/**
 * out = cond ? a : b for 4-byte a, b, out and 1-byte cond, with broadcasting. meta (int64):
 * rank (1..8), shape, then the element strides of cond, a and b over that (collapsed) shape.
 */
DMF_EXPORT void dmf_where(const void *cond, const void *a, const void *b, void *out,
                          const int64_t *meta) {
  dmf_lock();
  where_job j;
  memset(&j, 0, sizeof j);
  j.c = (const uint8_t *)cond;
  j.a = (const uint32_t *)a;
  j.b = (const uint32_t *)b;
  j.o = (uint32_t *)out;
  j.rank = (int)meta[0];
  int64_t total = 1;
  for (int d = 0; d < j.rank; d++) {
    j.shape[d] = meta[1 + d];
    j.sc[d] = meta[1 + j.rank + d];
    j.sa[d] = meta[1 + 2 * j.rank + d];
    j.sb[d] = meta[1 + 3 * j.rank + d];
    total *= j.shape[d];
  }
  dmf_advise_huge(out, total * 4);
  if (total > 0) {
    j.rows = total / j.shape[j.rank - 1];
    j.chunk = dmf_chunk(j.rows);
    dmf_parallel(where_task, &j, (j.rows + j.chunk - 1) / j.chunk, total);
  }
  dmf_unlock();
}

/* ---- cumsum ----------------------------------------------------------------------------- */

enum { CUM_COLS = 256 };

typedef struct {
  const float *x;
  float *o;
  int64_t outer, n, inner, col_tasks;
} cum_job;

/* Prefix sums of one [n, <= CUM_COLS] column block, accumulated in f64 like the reference. */
static void cum_task(void *ctx, int64_t t, int tid) {
  (void)tid;
  const cum_job *j = (const cum_job *)ctx;
  const int64_t i = t / j->col_tasks, k0 = (t % j->col_tasks) * CUM_COLS;
  const int64_t w = j->inner - k0 < CUM_COLS ? j->inner - k0 : CUM_COLS;
  double acc[CUM_COLS];
  for (int64_t k = 0; k < w; k++) acc[k] = 0.0;
  for (int64_t r = 0; r < j->n; r++) {
    const int64_t base = (i * j->n + r) * j->inner + k0;
    const float *restrict x = j->x + base;
    float *restrict o = j->o + base;
    for (int64_t k = 0; k < w; k++) {
      acc[k] += x[k];
      o[k] = (float)acc[k];
    }
  }
}

/** Inclusive prefix sums of f32 x viewed as [outer, n, inner] along the middle axis. */
DMF_EXPORT void dmf_cumsum(const float *x, float *o, int64_t outer, int64_t n, int64_t inner) {
  dmf_lock();
  cum_job j = {x, o, outer, n, inner, (inner + CUM_COLS - 1) / CUM_COLS};
  if (outer > 0 && n > 0 && inner > 0) {
    dmf_parallel(cum_task, &j, outer * j.col_tasks, outer * n * inner);
  }
  dmf_unlock();
}
