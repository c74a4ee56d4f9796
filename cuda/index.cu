/*
 * Indexing: gather, scatter_add, index_select, index_add (i32 indices; negative indices count
 * from the end). An index out of range cannot throw from a kernel: it is recorded in the
 * device error flag (reported by the next sync / read-back as "<op>: index i out of range for
 * size n") and the element is skipped (gather / index_select write 0).
 * scatter_add / index_add copy x into the output, then add with atomics (float, int, and a
 * compare-and-swap loop on the enclosing 32-bit word for bytes).
 */
#include "common.cuh"

using namespace dmf;

namespace {

const int kThreads = 256;

DMF_D void flag_index(int* flag, int kid, int64_t idx, int64_t size) {
  if (atomicCAS(flag, 0, kid) == 0) {
    flag[1] = kid;
    flag[2] = (int)idx;
    flag[3] = (int)size;
  }
}

/** Wraps a negative index; returns -1 (and flags) when out of range. */
DMF_D int64_t check_index(int* flag, int kid, int64_t i, int64_t n) {
  int64_t j = i < 0 ? i + n : i;
  if (j < 0 || j >= n) {
    flag_index(flag, kid, i, n);
    return -1;
  }
  return j;
}

DMF_D void atomic_add(float* p, float v) { atomicAdd(p, v); }
DMF_D void atomic_add(int32_t* p, int32_t v) { atomicAdd(reinterpret_cast<int*>(p), (int)v); }
DMF_D void atomic_add(uint8_t* p, uint8_t v) {
  uintptr_t a = reinterpret_cast<uintptr_t>(p);
  unsigned* word = reinterpret_cast<unsigned*>(a & ~(uintptr_t)3);
  unsigned shift = (unsigned)(a & 3) * 8u;
  unsigned old = *word, assumed;
  do {
    assumed = old;
    unsigned byte = ((assumed >> shift) + v) & 0xffu;
    unsigned next = (assumed & ~(0xffu << shift)) | (byte << shift);
    old = atomicCAS(word, assumed, next);
  } while (assumed != old);
}

struct IndexGeom {
  int rank, axis;
  int64_t axis_size;
  int64_t idx_shape[DMFC_MAX_RANK];
  int64_t st_a[DMFC_MAX_RANK];  // gather: x strides; scatter_add: out strides
  int64_t st_b[DMFC_MAX_RANK];  // scatter_add: src strides
};

template <typename T>
__global__ void k_gather(IndexGeom g, const T* __restrict__ x, const int32_t* __restrict__ index,
                         T* __restrict__ out, int64_t n, int* flag) {
  GRID_STRIDE(p, n) {
    int64_t rest = p, off = 0;
    for (int d = g.rank - 1; d >= 0; d--) {
      int64_t c = rest % g.idx_shape[d];
      rest /= g.idx_shape[d];
      if (d != g.axis) off += c * g.st_a[d];
    }
    int64_t t = check_index(flag, KID_GATHER, index[p], g.axis_size);
    out[p] = t < 0 ? (T)0 : x[off + t * g.st_a[g.axis]];
  }
}

template <typename T>
__global__ void k_scatter_add(IndexGeom g, const int32_t* __restrict__ index,
                              const T* __restrict__ src, T* out, int64_t n, int* flag) {
  GRID_STRIDE(p, n) {
    int64_t rest = p, dst = 0, so = 0;
    for (int d = g.rank - 1; d >= 0; d--) {
      int64_t c = rest % g.idx_shape[d];
      rest /= g.idx_shape[d];
      if (d != g.axis) dst += c * g.st_a[d];
      so += c * g.st_b[d];
    }
    int64_t t = check_index(flag, KID_SCATTER_ADD, index[p], g.axis_size);
    if (t >= 0) atomic_add(out + dst + t * g.st_a[g.axis], src[so]);
  }
}

template <typename T>
__global__ void k_index_select(const T* __restrict__ x, const int32_t* __restrict__ index,
                               T* __restrict__ out, int64_t n_axis, int64_t inner, int64_t m,
                               int64_t total, int* flag) {
  GRID_STRIDE(e, total) {
    int64_t k = e % inner, q = e / inner;
    int64_t j = q % m, i = q / m;
    int64_t t = check_index(flag, KID_INDEX_SELECT, index[j], n_axis);
    out[e] = t < 0 ? (T)0 : x[(i * n_axis + t) * inner + k];
  }
}

template <typename T>
__global__ void k_index_add(const int32_t* __restrict__ index, const T* __restrict__ src, T* out,
                            int64_t n_axis, int64_t inner, int64_t m, int64_t total, int* flag) {
  GRID_STRIDE(e, total) {
    int64_t k = e % inner, q = e / inner;
    int64_t j = q % m, i = q / m;
    int64_t t = check_index(flag, KID_INDEX_ADD, index[j], n_axis);
    if (t >= 0) atomic_add(out + (i * n_axis + t) * inner + k, src[e]);
  }
}

bool make_geom(IndexGeom& g, int rank, const int64_t* idx_shape, const int64_t* st_a,
               const int64_t* st_b, int axis, int64_t axis_size) {
  if (rank < 1 || rank > DMFC_MAX_RANK || axis < 0 || axis >= rank) return false;
  g.rank = rank;
  g.axis = axis;
  g.axis_size = axis_size;
  for (int d = 0; d < DMFC_MAX_RANK; d++) {
    g.idx_shape[d] = d < rank ? idx_shape[d] : 1;
    g.st_a[d] = d < rank ? st_a[d] : 0;
    g.st_b[d] = d < rank && st_b ? st_b[d] : 0;
  }
  return true;
}

template <typename T>
cudaError_t scatter_t(const IndexGeom& g, uint64_t index, uint64_t src, uint64_t out, int64_t n) {
  return launch(k_scatter_add<T>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), g,
                ptr<const int32_t>(index), ptr<const T>(src), ptr<T>(out), n, errflag());
}

template <typename T>
cudaError_t index_add_t(uint64_t index, uint64_t src, uint64_t out, int64_t n_axis,
                        int64_t inner, int64_t m, int64_t total) {
  return launch(k_index_add<T>, dim3(grid_stride_blocks(total, kThreads)), dim3(kThreads),
                ptr<const int32_t>(index), ptr<const T>(src), ptr<T>(out), n_axis, inner, m,
                total, errflag());
}

}  // namespace

DMFC_API int dmfc_gather(int dt, int rank, const int64_t* idx_shape, const int64_t* x_strides,
                         int axis, int64_t axis_size, uint64_t x, uint64_t index, uint64_t out) {
  DMF_REQUIRE_INIT("gather");
  IndexGeom g;
  if (!make_geom(g, rank, idx_shape, x_strides, nullptr, axis, axis_size)) {
    return fail(DMFC_ERR_ARG, "gather: bad rank %d / axis %d", rank, axis);
  }
  int64_t n = numel(rank, idx_shape);
  if (n <= 0) return DMFC_OK;
  dim3 gr(grid_stride_blocks(n, kThreads)), t(kThreads);
  const int32_t* pi = ptr<const int32_t>(index);
  cudaError_t e =
      dtype_bytes(dt) == 4
          ? launch(k_gather<uint32_t>, gr, t, g, ptr<const uint32_t>(x), pi, ptr<uint32_t>(out), n,
                   errflag())
          : launch(k_gather<uint8_t>, gr, t, g, ptr<const uint8_t>(x), pi, ptr<uint8_t>(out), n,
                   errflag());
  return finish("gather", e);
}

DMFC_API int dmfc_scatter_add(int dt, int rank, const int64_t* idx_shape,
                              const int64_t* out_strides, const int64_t* src_strides, int axis,
                              int64_t axis_size, uint64_t x, uint64_t index, uint64_t src,
                              uint64_t out, int64_t out_n) {
  DMF_REQUIRE_INIT("scatter_add");
  IndexGeom g;
  if (!make_geom(g, rank, idx_shape, out_strides, src_strides, axis, axis_size)) {
    return fail(DMFC_ERR_ARG, "scatter_add: bad rank %d / axis %d", rank, axis);
  }
  if (out_n > 0) {
    DMF_CHECK("scatter_add (copy)", cudaMemcpyAsync(ptr<void>(out), ptr<const void>(x),
                                                    (size_t)(out_n * dtype_bytes(dt)),
                                                    cudaMemcpyDeviceToDevice, stream()));
  }
  int64_t n = numel(rank, idx_shape);
  if (n <= 0) return finish("scatter_add", cudaSuccess);
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = scatter_t<float>(g, index, src, out, n); break;
    case DMFC_I32: e = scatter_t<int32_t>(g, index, src, out, n); break;
    case DMFC_U8:
    case DMFC_BOOL: e = scatter_t<uint8_t>(g, index, src, out, n); break;
    default: return fail(DMFC_ERR_ARG, "scatter_add: bad dtype %d", dt);
  }
  return finish("scatter_add", e);
}

DMFC_API int dmfc_index_select(int dt, int64_t outer, int64_t n, int64_t inner, int64_t m,
                               uint64_t x, uint64_t index, uint64_t out) {
  DMF_REQUIRE_INIT("index_select");
  int64_t total = outer * m * inner;
  if (total <= 0) return DMFC_OK;
  dim3 gr(grid_stride_blocks(total, kThreads)), t(kThreads);
  const int32_t* pi = ptr<const int32_t>(index);
  cudaError_t e = dtype_bytes(dt) == 4
                      ? launch(k_index_select<uint32_t>, gr, t, ptr<const uint32_t>(x), pi,
                               ptr<uint32_t>(out), n, inner, m, total, errflag())
                      : launch(k_index_select<uint8_t>, gr, t, ptr<const uint8_t>(x), pi,
                               ptr<uint8_t>(out), n, inner, m, total, errflag());
  return finish("index_select", e);
}

DMFC_API int dmfc_index_add(int dt, int64_t outer, int64_t n, int64_t inner, int64_t m,
                            uint64_t x, uint64_t index, uint64_t src, uint64_t out) {
  DMF_REQUIRE_INIT("index_add");
  int64_t out_n = outer * n * inner;
  if (out_n > 0) {
    DMF_CHECK("index_add (copy)", cudaMemcpyAsync(ptr<void>(out), ptr<const void>(x),
                                                  (size_t)(out_n * dtype_bytes(dt)),
                                                  cudaMemcpyDeviceToDevice, stream()));
  }
  int64_t total = outer * m * inner;
  if (total <= 0) return finish("index_add", cudaSuccess);
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = index_add_t<float>(index, src, out, n, inner, m, total); break;
    case DMFC_I32: e = index_add_t<int32_t>(index, src, out, n, inner, m, total); break;
    case DMFC_U8:
    case DMFC_BOOL: e = index_add_t<uint8_t>(index, src, out, n, inner, m, total); break;
    default: return fail(DMFC_ERR_ARG, "index_add: bad dtype %d", dt);
  }
  return finish("index_add", e);
}
