/*
 * Stable sort along one axis ([outer, n, inner] lines) with i32 indices, NaN largest.
 *
 * Each element becomes one unique 64-bit key: (order-preserving 32-bit key of the value,
 * inverted for descending) << 32 | its position. Sorting these ascending is a stable sort
 * (ties keep their order because the position is part of the key), whatever the network.
 * Lines are padded to a power of two with ~0 keys (which sort last).
 * - padded length <= 2048: bitonic sort in shared memory, several lines per block;
 * - longer: the same bitonic network over a global scratch array, one launch per stage.
 * The values are read back from the input through the sorted positions (exact bits).
 */
#include "common.cuh"

using namespace dmf;

namespace {

const int kShared = 2048;

template <typename T>
DMF_D uint32_t order_key(T v);

template <>
DMF_D uint32_t order_key<float>(float v) {
  if (v != v) return 0xffffffffu;  // NaN: above +inf
  if (v == 0.0f) v = 0.0f;         // -0 and +0 tie, as in the reference
  uint32_t u = __float_as_uint(v);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}
template <>
DMF_D uint32_t order_key<int32_t>(int32_t v) {
  return (uint32_t)v ^ 0x80000000u;
}
template <>
DMF_D uint32_t order_key<uint8_t>(uint8_t v) {
  return v;
}

template <typename T>
DMF_D uint64_t sort_key(const T* x, int64_t base, int64_t j, int64_t inner, bool desc) {
  uint32_t k = order_key<T>(x[base + j * inner]);
  if (desc) k = ~k;
  return ((uint64_t)k << 32) | (uint32_t)j;
}

DMF_D int64_t line_base(int64_t line, int64_t n, int64_t inner) {
  int64_t o = line / inner, k = line - o * inner;
  return o * n * inner + k;
}

/** Compare-exchange of pair q (of npow/2 per line) for bitonic stage (k, j). */
DMF_D void bitonic_step(uint64_t* keys, int64_t q, int64_t npow, int64_t k, int64_t j) {
  int64_t half = npow >> 1;
  int64_t seg = q / half, qq = q - seg * half;
  int64_t i = 2 * j * (qq / j) + (qq % j);
  uint64_t* line = keys + seg * npow;
  uint64_t a = line[i], b = line[i + j];
  bool ascending = (i & k) == 0;
  if ((a > b) == ascending) {
    line[i] = b;
    line[i + j] = a;
  }
}

template <typename T>
__global__ void __launch_bounds__(1024) k_sort_shared(const T* __restrict__ x, T* __restrict__ vals,
                                                      int32_t* __restrict__ idx, int64_t lines,
                                                      int64_t n, int64_t inner, int npow,
                                                      int per_block, bool desc) {
  __shared__ uint64_t keys[kShared];
  const int tid = threadIdx.x;
  const int count = per_block * npow;
  for (int64_t first = (int64_t)blockIdx.x * per_block; first < lines;
       first += (int64_t)gridDim.x * per_block) {
    for (int e = tid; e < count; e += blockDim.x) {
      int64_t line = first + e / npow;
      int64_t j = e % npow;
      keys[e] = (line < lines && j < n) ? sort_key<T>(x, line_base(line, n, inner), j, inner, desc)
                                        : ~(uint64_t)0;
    }
    __syncthreads();
    for (int k = 2; k <= npow; k <<= 1) {
      for (int j = k >> 1; j > 0; j >>= 1) {
        for (int q = tid; q < count / 2; q += blockDim.x) bitonic_step(keys, q, npow, k, j);
        __syncthreads();
      }
    }
    for (int e = tid; e < count; e += blockDim.x) {
      int64_t line = first + e / npow;
      int64_t j = e % npow;
      if (line < lines && j < n) {
        int64_t base = line_base(line, n, inner);
        uint32_t src = (uint32_t)(keys[e] & 0xffffffffu);
        vals[base + j * inner] = x[base + (int64_t)src * inner];
        idx[base + j * inner] = (int32_t)src;
      }
    }
    __syncthreads();  // keys[] is refilled for the next lines
  }
}

template <typename T>
__global__ void k_sort_keys(const T* __restrict__ x, uint64_t* keys, int64_t lines, int64_t n,
                            int64_t inner, int64_t npow, bool desc) {
  GRID_STRIDE(e, lines * npow) {
    int64_t line = e / npow, j = e - line * npow;
    keys[e] = j < n ? sort_key<T>(x, line_base(line, n, inner), j, inner, desc) : ~(uint64_t)0;
  }
}

__global__ void k_sort_stage(uint64_t* keys, int64_t pairs, int64_t npow, int64_t k, int64_t j) {
  GRID_STRIDE(q, pairs) { bitonic_step(keys, q, npow, k, j); }
}

template <typename T>
__global__ void k_sort_write(const T* __restrict__ x, const uint64_t* __restrict__ keys,
                             T* __restrict__ vals, int32_t* __restrict__ idx, int64_t lines,
                             int64_t n, int64_t inner, int64_t npow) {
  GRID_STRIDE(e, lines * n) {
    int64_t line = e / n, j = e - line * n;
    int64_t base = line_base(line, n, inner);
    uint32_t src = (uint32_t)(keys[line * npow + j] & 0xffffffffu);
    vals[base + j * inner] = x[base + (int64_t)src * inner];
    idx[base + j * inner] = (int32_t)src;
  }
}

template <typename T>
int sort_t(bool desc, int64_t lines, int64_t n, int64_t inner, uint64_t x, uint64_t vals,
           uint64_t idx) {
  int64_t npow = 2;
  while (npow < n) npow <<= 1;
  const T* px = ptr<const T>(x);
  T* pv = ptr<T>(vals);
  int32_t* pi = ptr<int32_t>(idx);
  if (npow <= kShared) {
    int per_block = (int)imin(kShared / npow, lines);
    int threads = (int)imin(1024, (per_block * npow) / 2);
    threads = (threads + 31) / 32 * 32;
    int64_t blocks = imin((lines + per_block - 1) / per_block, (int64_t)sm_count() * 16);
    return finish("sort", launch(k_sort_shared<T>, dim3((unsigned)blocks), dim3(threads), px, pv,
                                 pi, lines, n, inner, (int)npow, per_block, desc));
  }
  int rc;
  uint64_t* keys = static_cast<uint64_t*>(scratch_alloc(lines * npow * 8, "sort", &rc));
  if (!keys) return rc;
  cudaError_t e = launch(k_sort_keys<T>, dim3(grid_stride_blocks(lines * npow, 256)), dim3(256),
                         px, keys, lines, n, inner, npow, desc);
  int64_t pairs = lines * npow / 2;
  for (int64_t k = 2; k <= npow && e == cudaSuccess; k <<= 1) {
    for (int64_t j = k >> 1; j > 0 && e == cudaSuccess; j >>= 1) {
      e = launch(k_sort_stage, dim3(grid_stride_blocks(pairs, 256)), dim3(256), keys, pairs, npow,
                 k, j);
    }
  }
  if (e == cudaSuccess) {
    e = launch(k_sort_write<T>, dim3(grid_stride_blocks(lines * n, 256)), dim3(256), px, keys, pv,
               pi, lines, n, inner, npow);
  }
  scratch_free(keys);
  return finish("sort", e);
}

}  // namespace

DMFC_API int dmfc_sort(int dt, int descending, int64_t outer, int64_t n, int64_t inner,
                       uint64_t x, uint64_t vals, uint64_t idx) {
  DMF_REQUIRE_INIT("sort");
  int64_t lines = outer * inner;
  if (lines <= 0 || n <= 0) return DMFC_OK;
  if (n >= ((int64_t)1 << 31)) return fail(DMFC_ERR_ARG, "sort: axis of %lld elements", (long long)n);
  bool desc = descending != 0;
  switch (dt) {
    case DMFC_F32: return sort_t<float>(desc, lines, n, inner, x, vals, idx);
    case DMFC_I32: return sort_t<int32_t>(desc, lines, n, inner, x, vals, idx);
    case DMFC_U8:
    case DMFC_BOOL: return sort_t<uint8_t>(desc, lines, n, inner, x, vals, idx);
  }
  return fail(DMFC_ERR_ARG, "sort: bad dtype %d", dt);
}
