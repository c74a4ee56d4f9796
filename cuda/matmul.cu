/*
 * Batched matmul with broadcast batch axes and transposed operands (attrs transA / transB).
 *
 * f32 runs on the library's tiled kernel (gemm.cuh: 64 x 64 or 128 x 128 tiles, register
 * blocking, shared-memory staging) or on cuBLAS, which is loaded with dlopen at run time when
 * present (libcublas.so.13/.12/.11; nothing links against it). In auto mode the first call
 * of every shape times both (after a warm-up run each) and remembers the faster; DMF_CUDA_MATMUL
 * = own | cublas | auto overrides. cuBLAS needs the batch axes to merge into one stride (the
 * host merges them when it can); other layouts always use the own kernel.
 * Integer dtypes use a plain kernel that sums in double and stores with ToInt32 / ToUint8.
 */
#include <stdlib.h>
#include <string.h>

#include <map>
#include <tuple>

#ifndef DMF_EMU
#include <dlfcn.h>
#endif

#include "gemm.cuh"

using namespace dmf;

namespace {

struct MatmulZ {
  const float* a;
  const float* b;
  float* c;
  int64_t kbeg, kend;
};

template <bool TA, bool TB>
struct MatmulProb {
  static constexpr bool A_KFAST = !TA;
  static constexpr bool B_NFAST = !TB;
  const float* A;
  const float* B;
  float* C;
  int64_t M, N, K, zcount;
  static constexpr bool ta = TA, tb = TB;
  Strided<2> batch;
  typedef MatmulZ Z;
  DMF_D Z at(int64_t z) const {
    int64_t off[2];
    strided_offsets<int64_t, 2>(batch, z, off);
    return Z{A + off[0], B + off[1], C + z * M * N, 0, K};
  }
  DMF_D float a(const Z& c, int64_t m, int64_t k) const { return ta ? c.a[k * M + m] : c.a[m * K + k]; }
  DMF_D float b(const Z& c, int64_t k, int64_t n) const { return tb ? c.b[n * K + k] : c.b[k * N + n]; }
  DMF_D void store(const Z& c, int64_t m, int64_t n, float v) const { c.c[m * N + n] = v; }
};

template <typename T>
__global__ void k_matmul_plain(Strided<2> batch, const T* __restrict__ A, const T* __restrict__ B,
                               T* __restrict__ C, int64_t M, int64_t N, int64_t K, bool ta,
                               bool tb, int64_t total) {
  GRID_STRIDE(e, total) {
    int64_t n = e % N, t = e / N;
    int64_t m = t % M, z = t / M;
    int64_t off[2];
    strided_offsets<int64_t, 2>(batch, z, off);
    const T* a = A + off[0];
    const T* b = B + off[1];
    double s = 0.0;
    for (int64_t k = 0; k < K; k++) {
      s += (double)(ta ? a[k * M + m] : a[m * K + k]) * (double)(tb ? b[n * K + k] : b[k * N + n]);
    }
    C[e] = Conv<T>::from(s);
  }
}

// ---- cuBLAS through dlopen ----------------------------------------------------------------------

typedef int (*cublas_create_t)(void**);
typedef int (*cublas_set_stream_t)(void*, cudaStream_t);
typedef int (*cublas_sgemm_batched_t)(void*, int, int, int, int, int, const float*, const float*,
                                      int, long long, const float*, int, long long, const float*,
                                      float*, int, long long, int);

struct Cublas {
  bool tried = false;
  void* lib = nullptr;
  void* handle = nullptr;
  cublas_sgemm_batched_t gemm = nullptr;
} g_cublas;

bool cublas_ready() {
#ifdef DMF_EMU
  return false;
#else
  if (g_cublas.tried) return g_cublas.handle != nullptr;
  g_cublas.tried = true;
  const char* names[] = {"libcublas.so.13", "libcublas.so.12", "libcublas.so.11", "libcublas.so"};
  for (const char* n : names) {
    g_cublas.lib = dlopen(n, RTLD_NOW | RTLD_LOCAL);
    if (g_cublas.lib) break;
  }
  if (!g_cublas.lib) return false;
  auto create = (cublas_create_t)dlsym(g_cublas.lib, "cublasCreate_v2");
  auto set_stream = (cublas_set_stream_t)dlsym(g_cublas.lib, "cublasSetStream_v2");
  g_cublas.gemm = (cublas_sgemm_batched_t)dlsym(g_cublas.lib, "cublasSgemmStridedBatched");
  void* h = nullptr;
  if (!create || !set_stream || !g_cublas.gemm || create(&h) != 0 || !h) return false;
  if (set_stream(h, stream()) != 0) return false;
  g_cublas.handle = h;
  return true;
#endif
}

/** C (row-major M x N) = op(A) op(B) as the column-major product C^T = op(B)^T op(A)^T. */
template <class P>
int cublas_run(const P& p, int64_t batch, int64_t sa, int64_t sb) {
  const int OP_N = 0, OP_T = 1;
  const float one = 1.0f, zero = 0.0f;
  int lda = (int)(p.ta ? p.M : p.K);
  int ldb = (int)(p.tb ? p.K : p.N);
  int st = g_cublas.gemm(g_cublas.handle, p.tb ? OP_T : OP_N, p.ta ? OP_T : OP_N, (int)p.N,
                         (int)p.M, (int)p.K, &one, p.B, ldb > 0 ? ldb : 1, sb, p.A,
                         lda > 0 ? lda : 1, sa, &zero, p.C, (int)(p.N > 0 ? p.N : 1), p.M * p.N,
                         (int)batch);
  return st;
}

int g_mode = -1;  // 0 auto, 1 own, 2 cublas
int g_last_impl = 0;
typedef std::tuple<int64_t, int64_t, int64_t, int64_t, int, int> ShapeKey;
std::map<ShapeKey, int> g_choice;  // 1/2 own tiles, 3 cublas

int mode() {
  if (g_mode < 0) {
    const char* m = getenv("DMF_CUDA_MATMUL");
    g_mode = !m ? 0 : !strcmp(m, "own") ? 1 : !strcmp(m, "cublas") ? 2 : 0;
  }
  return g_mode;
}

template <class P>
bool big_tiles(const P& p) {
  return p.M >= 128 && p.N >= 128 &&
         ((p.M + 127) / 128) * ((p.N + 127) / 128) * p.zcount >= 2 * (int64_t)sm_count();
}

template <class P>
cudaError_t own_run(const P& p, int* impl) {
  bool big = big_tiles(p);
  *impl = big ? 2 : 1;
  return gemm_launch(p, big);
}

/** Runs fn twice and returns the time of the second run in ms (negative on error). */
template <class F>
float time_twice(F fn) {
  cudaEvent_t e0, e1;
  if (cudaEventCreateWithFlags(&e0, cudaEventDefault) != cudaSuccess) return -1;
  if (cudaEventCreateWithFlags(&e1, cudaEventDefault) != cudaSuccess) {
    cudaEventDestroy(e0);
    return -1;
  }
  float ms = -1;
  if (fn() && cudaEventRecord(e0, stream()) == cudaSuccess && fn() &&
      cudaEventRecord(e1, stream()) == cudaSuccess && cudaEventSynchronize(e1) == cudaSuccess) {
    cudaEventElapsedTime(&ms, e0, e1);
  }
  cudaEventDestroy(e0);
  cudaEventDestroy(e1);
  return ms;
}

template <class P>
int matmul_f32(P& p) {
  // cuBLAS only when the batch is one stride per operand (or none)
  bool flat = p.batch.rank <= 1 && p.M < (1LL << 31) && p.N < (1LL << 31) && p.K < (1LL << 31) &&
              p.zcount < (1LL << 31);
  int64_t sa = p.batch.rank == 1 ? p.batch.st[0][0] : 0;
  int64_t sb = p.batch.rank == 1 ? p.batch.st[1][0] : 0;
  int want = mode();
  bool can_blas = flat && want != 1 && cublas_ready();
  int impl = 0;
  if (can_blas && want == 0) {
    ShapeKey key(p.M, p.N, p.K, p.zcount, p.ta, p.tb);
    auto it = g_choice.find(key);
    if (it == g_choice.end()) {
      int own_impl = 1;
      float t_own = time_twice([&] { return own_run(p, &own_impl) == cudaSuccess; });
      float t_blas = time_twice([&] { return cublas_run(p, p.zcount, sa, sb) == 0; });
      int pick = (t_blas >= 0 && (t_own < 0 || t_blas < t_own)) ? 3 : own_impl;
      if (g_choice.size() < 8192) g_choice[key] = pick;
      g_last_impl = pick;
      cudaError_t e = cudaGetLastError();
      if (t_own < 0 && t_blas < 0) {
        return fail_cuda("matmul (timing run)", e != cudaSuccess ? e : cudaErrorUnknown);
      }
      // the last run of the faster one may not be the last to write C: run it once more
      if (pick == 3) return cublas_run(p, p.zcount, sa, sb) == 0 ? finish("matmul", cudaSuccess)
                                                                : fail(DMFC_ERR_CUDA, "matmul: cuBLAS failed");
      return finish("matmul", own_run(p, &impl));
    }
    impl = it->second;
  } else if (can_blas && want == 2) {
    impl = 3;
  }
  if (impl == 3) {
    g_last_impl = 3;
    int st = cublas_run(p, p.zcount, sa, sb);
    if (st != 0) return fail(DMFC_ERR_CUDA, "matmul: cublasSgemmStridedBatched returned %d", st);
    return finish("matmul", cudaSuccess);
  }
  cudaError_t e = own_run(p, &impl);
  g_last_impl = impl;
  return finish("matmul", e);
}

template <bool TA, bool TB>
int matmul_f32_run(int64_t M, int64_t N, int64_t K, int64_t nb, const Strided<2>& batch,
                   uint64_t a, uint64_t b, uint64_t out) {
  MatmulProb<TA, TB> p;
  p.A = ptr<const float>(a);
  p.B = ptr<const float>(b);
  p.C = ptr<float>(out);
  p.M = M;
  p.N = N;
  p.K = K;
  p.zcount = nb;
  p.batch = batch;
  return matmul_f32(p);
}

template <typename T>
cudaError_t plain_t(const Strided<2>& batch, uint64_t a, uint64_t b, uint64_t out, int64_t M,
                    int64_t N, int64_t K, bool ta, bool tb, int64_t total) {
  return launch(k_matmul_plain<T>, dim3(grid_stride_blocks(total, 256)), dim3(256), batch,
                ptr<const T>(a), ptr<const T>(b), ptr<T>(out), M, N, K, ta, tb, total);
}

}  // namespace

DMFC_API int dmfc_matmul(int dt, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         int brank, const int64_t* bshape, const int64_t* sa, const int64_t* sb,
                         uint64_t a, uint64_t b, uint64_t out) {
  DMF_REQUIRE_INIT("matmul");
  Strided<2> batch;
  const int64_t* st[2] = {sa, sb};
  if (!make_strided(batch, brank, bshape, st)) {
    return fail(DMFC_ERR_ARG, "matmul: %d batch axes after merging (at most %d)", brank,
                DMFC_MAX_RANK);
  }
  int64_t nb = numel(brank, bshape);
  if (nb <= 0 || M <= 0 || N <= 0) return DMFC_OK;
  if (K == 0) {
    DMF_CHECK("matmul (empty K)", cudaMemsetAsync(ptr<void>(out), 0,
                                                  (size_t)(nb * M * N * dtype_bytes(dt)), stream()));
    return DMFC_OK;
  }
  if (dt == DMFC_F32) {
    if ((M + 63) / 64 > 65535) {
      return fail(DMFC_ERR_ARG, "matmul: M = %lld rows is above the kernel's grid limit",
                  (long long)M);
    }
    if (trans_a) {
      return trans_b ? matmul_f32_run<true, true>(M, N, K, nb, batch, a, b, out)
                     : matmul_f32_run<true, false>(M, N, K, nb, batch, a, b, out);
    }
    return trans_b ? matmul_f32_run<false, true>(M, N, K, nb, batch, a, b, out)
                   : matmul_f32_run<false, false>(M, N, K, nb, batch, a, b, out);
  }
  int64_t total = nb * M * N;
  cudaError_t e;
  switch (dt) {
    case DMFC_I32:
      e = plain_t<int32_t>(batch, a, b, out, M, N, K, trans_a, trans_b, total);
      break;
    case DMFC_U8:
    case DMFC_BOOL:
      e = plain_t<uint8_t>(batch, a, b, out, M, N, K, trans_a, trans_b, total);
      break;
    default: return fail(DMFC_ERR_ARG, "matmul: bad dtype %d", dt);
  }
  return finish("matmul", e);
}

DMFC_API int dmfc_matmul_mode(int m) {
  if (m < 0 || m > 2) return fail(DMFC_ERR_ARG, "matmul_mode: %d (0 auto, 1 own, 2 cublas)", m);
  g_mode = m;
  return DMFC_OK;
}

DMFC_API int dmfc_cublas_available(void) {
  if (!initialised()) return 0;
  return cublas_ready() ? 1 : 0;
}

DMFC_API int dmfc_matmul_last_impl(void) { return g_last_impl; }
