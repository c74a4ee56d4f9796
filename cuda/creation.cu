/*
 * Creation kernels: fill, arange and rand_uniform. rand_uniform reproduces
 * src/tensor/random.ts bit for bit: value i of a stream is
 * pcg(pcg(seed) ^ pcg(offset + i)) >> 8, scaled by 2^-24 (all arithmetic modulo 2^32).
 */
#include "common.cuh"

using namespace dmf;

namespace {

const int kThreads = 256;

DMF_HD uint32_t pcg_hash(uint32_t v) {
  uint32_t state = v * 747796405u + 2891336453u;
  uint32_t word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
  return (word >> 22u) ^ word;
}

template <typename T>
__global__ void k_fill(T value, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) { out[i] = value; }
}

template <typename T>
__global__ void k_arange(double start, double step, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) { out[i] = Conv<T>::from(mul_add_rn((double)i, step, start)); }
}

template <typename T>
__global__ void k_rand(uint32_t seed_hash, uint32_t offset, T* __restrict__ out, int64_t n) {
  GRID_STRIDE(i, n) {
    uint32_t h = pcg_hash(seed_hash ^ pcg_hash(offset + (uint32_t)i));
    out[i] = Conv<T>::from((double)(h >> 8) / 16777216.0);
  }
}

template <typename T>
cudaError_t fill_t(double value, uint64_t out, int64_t n) {
  return launch(k_fill<T>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads),
                Conv<T>::from(value), ptr<T>(out), n);
}

template <typename T>
cudaError_t arange_t(double start, double step, uint64_t out, int64_t n) {
  return launch(k_arange<T>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), start, step,
                ptr<T>(out), n);
}

template <typename T>
cudaError_t rand_t(uint32_t seed, uint32_t offset, uint64_t out, int64_t n) {
  return launch(k_rand<T>, dim3(grid_stride_blocks(n, kThreads)), dim3(kThreads), pcg_hash(seed),
                offset, ptr<T>(out), n);
}

}  // namespace

DMFC_API int dmfc_fill(int dt, double value, uint64_t out, int64_t n) {
  DMF_REQUIRE_INIT("fill");
  if (n <= 0) return DMFC_OK;
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = fill_t<float>(value, out, n); break;
    case DMFC_I32: e = fill_t<int32_t>(value, out, n); break;
    case DMFC_U8:
    case DMFC_BOOL: e = fill_t<uint8_t>(value, out, n); break;
    default: return fail(DMFC_ERR_ARG, "fill: bad dtype %d", dt);
  }
  return finish("fill", e);
}

DMFC_API int dmfc_arange(int dt, double start, double step, uint64_t out, int64_t n) {
  DMF_REQUIRE_INIT("arange");
  if (n <= 0) return DMFC_OK;
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = arange_t<float>(start, step, out, n); break;
    case DMFC_I32: e = arange_t<int32_t>(start, step, out, n); break;
    case DMFC_U8:
    case DMFC_BOOL: e = arange_t<uint8_t>(start, step, out, n); break;
    default: return fail(DMFC_ERR_ARG, "arange: bad dtype %d", dt);
  }
  return finish("arange", e);
}

DMFC_API int dmfc_rand_uniform(int dt, uint32_t seed, uint32_t offset, uint64_t out, int64_t n) {
  DMF_REQUIRE_INIT("rand_uniform");
  if (n <= 0) return DMFC_OK;
  cudaError_t e;
  switch (dt) {
    case DMFC_F32: e = rand_t<float>(seed, offset, out, n); break;
    case DMFC_I32: e = rand_t<int32_t>(seed, offset, out, n); break;
    case DMFC_U8:
    case DMFC_BOOL: e = rand_t<uint8_t>(seed, offset, out, n); break;
    default: return fail(DMFC_ERR_ARG, "rand_uniform: bad dtype %d", dt);
  }
  return finish("rand_uniform", e);
}
