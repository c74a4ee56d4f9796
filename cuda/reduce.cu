/*
 * Reductions over arbitrary axes (sum, mean, max, min, prod), argmax / argmin along one axis.
 *
 * The host side (src/backend/cuda) splits the input's axes into kept axes (which index the
 * output, row-major) and reduced axes, merging neighbours that are contiguous. Two layouts:
 * - the innermost reduced axis has stride 1 ("rows"): a warp (or a whole block for long rows)
 *   reduces each output, reading consecutive addresses;
 * - otherwise ("columns"): a 32 x 8 block reduces 32 neighbouring outputs, the 32 lanes reading
 *   consecutive addresses and the 8 rows splitting the reduced range.
 * Accumulation is in double, as in the CPU reference (exact for every integer input); max/min
 * propagate NaN like PyTorch. The output is stored with typed-array semantics.
 */
#include "common.cuh"

using namespace dmf;

namespace {

struct RedGeom {
  Strided<1> kept;  // output index -> input offset
  Strided<1> red;   // reduced index -> input offset
  int64_t nout, nred;
  bool small;  // every index fits 32 bits
};

template <int OP>
struct RedOp;

template <>
struct RedOp<DMFC_RED_SUM> {
  static DMF_D double init() { return 0.0; }
  static DMF_D double step(double a, double v) { return a + v; }
};
template <>
struct RedOp<DMFC_RED_MEAN> : RedOp<DMFC_RED_SUM> {};
template <>
struct RedOp<DMFC_RED_PROD> {
  static DMF_D double init() { return 1.0; }
  static DMF_D double step(double a, double v) { return a * v; }
};
template <>
struct RedOp<DMFC_RED_MAX> {
  static DMF_D double init() { return -INFINITY; }
  // NaN wins (both as the accumulator and as the new value)
  static DMF_D double step(double m, double v) {
    return (m != m || v <= m) ? m : (v > m ? v : v + m);
  }
};
template <>
struct RedOp<DMFC_RED_MIN> {
  static DMF_D double init() { return INFINITY; }
  static DMF_D double step(double m, double v) {
    return (m != m || v >= m) ? m : (v < m ? v : v + m);
  }
};

DMF_D void write_out(void* out, int out_dt, int64_t o, double v) {
  switch (out_dt) {
    case DMFC_F32: static_cast<float*>(out)[o] = (float)v; break;
    case DMFC_I32: static_cast<int32_t*>(out)[o] = js_i32(v); break;
    default: static_cast<uint8_t*>(out)[o] = js_u8(v); break;
  }
}

DMF_D int64_t kept_offset(const RedGeom& g, int64_t o) {
  int64_t off[1];
  if (g.small) strided_offsets<uint32_t, 1>(g.kept, (uint32_t)o, off);
  else strided_offsets<int64_t, 1>(g.kept, o, off);
  return off[0];
}

DMF_D int64_t red_offset(const RedGeom& g, int64_t r) {
  int64_t off[1];
  if (g.small) strided_offsets<uint32_t, 1>(g.red, (uint32_t)r, off);
  else strided_offsets<int64_t, 1>(g.red, r, off);
  return off[0];
}

template <int OP>
DMF_D double finish_value(double acc, int64_t nred) {
  return OP == DMFC_RED_MEAN ? acc / (double)nred : acc;
}

/** One warp per output (blockDim 256 = 8 outputs per block), rows contiguous. */
template <int OP, typename TIn>
__global__ void __launch_bounds__(256) k_reduce_warp(RedGeom g, const TIn* __restrict__ x,
                                                     void* out, int out_dt) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t o = (int64_t)blockIdx.x * 8 + warp; o < g.nout; o += (int64_t)gridDim.x * 8) {
    const TIn* base = x + kept_offset(g, o);
    double acc = RedOp<OP>::init();
    for (int64_t r = lane; r < g.nred; r += 32) acc = RedOp<OP>::step(acc, (double)base[red_offset(g, r)]);
    for (int s = 16; s > 0; s >>= 1) {
      acc = RedOp<OP>::step(acc, __shfl_xor_sync(0xffffffffu, acc, s));
    }
    if (lane == 0) write_out(out, out_dt, o, finish_value<OP>(acc, g.nred));
  }
}

/** One block (256 threads) per output, for long contiguous rows. */
template <int OP, typename TIn>
__global__ void __launch_bounds__(256) k_reduce_block(RedGeom g, const TIn* __restrict__ x,
                                                      void* out, int out_dt) {
  __shared__ double part[8];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t o = blockIdx.x; o < g.nout; o += gridDim.x) {
    const TIn* base = x + kept_offset(g, o);
    double acc = RedOp<OP>::init();
    for (int64_t r = threadIdx.x; r < g.nred; r += 256) {
      acc = RedOp<OP>::step(acc, (double)base[red_offset(g, r)]);
    }
    for (int s = 16; s > 0; s >>= 1) {
      acc = RedOp<OP>::step(acc, __shfl_xor_sync(0xffffffffu, acc, s));
    }
    if (lane == 0) part[warp] = acc;
    __syncthreads();
    if (warp == 0) {
      acc = lane < 8 ? part[lane] : RedOp<OP>::init();
      for (int s = 4; s > 0; s >>= 1) {
        acc = RedOp<OP>::step(acc, __shfl_xor_sync(0xffffffffu, acc, s));
      }
      if (lane == 0) write_out(out, out_dt, o, finish_value<OP>(acc, g.nred));
    }
    __syncthreads();  // part[] is rewritten by the next output
  }
}

/** 32 x 8 block: 32 neighbouring outputs, the reduced range split over 8 rows. */
template <int OP, typename TIn>
__global__ void __launch_bounds__(256) k_reduce_cols(RedGeom g, const TIn* __restrict__ x,
                                                     void* out, int out_dt) {
  __shared__ double part[8][33];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t o0 = (int64_t)blockIdx.x * 32; o0 < g.nout; o0 += (int64_t)gridDim.x * 32) {
    int64_t o = o0 + tx;
    double acc = RedOp<OP>::init();
    if (o < g.nout) {
      const TIn* base = x + kept_offset(g, o);
      for (int64_t r = ty; r < g.nred; r += 8) {
        acc = RedOp<OP>::step(acc, (double)base[red_offset(g, r)]);
      }
    }
    part[ty][tx] = acc;
    __syncthreads();
    if (ty == 0 && o < g.nout) {
      double a = part[0][tx];
      for (int k = 1; k < 8; k++) a = RedOp<OP>::step(a, part[k][tx]);
      write_out(out, out_dt, o, finish_value<OP>(a, g.nred));
    }
    __syncthreads();
  }
}

template <int OP, typename TIn>
cudaError_t reduce_launch(const RedGeom& g, uint64_t x, uint64_t out, int out_dt, bool rows) {
  const TIn* px = ptr<const TIn>(x);
  void* po = ptr<void>(out);
  int64_t cap = (int64_t)sm_count() * 32;
  if (!rows) {
    int64_t blocks = imin((g.nout + 31) / 32, cap);
    return launch(k_reduce_cols<OP, TIn>, dim3((unsigned)blocks), dim3(32, 8), g, px, po, out_dt);
  }
  if (g.nred >= 2048 && g.nout < (int64_t)sm_count() * 64) {
    return launch(k_reduce_block<OP, TIn>, dim3((unsigned)imin(g.nout, cap * 8)), dim3(256), g, px,
                  po, out_dt);
  }
  int64_t blocks = imin((g.nout + 7) / 8, cap * 8);
  return launch(k_reduce_warp<OP, TIn>, dim3((unsigned)blocks), dim3(256), g, px, po, out_dt);
}

template <typename TIn>
int reduce_op(int op, const RedGeom& g, uint64_t x, uint64_t out, int out_dt, bool rows,
              cudaError_t* e) {
  switch (op) {
    case DMFC_RED_SUM: *e = reduce_launch<DMFC_RED_SUM, TIn>(g, x, out, out_dt, rows); break;
    case DMFC_RED_MEAN: *e = reduce_launch<DMFC_RED_MEAN, TIn>(g, x, out, out_dt, rows); break;
    case DMFC_RED_MAX: *e = reduce_launch<DMFC_RED_MAX, TIn>(g, x, out, out_dt, rows); break;
    case DMFC_RED_MIN: *e = reduce_launch<DMFC_RED_MIN, TIn>(g, x, out, out_dt, rows); break;
    case DMFC_RED_PROD: *e = reduce_launch<DMFC_RED_PROD, TIn>(g, x, out, out_dt, rows); break;
    default: return fail(DMFC_ERR_ARG, "reduce: bad op %d", op);
  }
  return DMFC_OK;
}

// ---- argmax / argmin -------------------------------------------------------------------------

/** Merges candidate (v, i) into the best so far: NaN wins, ties go to the lower index. */
template <bool IS_MIN>
DMF_D void arg_merge(double& bv, int64_t& bi, double v, int64_t i) {
  bool bn = bv != bv, vn = v != v;
  if (bn || vn) {
    if (bn && vn) {
      if (i < bi) bi = i;
    } else if (vn) {
      bv = v;
      bi = i;
    }
    return;
  }
  if (IS_MIN ? v < bv : v > bv) {
    bv = v;
    bi = i;
  } else if (v == bv && i < bi) {
    bi = i;
  }
}

/** inner == 1: one warp per row. */
template <bool IS_MIN, typename T>
__global__ void __launch_bounds__(256) k_arg_rows(const T* __restrict__ x, int32_t* out,
                                                  int64_t rows, int64_t n) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int64_t row = (int64_t)blockIdx.x * 8 + warp; row < rows; row += (int64_t)gridDim.x * 8) {
    const T* base = x + row * n;
    double bv = IS_MIN ? INFINITY : -INFINITY;
    int64_t bi = INT64_MAX;
    for (int64_t j = lane; j < n; j += 32) arg_merge<IS_MIN>(bv, bi, (double)base[j], j);
    for (int s = 16; s > 0; s >>= 1) {
      double ov = __shfl_xor_sync(0xffffffffu, bv, s);
      int64_t oi = __shfl_xor_sync(0xffffffffu, bi, s);
      arg_merge<IS_MIN>(bv, bi, ov, oi);
    }
    if (lane == 0) out[row] = (int32_t)bi;
  }
}

/** inner > 1: one thread per (outer, inner) column, neighbours reading neighbours. */
template <bool IS_MIN, typename T>
__global__ void k_arg_cols(const T* __restrict__ x, int32_t* out, int64_t outer, int64_t n,
                           int64_t inner) {
  GRID_STRIDE(c, outer * inner) {
    int64_t o = c / inner, k = c - o * inner;
    const T* base = x + o * n * inner + k;
    double bv = IS_MIN ? INFINITY : -INFINITY;
    int64_t bi = INT64_MAX;
    for (int64_t j = 0; j < n; j++) arg_merge<IS_MIN>(bv, bi, (double)base[j * inner], j);
    out[c] = (int32_t)bi;
  }
}

template <bool IS_MIN, typename T>
cudaError_t arg_launch(int64_t outer, int64_t n, int64_t inner, uint64_t x, uint64_t out) {
  int64_t cap = (int64_t)sm_count() * 32;
  if (inner == 1) {
    return launch(k_arg_rows<IS_MIN, T>, dim3((unsigned)imin((outer + 7) / 8, cap * 8)), dim3(256),
                  ptr<const T>(x), ptr<int32_t>(out), outer, n);
  }
  return launch(k_arg_cols<IS_MIN, T>, dim3(grid_stride_blocks(outer * inner, 256)), dim3(256),
                ptr<const T>(x), ptr<int32_t>(out), outer, n, inner);
}

template <typename T>
cudaError_t arg_dt(int is_min, int64_t outer, int64_t n, int64_t inner, uint64_t x, uint64_t out) {
  return is_min ? arg_launch<true, T>(outer, n, inner, x, out)
                : arg_launch<false, T>(outer, n, inner, x, out);
}

}  // namespace

DMFC_API int dmfc_reduce(int op, int in_dt, int out_dt, int krank, const int64_t* kshape,
                         const int64_t* kstrides, int rrank, const int64_t* rshape,
                         const int64_t* rstrides, uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("reduce");
  if (!valid_dtype(in_dt) || !valid_dtype(out_dt)) {
    return fail(DMFC_ERR_ARG, "reduce: bad dtypes %d -> %d", in_dt, out_dt);
  }
  RedGeom g;
  const int64_t* ks[1] = {kstrides};
  const int64_t* rs[1] = {rstrides};
  if (!make_strided(g.kept, krank, kshape, ks) || !make_strided(g.red, rrank, rshape, rs)) {
    return fail(DMFC_ERR_ARG, "reduce: more than %d kept or reduced axes after merging",
                DMFC_MAX_RANK);
  }
  g.nout = numel(krank, kshape);
  g.nred = numel(rrank, rshape);
  if (g.nout <= 0) return DMFC_OK;
  g.small = fits_u32(g.nout) && fits_u32(g.nred);
  // rows: the innermost reduced axis is contiguous (and long enough to be worth a warp)
  bool rows = rrank > 0 && rstrides[rrank - 1] == 1 && g.nred >= 16;
  if (krank == 0) rows = true;
  cudaError_t e = cudaSuccess;
  int rc;
  switch (in_dt) {
    case DMFC_F32: rc = reduce_op<float>(op, g, x, out, out_dt, rows, &e); break;
    case DMFC_I32: rc = reduce_op<int32_t>(op, g, x, out, out_dt, rows, &e); break;
    default: rc = reduce_op<uint8_t>(op, g, x, out, out_dt, rows, &e); break;
  }
  if (rc != DMFC_OK) return rc;
  return finish("reduce", e);
}

DMFC_API int dmfc_argreduce(int is_min, int dt, int64_t outer, int64_t n, int64_t inner,
                            uint64_t x, uint64_t out) {
  DMF_REQUIRE_INIT("argreduce");
  if (outer * inner <= 0) return DMFC_OK;
  if (n <= 0) return fail(DMFC_ERR_ARG, "argreduce: empty axis");
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = arg_dt<float>(is_min, outer, n, inner, x, out); break;
    case DMFC_I32: e = arg_dt<int32_t>(is_min, outer, n, inner, x, out); break;
    case DMFC_U8:
    case DMFC_BOOL: e = arg_dt<uint8_t>(is_min, outer, n, inner, x, out); break;
    default: return fail(DMFC_ERR_ARG, "argreduce: bad dtype %d", dt);
  }
  return finish(is_min ? "argmin" : "argmax", e);
}
