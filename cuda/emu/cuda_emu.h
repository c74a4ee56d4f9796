/*
 * CPU emulation of the small subset of CUDA that the kernels in cuda/ use, so the same sources
 * compile with g++ (-x c++ -DDMF_EMU) into a host library that runs them on the CPU.
 *
 * What it is for: testing the kernels' index math, their launch configurations and their
 * barrier structure on machines without a GPU (test/cuda_emu_catalog.test.ts). It is slow
 * (every CUDA thread is a fiber) and proves nothing about real concurrency:
 *
 * - a block's threads run as cooperative fibers (ucontext) that switch only at barriers
 *   (__syncthreads, __syncwarp and the warp shuffles). A thread runs until its next barrier,
 *   so a missing __syncthreads between a shared-memory write and another thread's read of it
 *   shows up as a wrong result; barriers reached by only part of a block or a warp, or after
 *   some threads exited, are reported as launch errors instead of hanging;
 * - blocks run one after another, so __shared__ variables are plain statics;
 * - atomics are plain read-modify-writes (one host thread runs a launch);
 * - fresh "device" allocations are filled with 0xFF bytes (NaN / -1) so a kernel that forgets
 *   to initialise its output is caught (real cudaMalloc memory is not zeroed either).
 */
#pragma once

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline __attribute__((always_inline))
#define __shared__ static
#define __constant__ static
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))

struct uint3 {
  unsigned x, y, z;
};

struct dim3 {
  unsigned x, y, z;
  dim3(unsigned a = 1, unsigned b = 1, unsigned c = 1) : x(a), y(b), z(c) {}
};

struct __attribute__((aligned(16))) float4 {
  float x, y, z, w;
};

inline float4 make_float4(float x, float y, float z, float w) { return float4{x, y, z, w}; }

typedef enum cudaError {
  cudaSuccess = 0,
  cudaErrorInvalidValue = 1,
  cudaErrorMemoryAllocation = 2,
  cudaErrorInitializationError = 3,
  cudaErrorInvalidConfiguration = 9,
  cudaErrorInvalidDevice = 101,
  cudaErrorNoDevice = 100,
  cudaErrorLaunchFailure = 719,
  cudaErrorNotSupported = 801,
  cudaErrorUnknown = 999,
} cudaError_t;

typedef struct emu_stream* cudaStream_t;
typedef struct emu_event* cudaEvent_t;
typedef struct emu_pool* cudaMemPool_t;

enum cudaMemcpyKind {
  cudaMemcpyHostToHost = 0,
  cudaMemcpyHostToDevice = 1,
  cudaMemcpyDeviceToHost = 2,
  cudaMemcpyDeviceToDevice = 3,
  cudaMemcpyDefault = 4,
};

enum cudaDeviceAttr {
  cudaDevAttrMaxThreadsPerBlock = 1,
  cudaDevAttrMultiProcessorCount = 16,
  cudaDevAttrComputeCapabilityMajor = 75,
  cudaDevAttrComputeCapabilityMinor = 76,
};

enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };

#define cudaStreamNonBlocking 0x01
#define cudaEventDefault 0x00
#define cudaEventDisableTiming 0x02

struct cudaDeviceProp {
  char name[256];
  size_t totalGlobalMem;
  int major;
  int minor;
  int multiProcessorCount;
};

const char* cudaGetErrorString(cudaError_t e);
const char* cudaGetErrorName(cudaError_t e);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
cudaError_t cudaGetDeviceCount(int* n);
cudaError_t cudaSetDevice(int d);
cudaError_t cudaGetDevice(int* d);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int d);
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int d);
cudaError_t cudaDriverGetVersion(int* v);
cudaError_t cudaRuntimeGetVersion(int* v);
cudaError_t cudaMemGetInfo(size_t* free_b, size_t* total_b);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaMalloc(void** p, size_t n);
cudaError_t cudaFree(void* p);
cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t s);
cudaError_t cudaFreeAsync(void* p, cudaStream_t s);
cudaError_t cudaMallocHost(void** p, size_t n);
cudaError_t cudaFreeHost(void* p);
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind k, cudaStream_t st);
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k);
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t s);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t a, cudaEvent_t b);
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* p, int d);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t p, cudaMemPoolAttr a, void* v);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t p, size_t keep);

namespace emu {
extern uint3 g_blockIdx;
extern dim3 g_blockDim;
extern dim3 g_gridDim;
const uint3& thread_idx();
int lane_linear();
void syncthreads();
void syncwarp();
/** Exchanges one 8-byte word per lane of the calling warp: returns lane `src`'s word. */
uint64_t warp_exchange(uint64_t mine, int src);
/** Runs body(ctx) for every thread of every block; returns a launch error or cudaSuccess. */
cudaError_t run(dim3 grid, dim3 block, void (*body)(void*), void* ctx);

template <class F>
cudaError_t launch(dim3 g, dim3 b, F& f) {
  return run(g, b, [](void* c) { (*static_cast<F*>(c))(); }, &f);
}

template <class T>
__forceinline__ uint64_t to_word(T v) {
  static_assert(sizeof(T) <= 8, "shuffle of a type wider than 8 bytes");
  uint64_t w = 0;
  memcpy(&w, &v, sizeof(T));
  return w;
}

template <class T>
__forceinline__ T from_word(uint64_t w) {
  T v;
  memcpy(&v, &w, sizeof(T));
  return v;
}
}  // namespace emu

#define threadIdx (emu::thread_idx())
#define blockIdx (emu::g_blockIdx)
#define blockDim (emu::g_blockDim)
#define gridDim (emu::g_gridDim)
#define warpSize 32

inline void __syncthreads() { emu::syncthreads(); }
inline void __syncwarp(unsigned = 0xffffffffu) { emu::syncwarp(); }

template <class T>
inline T __shfl_sync(unsigned, T v, int src, int width = 32) {
  int lane = emu::lane_linear() & 31;
  int s = (lane / width) * width + (src % width);
  return emu::from_word<T>(emu::warp_exchange(emu::to_word(v), s));
}

template <class T>
inline T __shfl_xor_sync(unsigned, T v, int mask, int width = 32) {
  int lane = emu::lane_linear() & 31;
  int s = lane ^ mask;
  if ((s / width) != (lane / width)) s = lane;
  return emu::from_word<T>(emu::warp_exchange(emu::to_word(v), s));
}

template <class T>
inline T __shfl_down_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = emu::lane_linear() & 31;
  int s = ((lane % width) + (int)delta < width) ? lane + (int)delta : lane;
  return emu::from_word<T>(emu::warp_exchange(emu::to_word(v), s));
}

template <class T>
inline T __shfl_up_sync(unsigned, T v, unsigned delta, int width = 32) {
  int lane = emu::lane_linear() & 31;
  int s = ((lane % width) - (int)delta >= 0) ? lane - (int)delta : lane;
  return emu::from_word<T>(emu::warp_exchange(emu::to_word(v), s));
}

inline float atomicAdd(float* p, float v) {
  float old = *p;
  *p = old + v;
  return old;
}
inline int atomicAdd(int* p, int v) {
  int old = *p;
  *p = (int)((unsigned)old + (unsigned)v);
  return old;
}
inline unsigned atomicAdd(unsigned* p, unsigned v) {
  unsigned old = *p;
  *p = old + v;
  return old;
}
inline unsigned long long atomicAdd(unsigned long long* p, unsigned long long v) {
  unsigned long long old = *p;
  *p = old + v;
  return old;
}
inline int atomicCAS(int* p, int cmp, int v) {
  int old = *p;
  if (old == cmp) *p = v;
  return old;
}
inline unsigned atomicCAS(unsigned* p, unsigned cmp, unsigned v) {
  unsigned old = *p;
  if (old == cmp) *p = v;
  return old;
}
inline int atomicExch(int* p, int v) {
  int old = *p;
  *p = v;
  return old;
}

inline unsigned __float_as_uint(float f) {
  unsigned u;
  memcpy(&u, &f, 4);
  return u;
}
inline float __uint_as_float(unsigned u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
inline int __float_as_int(float f) {
  int u;
  memcpy(&u, &f, 4);
  return u;
}
inline float __int_as_float(int u) {
  float f;
  memcpy(&f, &u, 4);
  return f;
}
template <class T>
inline T __ldg(const T* p) {
  return *p;
}
