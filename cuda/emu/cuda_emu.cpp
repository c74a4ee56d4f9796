/*
 * The CPU emulation runtime behind cuda_emu.h (see there for what it checks and what not).
 * Built only into libdmf_cuda_emu.so by `deno task build:cuda --emulate`.
 */
#include "cuda_emu.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <string>
#include <vector>

namespace emu {

uint3 g_blockIdx = {0, 0, 0};
dim3 g_blockDim;
dim3 g_gridDim;

namespace {

enum State { READY, RUNNING, WAIT_BLOCK, WAIT_WARP, DONE };

struct Fiber {
  ucontext_t ctx;
  State state;
  uint3 tid;
  int lin;
};

const size_t kStack = 256 * 1024;
ucontext_t g_sched;
Fiber* g_cur = nullptr;
std::vector<Fiber> g_fibers;
std::vector<char*> g_stacks;
void (*g_body)(void*) = nullptr;
void* g_ctx = nullptr;
uint64_t g_slots[32][32];  // [warp][lane] words for warp_exchange
std::string g_msg;
cudaError_t g_last = cudaSuccess;

void trampoline() {
  g_body(g_ctx);
  g_cur->state = DONE;
}

char* stack_for(size_t i) {
  while (g_stacks.size() <= i) {
    void* p = mmap(nullptr, kStack, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED) return nullptr;
    g_stacks.push_back(static_cast<char*>(p));
  }
  return g_stacks[i];
}

cudaError_t fail(const std::string& msg) {
  g_msg = msg;
  g_last = cudaErrorLaunchFailure;
  return g_last;
}

std::string block_name() {
  char b[96];
  snprintf(b, sizeof b, "block (%u,%u,%u)", g_blockIdx.x, g_blockIdx.y, g_blockIdx.z);
  return b;
}

/** Runs the fibers of one block until all are done; returns an error on a bad barrier. */
cudaError_t run_block(int n) {
  for (int i = 0; i < n; i++) {
    Fiber& f = g_fibers[i];
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = stack_for(i);
    if (!f.ctx.uc_stack.ss_sp) return fail("emu: cannot allocate a fiber stack");
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = &g_sched;
    makecontext(&f.ctx, trampoline, 0);
    f.state = READY;
    f.lin = i;
    f.tid.x = i % g_blockDim.x;
    f.tid.y = (i / g_blockDim.x) % g_blockDim.y;
    f.tid.z = i / (g_blockDim.x * g_blockDim.y);
  }
  const int warps = (n + 31) / 32;
  for (;;) {
    for (int i = 0; i < n; i++) {
      Fiber& f = g_fibers[i];
      if (f.state != READY) continue;
      g_cur = &f;
      f.state = RUNNING;
      swapcontext(&g_sched, &f.ctx);
    }
    int done = 0;
    for (int i = 0; i < n; i++) done += g_fibers[i].state == DONE;
    if (done == n) return cudaSuccess;
    bool released = false;
    for (int w = 0; w < warps; w++) {
      int lo = w * 32, hi = lo + 32 < n ? lo + 32 : n;
      int waiting = 0, exited = 0, other = 0;
      for (int i = lo; i < hi; i++) {
        State s = g_fibers[i].state;
        if (s == WAIT_WARP) waiting++;
        else if (s == DONE) exited++;
        else other++;
      }
      if (waiting == 0 || other > 0) continue;
      if (exited > 0) {
        return fail("emu: warp-synchronous operation (shuffle/__syncwarp) in warp " +
                    std::to_string(w) + " of " + block_name() + " after some of its lanes exited");
      }
      for (int i = lo; i < hi; i++) g_fibers[i].state = READY;
      released = true;
    }
    if (released) continue;
    int atBlock = 0;
    for (int i = 0; i < n; i++) atBlock += g_fibers[i].state == WAIT_BLOCK;
    if (atBlock == n - done) {
      if (done > 0) {
        return fail("emu: __syncthreads in " + block_name() + " reached after " +
                    std::to_string(done) + " of its " + std::to_string(n) +
                    " threads exited (undefined behaviour on a GPU)");
      }
      for (int i = 0; i < n; i++) g_fibers[i].state = READY;
      continue;
    }
    return fail("emu: deadlock in " + block_name() +
                ": threads wait at different barriers (divergent __syncthreads / shuffle)");
  }
}

}  // namespace

const uint3& thread_idx() { return g_cur->tid; }
int lane_linear() { return g_cur->lin; }

void syncthreads() {
  g_cur->state = WAIT_BLOCK;
  swapcontext(&g_cur->ctx, &g_sched);
}

void syncwarp() {
  g_cur->state = WAIT_WARP;
  swapcontext(&g_cur->ctx, &g_sched);
}

uint64_t warp_exchange(uint64_t mine, int src) {
  int lin = g_cur->lin;
  int warp = lin / 32, lane = lin % 32;
  g_slots[warp][lane] = mine;
  syncwarp();
  uint64_t v = (warp * 32 + src < (int)g_fibers.size() && src >= 0 && src < 32) ? g_slots[warp][src]
                                                                                : mine;
  syncwarp();
  return v;
}

cudaError_t run(dim3 grid, dim3 block, void (*body)(void*), void* ctx) {
  unsigned long long threads = (unsigned long long)block.x * block.y * block.z;
  if (threads == 0 || threads > 1024 || block.x > 1024 || block.y > 1024 || block.z > 64 ||
      grid.x == 0 || grid.y == 0 || grid.z == 0 || grid.x > 2147483647u || grid.y > 65535 ||
      grid.z > 65535) {
    char b[160];
    snprintf(b, sizeof b, "emu: invalid launch configuration grid (%u,%u,%u) block (%u,%u,%u)",
             grid.x, grid.y, grid.z, block.x, block.y, block.z);
    g_msg = b;
    g_last = cudaErrorInvalidConfiguration;
    return g_last;
  }
  g_body = body;
  g_ctx = ctx;
  g_blockDim = block;
  g_gridDim = grid;
  g_fibers.assign(threads, Fiber());
  for (unsigned z = 0; z < grid.z; z++) {
    for (unsigned y = 0; y < grid.y; y++) {
      for (unsigned x = 0; x < grid.x; x++) {
        g_blockIdx = {x, y, z};
        cudaError_t e = run_block((int)threads);
        if (e != cudaSuccess) return e;
      }
    }
  }
  return cudaSuccess;
}

}  // namespace emu

using emu::g_last;
using emu::g_msg;

struct emu_stream {};
struct emu_event {};
struct emu_pool {};
static emu_stream g_stream;
static emu_event g_event;
static emu_pool g_pool;

/* Allocations: [header | user bytes], poisoned with 0xFF. With DMF_EMU_GUARD=1 every block ends
 * at a PROT_NONE page so a kernel reading or writing past the end of a buffer faults at once. */
struct AllocHeader {
  size_t size;
  size_t map_bytes;
  void* map;
  size_t pad;
};

static bool guard_mode() {
  static int mode = -1;
  if (mode < 0) {
    const char* g = getenv("DMF_EMU_GUARD");
    mode = g && g[0] == '1';
  }
  return mode == 1;
}

static void* emu_alloc(size_t n) {
  if (guard_mode()) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t need = ((n + 3) & ~(size_t)3) + sizeof(AllocHeader);
    size_t body = (need + page - 1) / page * page;
    char* m = static_cast<char*>(mmap(nullptr, body + page, PROT_READ | PROT_WRITE,
                                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (m == MAP_FAILED) return nullptr;
    mprotect(m + body, page, PROT_NONE);
    // the user bytes end where the guard page starts (rounded to whole 4-byte words: byte
    // atomics work on the enclosing word, as on the GPU where allocations are 256-aligned)
    char* user = m + body - ((n + 3) & ~(size_t)3);
    AllocHeader* h = reinterpret_cast<AllocHeader*>(user) - 1;
    h->size = n;
    h->map_bytes = body + page;
    h->map = m;
    memset(user, 0xFF, n);
    return user;
  }
  char* m = static_cast<char*>(malloc(n + sizeof(AllocHeader)));
  if (!m) return nullptr;
  AllocHeader* h = reinterpret_cast<AllocHeader*>(m);
  h->size = n;
  h->map_bytes = 0;
  h->map = m;
  memset(m + sizeof(AllocHeader), 0xFF, n);
  return m + sizeof(AllocHeader);
}

static void emu_free(void* p) {
  if (!p) return;
  AllocHeader* h = static_cast<AllocHeader*>(p) - 1;
  if (h->map_bytes) munmap(h->map, h->map_bytes);
  else free(h->map);
}

static size_t g_in_use = 0;

const char* cudaGetErrorString(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration:
    case cudaErrorLaunchFailure: return g_msg.empty() ? "launch failure" : g_msg.c_str();
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    default: return "unknown error";
  }
}
const char* cudaGetErrorName(cudaError_t e) {
  switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorLaunchFailure: return "cudaErrorLaunchFailure";
    default: return "cudaErrorUnknown";
  }
}
cudaError_t cudaGetLastError(void) {
  cudaError_t e = g_last;
  g_last = cudaSuccess;
  return e;
}
cudaError_t cudaPeekAtLastError(void) { return g_last; }
cudaError_t cudaGetDeviceCount(int* n) {
  *n = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int d) { return d == 0 ? cudaSuccess : cudaErrorInvalidDevice; }
cudaError_t cudaGetDevice(int* d) {
  *d = 0;
  return cudaSuccess;
}
cudaError_t cudaGetDeviceProperties(cudaDeviceProp* p, int) {
  memset(p, 0, sizeof *p);
  strcpy(p->name, "CPU emulation (dmf cuda_emu)");
  p->totalGlobalMem = (size_t)8 << 30;
  p->major = 8;
  p->minor = 0;
  p->multiProcessorCount = 2;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetAttribute(int* v, cudaDeviceAttr a, int) {
  switch (a) {
    case cudaDevAttrMultiProcessorCount: *v = 2; break;
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrComputeCapabilityMajor: *v = 8; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    default: *v = 0;
  }
  return cudaSuccess;
}
cudaError_t cudaDriverGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
cudaError_t cudaRuntimeGetVersion(int* v) {
  *v = 0;
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(size_t* f, size_t* t) {
  *t = (size_t)8 << 30;
  *f = *t - g_in_use;
  return cudaSuccess;
}
cudaError_t cudaStreamCreateWithFlags(cudaStream_t* s, unsigned) {
  *s = &g_stream;
  return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaDeviceSynchronize(void) { return cudaSuccess; }
cudaError_t cudaMalloc(void** p, size_t n) {
  *p = emu_alloc(n ? n : 1);
  if (!*p) return g_last = cudaErrorMemoryAllocation;
  g_in_use += n;
  return cudaSuccess;
}
cudaError_t cudaFree(void* p) {
  if (p) g_in_use -= (static_cast<AllocHeader*>(p) - 1)->size;
  emu_free(p);
  return cudaSuccess;
}
cudaError_t cudaMallocAsync(void** p, size_t n, cudaStream_t) { return cudaMalloc(p, n); }
cudaError_t cudaFreeAsync(void* p, cudaStream_t) { return cudaFree(p); }
cudaError_t cudaMallocHost(void** p, size_t n) {
  *p = malloc(n ? n : 1);
  return *p ? cudaSuccess : cudaErrorMemoryAllocation;
}
cudaError_t cudaFreeHost(void* p) {
  free(p);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* d, const void* s, size_t n, cudaMemcpyKind, cudaStream_t) {
  if (n) memmove(d, s, n);
  return cudaSuccess;
}
cudaError_t cudaMemcpy(void* d, const void* s, size_t n, cudaMemcpyKind k) {
  return cudaMemcpyAsync(d, s, n, k, nullptr);
}
cudaError_t cudaMemsetAsync(void* p, int v, size_t n, cudaStream_t) {
  if (n) memset(p, v, n);
  return cudaSuccess;
}
cudaError_t cudaEventCreateWithFlags(cudaEvent_t* e, unsigned) {
  *e = &g_event;
  return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventRecord(cudaEvent_t, cudaStream_t) { return cudaSuccess; }
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t, cudaEvent_t) {
  *ms = 0;
  return cudaSuccess;
}
cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t* p, int) {
  *p = &g_pool;
  return cudaSuccess;
}
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t, cudaMemPoolAttr, void*) { return cudaSuccess; }
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t, size_t) { return cudaSuccess; }
