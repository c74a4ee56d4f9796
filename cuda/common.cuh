/*
 * Shared by every .cu file in cuda/: the runtime hooks (stream, error reporting), the launch
 * helper, index helpers, dtype conversions with the CPU reference's (JavaScript typed array)
 * semantics, math overloads for float/double and warp reductions.
 *
 * The same sources build for the GPU (nvcc) and, with -DDMF_EMU, for the CPU emulation in
 * cuda/emu (g++): only the CUDA subset that cuda_emu.h provides may be used here.
 */
#pragma once

#ifdef DMF_EMU
#include "emu/cuda_emu.h"
#else
#include <cuda_runtime.h>
#endif

#include <math.h>
#include <stdint.h>

#include "dmf_cuda.h"

#define DMF_HD __host__ __device__ __forceinline__
#define DMF_D __device__ __forceinline__

namespace dmf {

// ---- runtime hooks (runtime.cu) --------------------------------------------------------

cudaStream_t stream();
int sm_count();
bool initialised();
/** Device int[4] that kernels set on a bad index: {code, kernel, index, size}. */
int* errflag();
/** Records "<where>: <CUDA error>" and returns DMFC_ERR_CUDA. */
int fail_cuda(const char* where, cudaError_t e);
/** Records a formatted message and returns `code`. */
int fail(int code, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
/** After a launch: maps the launch status to a code (and syncs in sync-debug mode). */
int finish(const char* kernel, cudaError_t launch_status);
/** Device scratch memory from the stream-ordered pool (freed with scratch_free). */
void* scratch_alloc(int64_t bytes, const char* who, int* status);
void scratch_free(void* p);

// Kernel ids for the error flag (src/backend/cuda/ffi.ts names them).
enum { KID_GATHER = 1, KID_SCATTER_ADD = 2, KID_INDEX_SELECT = 3, KID_INDEX_ADD = 4 };

// ---- launching --------------------------------------------------------------------------

#ifdef DMF_EMU
template <typename... KA, typename... A>
inline cudaError_t launch(void (*k)(KA...), dim3 g, dim3 b, A... a) {
  auto body = [&]() { k(a...); };
  cudaError_t e = emu::launch(g, b, body);
  cudaGetLastError();
  return e;
}
#else
template <typename... KA, typename... A>
inline cudaError_t launch(void (*k)(KA...), dim3 g, dim3 b, A... a) {
  k<<<g, b, 0, stream()>>>(a...);
  return cudaGetLastError();
}
#endif

/** A grid-stride loop over [0, n) with a 64-bit index. */
#define GRID_STRIDE(i, n)                                                    \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
       i += (int64_t)gridDim.x * blockDim.x)

/** Blocks for a grid-stride loop over n items: enough to fill the device, never more. */
inline unsigned grid_stride_blocks(int64_t n, int threads) {
  int64_t want = (n + threads - 1) / threads;
  int64_t cap = (int64_t)sm_count() * 32;
  if (want > cap) want = cap;
  return (unsigned)(want < 1 ? 1 : want);
}

/** Blocks for one item per thread (x dimension of the grid). */
inline unsigned exact_blocks(int64_t n, int threads) {
  int64_t b = (n + threads - 1) / threads;
  return (unsigned)(b < 1 ? 1 : b);
}

template <typename T>
DMF_HD T* ptr(uint64_t p) {
  return reinterpret_cast<T*>(static_cast<uintptr_t>(p));
}

DMF_HD int64_t imin(int64_t a, int64_t b) { return a < b ? a : b; }
DMF_HD int64_t imax(int64_t a, int64_t b) { return a > b ? a : b; }

// ---- strided index math (rank <= DMFC_MAX_RANK) -------------------------------------------

/** Shape plus NOPS stride vectors; passed by value to kernels. */
template <int NOPS>
struct Strided {
  int rank;
  int64_t shape[DMFC_MAX_RANK];
  int64_t st[NOPS][DMFC_MAX_RANK];
};

/**
 * Offsets of linear index i (row-major over shape) in each operand. I is the type used for
 * the division (uint32_t when every extent fits, which is much faster than 64-bit division).
 */
template <typename I, int NOPS>
DMF_D void strided_offsets(const Strided<NOPS>& s, I i, int64_t (&off)[NOPS]) {
#pragma unroll
  for (int k = 0; k < NOPS; k++) off[k] = 0;
  for (int d = s.rank - 1; d > 0; d--) {
    I n = (I)s.shape[d];
    I q = i / n;
    int64_t c = (int64_t)(i - q * n);
    i = q;
#pragma unroll
    for (int k = 0; k < NOPS; k++) off[k] += c * s.st[k][d];
  }
  // what is left of i indexes axis 0 (i < shape[0] for every valid linear index)
  if (s.rank > 0) {
#pragma unroll
    for (int k = 0; k < NOPS; k++) off[k] += (int64_t)i * s.st[k][0];
  }
}

/** Fills a Strided from host arrays; returns false when the rank is too large. */
template <int NOPS>
inline bool make_strided(Strided<NOPS>& s, int rank, const int64_t* shape,
                         const int64_t* const* strides) {
  if (rank < 0 || rank > DMFC_MAX_RANK) return false;
  s.rank = rank;
  for (int d = 0; d < DMFC_MAX_RANK; d++) {
    s.shape[d] = d < rank ? shape[d] : 1;
    for (int k = 0; k < NOPS; k++) s.st[k][d] = d < rank ? strides[k][d] : 0;
  }
  return true;
}

inline int64_t numel(int rank, const int64_t* shape) {
  int64_t n = 1;
  for (int d = 0; d < rank; d++) n *= shape[d];
  return n;
}

inline bool fits_u32(int64_t n) { return n >= 0 && n < ((int64_t)1 << 31); }

/** a * b + c rounded twice, like the CPU reference (never contracted into one fma). */
DMF_HD double mul_add_rn(double a, double b, double c) {
#ifdef __CUDA_ARCH__
  return __dadd_rn(__dmul_rn(a, b), c);
#else
  return a * b + c;
#endif
}

// ---- dtype conversions (JavaScript typed-array store semantics) ---------------------------

/** ToInt32: truncate, wrap modulo 2^32; NaN and infinities give 0. */
DMF_HD int32_t js_i32(double v) {
  if (!(v - v == 0.0)) return 0;
  double t = trunc(v);
  if (t >= -2147483648.0 && t <= 2147483647.0) return (int32_t)t;
  double m = fmod(t, 4294967296.0);
  if (m < 0) m += 4294967296.0;
  return (int32_t)(uint32_t)m;
}

/** ToUint8 (Uint8Array store): truncate, wrap modulo 256; NaN and infinities give 0. */
DMF_HD uint8_t js_u8(double v) {
  if (!(v - v == 0.0)) return 0;
  double t = trunc(v);
  if (t >= 0.0 && t <= 255.0) return (uint8_t)t;
  double m = fmod(t, 256.0);
  if (m < 0) m += 256.0;
  return (uint8_t)m;
}

template <typename T>
struct Conv;
template <>
struct Conv<float> {
  static DMF_HD float from(double v) { return (float)v; }
};
template <>
struct Conv<int32_t> {
  static DMF_HD int32_t from(double v) { return js_i32(v); }
};
template <>
struct Conv<uint8_t> {
  static DMF_HD uint8_t from(double v) { return js_u8(v); }
};

/** Store with the dtype's semantics; bool stores truth (0/1) like the cast kernel. */
template <typename T>
DMF_HD T store_as(double v, bool is_bool) {
  return is_bool ? (T)(v != 0.0 ? 1 : 0) : Conv<T>::from(v);
}

inline int dtype_bytes(int dt) { return dt == DMFC_F32 || dt == DMFC_I32 ? 4 : 1; }
inline bool valid_dtype(int dt) { return dt >= DMFC_F32 && dt <= DMFC_BOOL; }
const char* dtype_name(int dt);

// ---- math overloads (float for f32 work, double for the integer paths) ---------------------

DMF_HD float m_exp(float x) { return expf(x); }
DMF_HD double m_exp(double x) { return exp(x); }
DMF_HD float m_log(float x) { return logf(x); }
DMF_HD double m_log(double x) { return log(x); }
DMF_HD float m_log1p(float x) { return log1pf(x); }
DMF_HD double m_log1p(double x) { return log1p(x); }
DMF_HD float m_sqrt(float x) { return sqrtf(x); }
DMF_HD double m_sqrt(double x) { return sqrt(x); }
DMF_HD float m_sin(float x) { return sinf(x); }
DMF_HD double m_sin(double x) { return sin(x); }
DMF_HD float m_cos(float x) { return cosf(x); }
DMF_HD double m_cos(double x) { return cos(x); }
DMF_HD float m_tanh(float x) { return tanhf(x); }
DMF_HD double m_tanh(double x) { return tanh(x); }
DMF_HD float m_erf(float x) { return erff(x); }
DMF_HD double m_erf(double x) { return erf(x); }
DMF_HD float m_floor(float x) { return floorf(x); }
DMF_HD double m_floor(double x) { return floor(x); }
DMF_HD float m_ceil(float x) { return ceilf(x); }
DMF_HD double m_ceil(double x) { return ceil(x); }
/** Round half to even (the default rounding mode). */
DMF_HD float m_rint(float x) { return rintf(x); }
DMF_HD double m_rint(double x) { return rint(x); }
DMF_HD float m_fabs(float x) { return fabsf(x); }
DMF_HD double m_fabs(double x) { return fabs(x); }
DMF_HD float m_pow(float x, float y) { return powf(x, y); }
DMF_HD double m_pow(double x, double y) { return pow(x, y); }
DMF_HD float m_atan2(float y, float x) { return atan2f(y, x); }
DMF_HD double m_atan2(double y, double x) { return atan2(y, x); }

template <typename T>
DMF_HD bool m_isnan(T x) {
  return x != x;
}
template <typename T>
DMF_HD T m_nan() {
  return (T)NAN;
}

/** JavaScript Math.sign: keeps NaN and signed zeros. */
template <typename T>
DMF_HD T m_sign(T x) {
  return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x);
}

/** C pow (what PyTorch uses): pow(1, y) and pow(x, 0) are 1 even for NaN; pow(-1, +-inf) = 1. */
template <typename T>
DMF_HD T m_pow_c(T x, T y) {
  if (x == T(1) || y == T(0)) return T(1);
  if (x == T(-1) && (y == (T)INFINITY || y == -(T)INFINITY)) return T(1);
  // The double path serves i32 / u8 tensors: square-and-multiply is exact below 2^53, where
  // the GPU's pow is not (pow(2, 31) gave 2147483647.99..., stored as 2147483647).
  if (sizeof(T) == 8 && x == trunc(x) && y == trunc(y) && y > T(0) && y <= T(64)) {
    T r = T(1), b = x;
    for (int e = (int)y; e; e >>= 1, b *= b) {
      if (e & 1) r *= b;
    }
    return r;
  }
  return m_pow(x, y);
}

/** True for -0 (only asked when x == y, so any nonzero x answers for both). */
template <typename T>
DMF_HD bool m_negzero(T x) {
  return x == T(0) && T(1) / x < T(0);
}

/** Math.min with NaN propagation and -0 < +0. */
template <typename T>
DMF_HD T m_min_js(T x, T y) {
  if (x != x || y != y) return m_nan<T>();
  if (x < y) return x;
  if (y < x) return y;
  return m_negzero(x) ? x : y;
}

template <typename T>
DMF_HD T m_max_js(T x, T y) {
  if (x != x || y != y) return m_nan<T>();
  if (x > y) return x;
  if (y > x) return y;
  return m_negzero(x) ? y : x;
}

template <typename T>
DMF_HD T m_sigmoid(T x) {
  return x >= T(0) ? T(1) / (T(1) + m_exp(-x)) : m_exp(x) / (T(1) + m_exp(x));
}

// ---- warp helpers --------------------------------------------------------------------------

/** Butterfly sum over aligned groups of `width` lanes (every lane of the warp must call it). */
template <typename T>
DMF_D T group_sum(T v, int width) {
  for (int o = width >> 1; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o, width);
  return v;
}

}  // namespace dmf

/** Evaluates a CUDA call and returns its error from the enclosing int function. */
#define DMF_CHECK(where, expr)                                    \
  do {                                                            \
    cudaError_t dmf_e_ = (expr);                                  \
    if (dmf_e_ != cudaSuccess) return dmf::fail_cuda(where, dmf_e_); \
  } while (0)

#define DMF_REQUIRE_INIT(where)                                                          \
  do {                                                                                   \
    if (!dmf::initialised())                                                             \
      return dmf::fail(DMFC_ERR_NOT_INIT, "%s: the CUDA backend is not initialised", where); \
  } while (0)
