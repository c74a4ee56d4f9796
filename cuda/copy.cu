/*
 * Data movement: strided_copy (every view op: permute, expand, slice, flip), strided_scatter
 * (slice backward: zeros, then the view's positions), cat (one launch per input) and pad
 * (constant / replicate). All of them only move bits, so they work on 4-byte and 1-byte
 * elements regardless of the dtype.
 */
#include "common.cuh"

using namespace dmf;

namespace {

const int kThreads = 256;

template <typename T, typename I>
__global__ void k_strided_copy(Strided<1> s, int64_t offset, const T* __restrict__ x,
                               T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t off[1];
    strided_offsets<I, 1>(s, (I)i, off);
    out[i] = x[offset + off[0]];
  }
}

template <typename T, typename I>
__global__ void k_strided_scatter(Strided<1> s, int64_t offset, const T* __restrict__ g,
                                  T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t off[1];
    strided_offsets<I, 1>(s, (I)i, off);
    out[offset + off[0]] = g[i];
  }
}

template <typename T, typename I>
__global__ void k_cat_part(int64_t block, int64_t out_block, int64_t start,
                           const T* __restrict__ x, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(e, n) {
    I q = (I)e / (I)block;
    int64_t r = (int64_t)((I)e - q * (I)block);
    out[(int64_t)q * out_block + start + r] = x[e];
  }
}

struct PadGeom {
  int rank;
  int replicate;
  int64_t in_shape[DMFC_MAX_RANK];
  int64_t out_shape[DMFC_MAX_RANK];
  int64_t before[DMFC_MAX_RANK];
  int64_t in_st[DMFC_MAX_RANK];
};

template <typename T>
__global__ void k_pad(PadGeom p, T value, const T* __restrict__ x, T* __restrict__ out,
                      int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t rest = i, off = 0;
    bool inside = true;
    for (int d = p.rank - 1; d >= 0; d--) {
      int64_t c = rest % p.out_shape[d];
      rest /= p.out_shape[d];
      int64_t s = c - p.before[d];
      if (s < 0 || s >= p.in_shape[d]) {
        if (!p.replicate || p.in_shape[d] == 0) {
          inside = false;
          break;
        }
        s = s < 0 ? 0 : p.in_shape[d] - 1;
      }
      off += s * p.in_st[d];
    }
    out[i] = inside ? x[off] : value;
  }
}

template <typename T>
cudaError_t strided_copy_t(const Strided<1>& s, int64_t offset, uint64_t x, uint64_t out,
                           int64_t n) {
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  return fits_u32(n) ? launch(k_strided_copy<T, uint32_t>, g, t, s, offset, ptr<const T>(x),
                              ptr<T>(out), n)
                     : launch(k_strided_copy<T, int64_t>, g, t, s, offset, ptr<const T>(x),
                              ptr<T>(out), n);
}

template <typename T>
cudaError_t strided_scatter_t(const Strided<1>& s, int64_t offset, uint64_t gp, uint64_t out,
                              int64_t n) {
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  return fits_u32(n) ? launch(k_strided_scatter<T, uint32_t>, g, t, s, offset, ptr<const T>(gp),
                              ptr<T>(out), n)
                     : launch(k_strided_scatter<T, int64_t>, g, t, s, offset, ptr<const T>(gp),
                              ptr<T>(out), n);
}

template <typename T>
cudaError_t cat_t(int64_t outer, int64_t block, int64_t out_block, int64_t start, uint64_t x,
                  uint64_t out) {
  int64_t n = outer * block;
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  return fits_u32(n) ? launch(k_cat_part<T, uint32_t>, g, t, block, out_block, start,
                              ptr<const T>(x), ptr<T>(out), n)
                     : launch(k_cat_part<T, int64_t>, g, t, block, out_block, start,
                              ptr<const T>(x), ptr<T>(out), n);
}

template <typename T>
cudaError_t pad_t(const PadGeom& p, double value, uint64_t x, uint64_t out, int64_t n) {
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  return launch(k_pad<T>, g, t, p, Conv<T>::from(value), ptr<const T>(x), ptr<T>(out), n);
}

}  // namespace

DMFC_API int dmfc_strided_copy(int dt, int rank, const int64_t* shape, const int64_t* strides,
                               int64_t offset, uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("strided_copy");
  if (!valid_dtype(dt)) return fail(DMFC_ERR_ARG, "strided_copy: bad dtype %d", dt);
  Strided<1> s;
  const int64_t* st[1] = {strides};
  if (!make_strided(s, rank, shape, st)) {
    return fail(DMFC_ERR_ARG, "strided_copy: rank %d above %d after merging axes", rank,
                DMFC_MAX_RANK);
  }
  int64_t n = numel(rank, shape);
  if (n <= 0) return DMFC_OK;
  cudaError_t e = dtype_bytes(dt) == 4 ? strided_copy_t<uint32_t>(s, offset, x, out, n)
                                       : strided_copy_t<uint8_t>(s, offset, x, out, n);
  return finish("strided_copy", e);
}

DMFC_API int dmfc_strided_scatter(int dt, int rank, const int64_t* shape, const int64_t* strides,
                                  int64_t offset, uint64_t g, uint64_t out, int64_t out_n) {
  DMF_REQUIRE_INIT("strided_scatter");
  if (!valid_dtype(dt)) return fail(DMFC_ERR_ARG, "strided_scatter: bad dtype %d", dt);
  Strided<1> s;
  const int64_t* st[1] = {strides};
  if (!make_strided(s, rank, shape, st)) {
    return fail(DMFC_ERR_ARG, "strided_scatter: rank %d above %d after merging axes", rank,
                DMFC_MAX_RANK);
  }
  if (out_n > 0) {
    DMF_CHECK("strided_scatter (clear)",
              cudaMemsetAsync(ptr<void>(out), 0, (size_t)(out_n * dtype_bytes(dt)), stream()));
  }
  int64_t n = numel(rank, shape);
  if (n <= 0) return DMFC_OK;
  cudaError_t e = dtype_bytes(dt) == 4 ? strided_scatter_t<uint32_t>(s, offset, g, out, n)
                                       : strided_scatter_t<uint8_t>(s, offset, g, out, n);
  return finish("strided_scatter", e);
}

DMFC_API int dmfc_cat_part(int dt, int64_t outer, int64_t block, int64_t out_block,
                           int64_t start, uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("cat");
  if (!valid_dtype(dt)) return fail(DMFC_ERR_ARG, "cat: bad dtype %d", dt);
  if (outer <= 0 || block <= 0) return DMFC_OK;
  cudaError_t e = dtype_bytes(dt) == 4 ? cat_t<uint32_t>(outer, block, out_block, start, x, out)
                                       : cat_t<uint8_t>(outer, block, out_block, start, x, out);
  return finish("cat", e);
}

DMFC_API int dmfc_pad(int dt, int rank, const int64_t* in_shape, const int64_t* out_shape,
                      const int64_t* before, int mode, double value, uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("pad");
  if (rank < 0 || rank > DMFC_MAX_RANK) {
    return fail(DMFC_ERR_ARG, "pad: rank %d above %d", rank, DMFC_MAX_RANK);
  }
  PadGeom p;
  p.rank = rank;
  p.replicate = mode == 1;
  int64_t acc = 1;
  for (int d = DMFC_MAX_RANK - 1; d >= 0; d--) {
    bool live = d < rank;
    p.in_shape[d] = live ? in_shape[d] : 1;
    p.out_shape[d] = live ? out_shape[d] : 1;
    p.before[d] = live ? before[d] : 0;
    p.in_st[d] = acc;
    if (live) acc *= in_shape[d];
  }
  int64_t n = numel(rank, out_shape);
  if (n <= 0) return DMFC_OK;
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = pad_t<float>(p, value, x, out, n); break;
    case DMFC_I32: e = pad_t<int32_t>(p, value, x, out, n); break;
    case DMFC_U8:
    case DMFC_BOOL: e = pad_t<uint8_t>(p, value, x, out, n); break;
    default: return fail(DMFC_ERR_ARG, "pad: bad dtype %d", dt);
  }
  return finish("pad", e);
}
