/*
 * Elementwise kernels: unary and binary ops generated from the op table
 * (src/backend/cuda/ops_table.ts -> dmf_ops_gen.cuh), `where`, and `cast`.
 *
 * f32 tensors compute in float with the op id as a template constant. Integer and bool
 * tensors take a generic path that computes in double (exact for every i32 / u8 value, like
 * the CPU reference's float64 arithmetic) and stores with typed-array semantics (ToInt32,
 * ToUint8; bool outputs of binary ops store truth 0/1 like the reference).
 * Binary and where read their inputs through broadcast strides (rank <= 8).
 */
#include "common.cuh"
#include "dmf_ops_gen.cuh"

using namespace dmf;

namespace {

const int kThreads = 256;

template <typename TOut>
DMF_D TOut from_f32(float v);
template <>
DMF_D float from_f32<float>(float v) {
  return v;
}
template <>
DMF_D uint8_t from_f32<uint8_t>(float v) {
  return v != 0.0f ? 1 : 0;  // only predicates write bytes from the f32 path
}

template <int OP, typename TOut>
__global__ void k_unary_f32(const float* __restrict__ x, TOut* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) { out[i] = from_f32<TOut>(dmf_unary<float>(OP, x[i])); }
}

template <typename TIn, typename TOut>
__global__ void k_unary_gen(int op, const TIn* __restrict__ x, TOut* __restrict__ out,
                            int64_t n) {
  GRID_STRIDE(i, n) { out[i] = Conv<TOut>::from(dmf_unary<double>(op, (double)x[i])); }
}

template <int OP, typename TOut, typename I>
__global__ void k_binary_f32(Strided<2> s, const float* __restrict__ a,
                             const float* __restrict__ b, TOut* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t off[2];
    strided_offsets<I, 2>(s, (I)i, off);
    out[i] = from_f32<TOut>(dmf_binary<float>(OP, a[off[0]], b[off[1]]));
  }
}

template <typename TIn, typename TOut, typename I>
__global__ void k_binary_gen(int op, bool is_bool, Strided<2> s, const TIn* __restrict__ a,
                             const TIn* __restrict__ b, TOut* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t off[2];
    strided_offsets<I, 2>(s, (I)i, off);
    out[i] = store_as<TOut>(dmf_binary<double>(op, (double)a[off[0]], (double)b[off[1]]), is_bool);
  }
}

template <typename T, typename I>
__global__ void k_where(Strided<3> s, const uint8_t* __restrict__ c, const T* __restrict__ a,
                        const T* __restrict__ b, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    int64_t off[3];
    strided_offsets<I, 3>(s, (I)i, off);
    out[i] = c[off[0]] ? a[off[1]] : b[off[2]];
  }
}

template <typename TIn, typename TOut>
__global__ void k_cast(const TIn* __restrict__ x, TOut* __restrict__ out, int64_t n,
                       bool is_bool) {
  GRID_STRIDE(i, n) { out[i] = store_as<TOut>((double)x[i], is_bool); }
}

int bad_dtypes(const char* what, int a, int b) {
  return fail(DMFC_ERR_ARG, "%s: unsupported dtypes %s -> %s", what, dtype_name(a),
              dtype_name(b));
}

template <typename TIn, typename TOut>
cudaError_t unary_gen(dim3 g, int op, uint64_t x, uint64_t out, int64_t n) {
  return launch(k_unary_gen<TIn, TOut>, g, dim3(kThreads), op, ptr<const TIn>(x), ptr<TOut>(out),
                n);
}

template <typename TIn>
int unary_gen_out(dim3 g, int op, int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n,
                  cudaError_t* e) {
  switch (out_dt) {
    case DMFC_F32: *e = unary_gen<TIn, float>(g, op, x, out, n); return DMFC_OK;
    case DMFC_I32: *e = unary_gen<TIn, int32_t>(g, op, x, out, n); return DMFC_OK;
    case DMFC_U8:
    case DMFC_BOOL: *e = unary_gen<TIn, uint8_t>(g, op, x, out, n); return DMFC_OK;
  }
  return bad_dtypes("unary", in_dt, out_dt);
}

template <typename TIn, typename TOut, typename I>
cudaError_t binary_gen(dim3 g, int op, bool is_bool, const Strided<2>& s, uint64_t a, uint64_t b,
                       uint64_t out, int64_t n) {
  return launch(k_binary_gen<TIn, TOut, I>, g, dim3(kThreads), op, is_bool, s, ptr<const TIn>(a),
                ptr<const TIn>(b), ptr<TOut>(out), n);
}

template <typename TIn, typename I>
int binary_gen_out(dim3 g, int op, int in_dt, int out_dt, const Strided<2>& s, uint64_t a,
                   uint64_t b, uint64_t out, int64_t n, cudaError_t* e) {
  switch (out_dt) {
    case DMFC_F32: *e = binary_gen<TIn, float, I>(g, op, false, s, a, b, out, n); return DMFC_OK;
    case DMFC_I32: *e = binary_gen<TIn, int32_t, I>(g, op, false, s, a, b, out, n); return DMFC_OK;
    case DMFC_U8: *e = binary_gen<TIn, uint8_t, I>(g, op, false, s, a, b, out, n); return DMFC_OK;
    case DMFC_BOOL: *e = binary_gen<TIn, uint8_t, I>(g, op, true, s, a, b, out, n); return DMFC_OK;
  }
  return bad_dtypes("binary", in_dt, out_dt);
}

template <typename I>
int binary_dispatch(int op, int in_dt, int out_dt, const Strided<2>& s, uint64_t a, uint64_t b,
                    uint64_t out, int64_t n, cudaError_t* e) {
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  if (in_dt == DMFC_F32 && (out_dt == DMFC_F32 || out_dt == DMFC_BOOL || out_dt == DMFC_U8)) {
    const float* pa = ptr<const float>(a);
    const float* pb = ptr<const float>(b);
    if (out_dt == DMFC_F32) {
      switch (op) {
#define CASE(k)                                                                        \
  case k:                                                                              \
    *e = launch(k_binary_f32<k, float, I>, g, t, s, pa, pb, ptr<float>(out), n);       \
    return DMFC_OK;
        DMF_FOR_EACH_BINARY(CASE)
#undef CASE
      }
    } else {
      switch (op) {
#define CASE(k)                                                                        \
  case k:                                                                              \
    *e = launch(k_binary_f32<k, uint8_t, I>, g, t, s, pa, pb, ptr<uint8_t>(out), n);   \
    return DMFC_OK;
        DMF_FOR_EACH_BINARY(CASE)
#undef CASE
      }
    }
    return fail(DMFC_ERR_ARG, "binary: bad op %d", op);
  }
  switch (in_dt) {
    case DMFC_I32: return binary_gen_out<int32_t, I>(g, op, in_dt, out_dt, s, a, b, out, n, e);
    case DMFC_U8:
    case DMFC_BOOL: return binary_gen_out<uint8_t, I>(g, op, in_dt, out_dt, s, a, b, out, n, e);
  }
  return bad_dtypes("binary", in_dt, out_dt);
}

template <typename TIn>
int cast_out(dim3 g, int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n, cudaError_t* e) {
  const TIn* px = ptr<const TIn>(x);
  switch (out_dt) {
    case DMFC_F32:
      *e = launch(k_cast<TIn, float>, g, dim3(kThreads), px, ptr<float>(out), n, false);
      return DMFC_OK;
    case DMFC_I32:
      *e = launch(k_cast<TIn, int32_t>, g, dim3(kThreads), px, ptr<int32_t>(out), n, false);
      return DMFC_OK;
    case DMFC_U8:
    case DMFC_BOOL:
      *e = launch(k_cast<TIn, uint8_t>, g, dim3(kThreads), px, ptr<uint8_t>(out), n,
                  out_dt == DMFC_BOOL);
      return DMFC_OK;
  }
  return bad_dtypes("cast", in_dt, out_dt);
}

}  // namespace

DMFC_API int dmfc_unary_count(void) { return DMF_UNARY_COUNT; }
DMFC_API int dmfc_binary_count(void) { return DMF_BINARY_COUNT; }

DMFC_API int dmfc_unary(int op, int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n) {
  DMF_REQUIRE_INIT("unary");
  if (op < 0 || op >= DMF_UNARY_COUNT) return fail(DMFC_ERR_ARG, "unary: bad op %d", op);
  if (!valid_dtype(in_dt) || !valid_dtype(out_dt)) return bad_dtypes("unary", in_dt, out_dt);
  if (n <= 0) return DMFC_OK;
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  cudaError_t e = cudaSuccess;
  int rc = DMFC_OK;
  if (in_dt == DMFC_F32) {
    const float* px = ptr<const float>(x);
    if (out_dt == DMFC_F32) {
      switch (op) {
#define CASE(k) \
  case k: e = launch(k_unary_f32<k, float>, g, t, px, ptr<float>(out), n); break;
        DMF_FOR_EACH_UNARY(CASE)
#undef CASE
      }
    } else if (out_dt == DMFC_BOOL || out_dt == DMFC_U8) {
      switch (op) {
#define CASE(k) \
  case k: e = launch(k_unary_f32<k, uint8_t>, g, t, px, ptr<uint8_t>(out), n); break;
        DMF_FOR_EACH_UNARY(CASE)
#undef CASE
      }
    } else {
      return bad_dtypes("unary", in_dt, out_dt);
    }
  } else if (in_dt == DMFC_I32) {
    rc = unary_gen_out<int32_t>(g, op, in_dt, out_dt, x, out, n, &e);
  } else {
    rc = unary_gen_out<uint8_t>(g, op, in_dt, out_dt, x, out, n, &e);
  }
  if (rc != DMFC_OK) return rc;
  return finish("unary", e);
}

DMFC_API int dmfc_binary(int op, int in_dt, int out_dt, int rank, const int64_t* shape,
                         const int64_t* sa, const int64_t* sb, uint64_t a, uint64_t b,
                         uint64_t out) {
  DMF_REQUIRE_INIT("binary");
  if (op < 0 || op >= DMF_BINARY_COUNT) return fail(DMFC_ERR_ARG, "binary: bad op %d", op);
  if (!valid_dtype(in_dt) || !valid_dtype(out_dt)) return bad_dtypes("binary", in_dt, out_dt);
  Strided<2> s;
  const int64_t* st[2] = {sa, sb};
  if (!make_strided(s, rank, shape, st)) {
    return fail(DMFC_ERR_ARG, "binary: rank %d above %d after merging axes", rank, DMFC_MAX_RANK);
  }
  int64_t n = numel(rank, shape);
  if (n <= 0) return DMFC_OK;
  cudaError_t e = cudaSuccess;
  int rc = fits_u32(n) ? binary_dispatch<uint32_t>(op, in_dt, out_dt, s, a, b, out, n, &e)
                       : binary_dispatch<int64_t>(op, in_dt, out_dt, s, a, b, out, n, &e);
  if (rc != DMFC_OK) return rc;
  return finish("binary", e);
}

DMFC_API int dmfc_where(int dt, int rank, const int64_t* shape, const int64_t* sc,
                        const int64_t* sa, const int64_t* sb, uint64_t c, uint64_t a, uint64_t b,
                        uint64_t out) {
  DMF_REQUIRE_INIT("where");
  if (!valid_dtype(dt)) return fail(DMFC_ERR_ARG, "where: bad dtype %d", dt);
  Strided<3> s;
  const int64_t* st[3] = {sc, sa, sb};
  if (!make_strided(s, rank, shape, st)) {
    return fail(DMFC_ERR_ARG, "where: rank %d above %d after merging axes", rank, DMFC_MAX_RANK);
  }
  int64_t n = numel(rank, shape);
  if (n <= 0) return DMFC_OK;
  dim3 g(grid_stride_blocks(n, kThreads)), t(kThreads);
  const uint8_t* pc = ptr<const uint8_t>(c);
  cudaError_t e;
  bool small = fits_u32(n);
  if (dtype_bytes(dt) == 4) {
    const uint32_t* pa = ptr<const uint32_t>(a);
    const uint32_t* pb = ptr<const uint32_t>(b);
    uint32_t* po = ptr<uint32_t>(out);
    e = small ? launch(k_where<uint32_t, uint32_t>, g, t, s, pc, pa, pb, po, n)
              : launch(k_where<uint32_t, int64_t>, g, t, s, pc, pa, pb, po, n);
  } else {
    const uint8_t* pa = ptr<const uint8_t>(a);
    const uint8_t* pb = ptr<const uint8_t>(b);
    uint8_t* po = ptr<uint8_t>(out);
    e = small ? launch(k_where<uint8_t, uint32_t>, g, t, s, pc, pa, pb, po, n)
              : launch(k_where<uint8_t, int64_t>, g, t, s, pc, pa, pb, po, n);
  }
  return finish("where", e);
}

DMFC_API int dmfc_cast(int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n) {
  DMF_REQUIRE_INIT("cast");
  if (!valid_dtype(in_dt) || !valid_dtype(out_dt)) return bad_dtypes("cast", in_dt, out_dt);
  if (n <= 0) return DMFC_OK;
  bool same_bits = in_dt == out_dt || (in_dt == DMFC_BOOL && out_dt == DMFC_U8);
  if (same_bits) {
    DMF_CHECK("cast", cudaMemcpyAsync(ptr<void>(out), ptr<const void>(x),
                                      (size_t)(n * dtype_bytes(in_dt)), cudaMemcpyDeviceToDevice,
                                      stream()));
    return finish("cast", cudaSuccess);
  }
  dim3 g(grid_stride_blocks(n, kThreads));
  cudaError_t e = cudaSuccess;
  int rc;
  switch (in_dt) {
    case DMFC_F32: rc = cast_out<float>(g, in_dt, out_dt, x, out, n, &e); break;
    case DMFC_I32: rc = cast_out<int32_t>(g, in_dt, out_dt, x, out, n, &e); break;
    default: rc = cast_out<uint8_t>(g, in_dt, out_dt, x, out, n, &e); break;
  }
  if (rc != DMFC_OK) return rc;
  return finish("cast", e);
}
