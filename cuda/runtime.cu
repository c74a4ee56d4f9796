/*
 * Device, stream, memory and errors: the one stream every kernel is queued on, device memory
 * from the stream-ordered caching pool (cudaMallocAsync on the device's default pool with the
 * release threshold at its maximum, so freed blocks stay cached for reuse), uploads and
 * read-backs, and the error state that the TypeScript side turns into exceptions.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <deque>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "common.cuh"

namespace {

bool g_init = false;
cudaStream_t g_stream = nullptr;
int g_sms = 1;
int* g_errflag = nullptr;
bool g_sync_debug = false;
bool g_use_pool = true;

std::mutex g_msg_mu;
char g_msg[1024] = "";

std::mutex g_mem_mu;
std::unordered_map<uint64_t, int64_t> g_sizes;
int64_t g_in_use = 0, g_peak = 0, g_total_allocs = 0;

void set_msg(const char* fmt, va_list ap) {
  std::lock_guard<std::mutex> lk(g_msg_mu);
  vsnprintf(g_msg, sizeof g_msg, fmt, ap);
}

void set_msgf(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_msg(fmt, ap);
  va_end(ap);
}

const char* kernel_name(int kid) {
  switch (kid) {
    case dmf::KID_GATHER: return "gather";
    case dmf::KID_SCATTER_ADD: return "scatter_add";
    case dmf::KID_INDEX_SELECT: return "index_select";
    case dmf::KID_INDEX_ADD: return "index_add";
    default: return "kernel";
  }
}

/** Turns a copied error flag into a message; clears the device flag. Returns a code. */
int report_flag(const int* flag) {
  if (flag[0] == 0) return DMFC_OK;
  set_msgf("%s: index %d out of range for size %d (found while running; the output is invalid)",
           kernel_name(flag[1]), flag[2], flag[3]);
  cudaMemsetAsync(g_errflag, 0, 4 * sizeof(int), g_stream);
  return DMFC_ERR_INDEX;
}

int check_flag_sync() {
  int flag[4];
  DMF_CHECK("error flag", cudaMemcpyAsync(flag, g_errflag, sizeof flag, cudaMemcpyDeviceToHost,
                                          g_stream));
  DMF_CHECK("error flag", cudaStreamSynchronize(g_stream));
  return report_flag(flag);
}

// ---- pinned staging for read-backs ----------------------------------------------------------

struct Pinned {
  char* p;
  int64_t cap;
};

std::mutex g_pin_mu;
std::vector<Pinned> g_pinned_free;
int64_t g_pinned_cached = 0;
const int64_t kPinnedCacheMax = (int64_t)256 << 20;

Pinned pinned_get(int64_t bytes, cudaError_t* err) {
  {
    std::lock_guard<std::mutex> lk(g_pin_mu);
    int best = -1;
    for (size_t i = 0; i < g_pinned_free.size(); i++) {
      const Pinned& c = g_pinned_free[i];
      if (c.cap >= bytes && (best < 0 || c.cap < g_pinned_free[best].cap)) best = (int)i;
    }
    if (best >= 0 && g_pinned_free[best].cap <= 4 * bytes + 4096) {
      Pinned r = g_pinned_free[best];
      g_pinned_free.erase(g_pinned_free.begin() + best);
      g_pinned_cached -= r.cap;
      *err = cudaSuccess;
      return r;
    }
  }
  int64_t cap = 4096;
  while (cap < bytes) cap *= 2;
  void* p = nullptr;
  *err = cudaMallocHost(&p, (size_t)cap);
  return Pinned{static_cast<char*>(p), *err == cudaSuccess ? cap : 0};
}

void pinned_put(Pinned b) {
  if (!b.p) return;
  std::lock_guard<std::mutex> lk(g_pin_mu);
  if (g_pinned_cached + b.cap > kPinnedCacheMax) {
    cudaFreeHost(b.p);
    return;
  }
  g_pinned_free.push_back(b);
  g_pinned_cached += b.cap;
}

const int kTickets = 1024;
struct Ticket {
  bool used;
  Pinned buf;
  int64_t bytes;
  cudaEvent_t ev;
};
Ticket g_tickets[kTickets];

// ---- pinned staging ring for uploads ----------------------------------------------------------
// A copy from pageable memory may wait for the stream to drain; staging through pinned memory
// keeps uploads queued like kernels. Uploads take consecutive regions of the ring; a region is
// reused only after the event recorded behind its copy fired.

const int64_t kRingBytes = (int64_t)16 << 20;
const int64_t kRingChunk = kRingBytes / 4;

struct UpEntry {
  int64_t start, end;
  cudaEvent_t ev;
};

char* g_ring = nullptr;
bool g_ring_failed = false;
int64_t g_ring_head = 0;
std::deque<UpEntry> g_ring_q;
std::vector<cudaEvent_t> g_ring_events;

cudaError_t ring_pop() {
  UpEntry e = g_ring_q.front();
  g_ring_q.pop_front();
  cudaError_t r = cudaEventSynchronize(e.ev);
  g_ring_events.push_back(e.ev);
  return r;
}

/** Offset of n free bytes in the ring (n <= kRingChunk), waiting for old copies if needed. */
int64_t ring_reserve(int64_t n, cudaError_t* err) {
  *err = cudaSuccess;
  for (;;) {
    if (g_ring_q.empty()) {
      g_ring_head = n;
      return 0;
    }
    int64_t tail = g_ring_q.front().start;
    if (g_ring_head > tail) {  // in use: [tail, head)
      if (g_ring_head + n <= kRingBytes) {
        int64_t off = g_ring_head;
        g_ring_head += n;
        return off;
      }
      if (n < tail) {
        g_ring_head = n;
        return 0;
      }
    } else if (g_ring_head + n < tail) {  // in use: [tail, end) and [0, head)
      int64_t off = g_ring_head;
      g_ring_head += n;
      return off;
    }
    *err = ring_pop();
    if (*err != cudaSuccess) return -1;
  }
}

}  // namespace

namespace dmf {

cudaStream_t stream() { return g_stream; }
int sm_count() { return g_sms; }
bool initialised() { return g_init; }
int* errflag() { return g_errflag; }

const char* dtype_name(int dt) {
  switch (dt) {
    case DMFC_F32: return "f32";
    case DMFC_I32: return "i32";
    case DMFC_U8: return "u8";
    case DMFC_BOOL: return "bool";
    default: return "unknown dtype";
  }
}

int fail_cuda(const char* where, cudaError_t e) {
  set_msgf("%s: %s (%s)", where, cudaGetErrorString(e), cudaGetErrorName(e));
  return DMFC_ERR_CUDA;
}

int fail(int code, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  set_msg(fmt, ap);
  va_end(ap);
  return code;
}

int finish(const char* kernel, cudaError_t e) {
  if (e != cudaSuccess) return fail_cuda(kernel, e);
  if (g_sync_debug) {
    cudaError_t s = cudaStreamSynchronize(g_stream);
    if (s != cudaSuccess) return fail_cuda(kernel, s);
    int rc = check_flag_sync();
    if (rc != DMFC_OK) return rc;
  }
  return DMFC_OK;
}

void* scratch_alloc(int64_t bytes, const char* who, int* status) {
  void* p = nullptr;
  cudaError_t e = g_use_pool ? cudaMallocAsync(&p, (size_t)(bytes > 0 ? bytes : 1), g_stream)
                             : cudaMalloc(&p, (size_t)(bytes > 0 ? bytes : 1));
  if (e != cudaSuccess) {
    *status = fail_cuda(who, e);
    return nullptr;
  }
  *status = DMFC_OK;
  return p;
}

void scratch_free(void* p) {
  if (!p) return;
  if (g_use_pool) cudaFreeAsync(p, g_stream);
  else cudaFree(p);
}

}  // namespace dmf

DMFC_API int dmfc_version(void) { return 1; }

DMFC_API int dmfc_is_emulation(void) {
#ifdef DMF_EMU
  return 1;
#else
  return 0;
#endif
}

DMFC_API int dmfc_last_error(char* buf, int len) {
  std::lock_guard<std::mutex> lk(g_msg_mu);
  if (len <= 0) return (int)strlen(g_msg);
  snprintf(buf, (size_t)len, "%s", g_msg);
  return (int)strlen(g_msg);
}

DMFC_API int dmfc_init(int device) {
  if (g_init) return DMFC_OK;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    int code = DMFC_ERR_CUDA;
#ifndef DMF_EMU
    if (e == cudaErrorInsufficientDriver) code = DMFC_ERR_NO_DRIVER;
    if (e == cudaErrorNoDevice) code = DMFC_ERR_NO_DEVICE;
#endif
    set_msgf("cudaGetDeviceCount: %s (%s, error %d)", cudaGetErrorString(e), cudaGetErrorName(e),
             (int)e);
    return code;
  }
  if (count == 0) {
    set_msgf("no CUDA device found");
    return DMFC_ERR_NO_DEVICE;
  }
  if (device < 0 || device >= count) {
    set_msgf("device %d does not exist (%d devices)", device, count);
    return DMFC_ERR_NO_DEVICE;
  }
  DMF_CHECK("cudaSetDevice", cudaSetDevice(device));
  DMF_CHECK("cudaDeviceGetAttribute",
            cudaDeviceGetAttribute(&g_sms, cudaDevAttrMultiProcessorCount, device));
  DMF_CHECK("cudaStreamCreate", cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking));
#ifndef DMF_EMU
  int pools = 0;
  cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device);
  g_use_pool = pools != 0;
#endif
  if (g_use_pool) {
    cudaMemPool_t pool;
    DMF_CHECK("cudaDeviceGetDefaultMemPool", cudaDeviceGetDefaultMemPool(&pool, device));
    uint64_t keep = UINT64_MAX;
    DMF_CHECK("cudaMemPoolSetAttribute",
              cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
  }
  void* flag = nullptr;
  DMF_CHECK("cudaMalloc (error flag)", cudaMalloc(&flag, 4 * sizeof(int)));
  g_errflag = static_cast<int*>(flag);
  DMF_CHECK("cudaMemset (error flag)", cudaMemsetAsync(flag, 0, 4 * sizeof(int), g_stream));
  DMF_CHECK("cudaStreamSynchronize", cudaStreamSynchronize(g_stream));
  const char* dbg = getenv("DMF_CUDA_SYNC");
  g_sync_debug = dbg && dbg[0] == '1';
  g_init = true;
  return DMFC_OK;
}

DMFC_API int dmfc_device_info(char* name, int len, int64_t* info) {
  DMF_REQUIRE_INIT("device_info");
  int dev = 0;
  DMF_CHECK("cudaGetDevice", cudaGetDevice(&dev));
  cudaDeviceProp p;
  DMF_CHECK("cudaGetDeviceProperties", cudaGetDeviceProperties(&p, dev));
  if (len > 0) snprintf(name, (size_t)len, "%s", p.name);
  int drv = 0, rt = 0;
  cudaDriverGetVersion(&drv);
  cudaRuntimeGetVersion(&rt);
  info[0] = p.major;
  info[1] = p.minor;
  info[2] = p.multiProcessorCount;
  info[3] = (int64_t)p.totalGlobalMem;
  info[4] = drv;
  info[5] = rt;
  return DMFC_OK;
}

DMFC_API uint64_t dmfc_alloc(int64_t bytes) {
  if (!g_init) {
    dmf::fail(DMFC_ERR_NOT_INIT, "alloc: the CUDA backend is not initialised");
    return 0;
  }
  if (bytes <= 0) return 0;
  void* p = nullptr;
  cudaError_t e = g_use_pool ? cudaMallocAsync(&p, (size_t)bytes, g_stream)
                             : cudaMalloc(&p, (size_t)bytes);
  if (e != cudaSuccess) {
    cudaGetLastError();
    size_t free_b = 0, total_b = 0;
    cudaMemGetInfo(&free_b, &total_b);
    set_msgf("alloc of %lld bytes: %s (in use by tensors %lld, device free %lld of %lld)",
             (long long)bytes, cudaGetErrorString(e), (long long)g_in_use, (long long)free_b,
             (long long)total_b);
    return 0;
  }
  uint64_t u = (uint64_t)(uintptr_t)p;
  std::lock_guard<std::mutex> lk(g_mem_mu);
  g_sizes[u] = bytes;
  g_in_use += bytes;
  g_total_allocs++;
  if (g_in_use > g_peak) g_peak = g_in_use;
  return u;
}

DMFC_API int dmfc_free(uint64_t ptr) {
  if (!ptr) return DMFC_OK;
  {
    std::lock_guard<std::mutex> lk(g_mem_mu);
    auto it = g_sizes.find(ptr);
    if (it == g_sizes.end()) {
      return dmf::fail(DMFC_ERR_ARG, "free: 0x%llx is not a live allocation (double free?)",
                       (unsigned long long)ptr);
    }
    g_in_use -= it->second;
    g_sizes.erase(it);
  }
  void* p = dmf::ptr<void>(ptr);
  DMF_CHECK("free", g_use_pool ? cudaFreeAsync(p, g_stream) : cudaFree(p));
  return DMFC_OK;
}

DMFC_API int dmfc_upload(uint64_t dst, const void* src, int64_t bytes) {
  DMF_REQUIRE_INIT("upload");
  if (bytes <= 0) return DMFC_OK;
  if (!g_ring && !g_ring_failed) {
    void* p = nullptr;
    if (cudaMallocHost(&p, (size_t)kRingBytes) == cudaSuccess) g_ring = static_cast<char*>(p);
    else g_ring_failed = true;
    cudaGetLastError();
  }
  if (!g_ring) {
    // pageable fallback: returns once `src` was staged (it may wait for the stream)
    DMF_CHECK("upload", cudaMemcpyAsync(dmf::ptr<void>(dst), src, (size_t)bytes,
                                        cudaMemcpyHostToDevice, g_stream));
    return DMFC_OK;
  }
  const char* s = static_cast<const char*>(src);
  char* d = dmf::ptr<char>(dst);
  for (int64_t done = 0; done < bytes;) {
    int64_t n = bytes - done < kRingChunk ? bytes - done : kRingChunk;
    cudaError_t e;
    int64_t off = ring_reserve(n, &e);
    if (off < 0) return dmf::fail_cuda("upload (staging wait)", e);
    memcpy(g_ring + off, s + done, (size_t)n);
    DMF_CHECK("upload", cudaMemcpyAsync(d + done, g_ring + off, (size_t)n,
                                        cudaMemcpyHostToDevice, g_stream));
    cudaEvent_t ev;
    if (g_ring_events.empty()) {
      DMF_CHECK("upload (event)", cudaEventCreateWithFlags(&ev, cudaEventDisableTiming));
    } else {
      ev = g_ring_events.back();
      g_ring_events.pop_back();
    }
    DMF_CHECK("upload (event)", cudaEventRecord(ev, g_stream));
    g_ring_q.push_back(UpEntry{off, off + n, ev});
    done += n;
  }
  return DMFC_OK;
}

DMFC_API int dmfc_download(uint64_t src, void* dst, int64_t bytes) {
  DMF_REQUIRE_INIT("download");
  if (bytes > 0) {
    DMF_CHECK("download", cudaMemcpyAsync(dst, dmf::ptr<void>(src), (size_t)bytes,
                                          cudaMemcpyDeviceToHost, g_stream));
  }
  DMF_CHECK("download (stream sync)", cudaStreamSynchronize(g_stream));
  return check_flag_sync();
}

DMFC_API int64_t dmfc_download_begin(uint64_t src, int64_t bytes) {
  if (!g_init) return -dmf::fail(DMFC_ERR_NOT_INIT, "download: not initialised");
  int t = -1;
  for (int i = 0; i < kTickets; i++) {
    if (!g_tickets[i].used) {
      t = i;
      break;
    }
  }
  if (t < 0) return -dmf::fail(DMFC_ERR_ARG, "download: more than %d read-backs pending", kTickets);
  Ticket& k = g_tickets[t];
  if (!k.ev) {
    cudaError_t e = cudaEventCreateWithFlags(&k.ev, cudaEventDisableTiming);
    if (e != cudaSuccess) return -dmf::fail_cuda("download (event)", e);
  }
  // the copied error flag rides at the end of the staging buffer
  int64_t flag_at = (bytes + 15) / 16 * 16;
  cudaError_t e;
  Pinned buf = pinned_get(flag_at + 16, &e);
  if (e != cudaSuccess) return -dmf::fail_cuda("download (pinned staging)", e);
  if (bytes > 0) {
    e = cudaMemcpyAsync(buf.p, dmf::ptr<void>(src), (size_t)bytes, cudaMemcpyDeviceToHost,
                        g_stream);
    if (e != cudaSuccess) {
      pinned_put(buf);
      return -dmf::fail_cuda("download", e);
    }
  }
  e = cudaMemcpyAsync(buf.p + flag_at, g_errflag, 4 * sizeof(int), cudaMemcpyDeviceToHost,
                      g_stream);
  if (e == cudaSuccess) e = cudaEventRecord(k.ev, g_stream);
  if (e != cudaSuccess) {
    pinned_put(buf);
    return -dmf::fail_cuda("download", e);
  }
  k.used = true;
  k.buf = buf;
  k.bytes = bytes;
  return t;
}

DMFC_API int dmfc_download_wait(int64_t ticket) {
  if (ticket < 0 || ticket >= kTickets || !g_tickets[ticket].used) return DMFC_ERR_ARG;
  cudaError_t e = cudaEventSynchronize(g_tickets[ticket].ev);
  return e == cudaSuccess ? DMFC_OK : (int)(1000 + e);
}

DMFC_API int dmfc_download_end(int64_t ticket, void* dst, int64_t bytes) {
  if (ticket < 0 || ticket >= kTickets || !g_tickets[ticket].used) {
    return dmf::fail(DMFC_ERR_ARG, "download: bad ticket %lld", (long long)ticket);
  }
  Ticket& k = g_tickets[ticket];
  cudaError_t e = cudaEventSynchronize(k.ev);
  int rc = DMFC_OK;
  if (e != cudaSuccess) {
    rc = dmf::fail_cuda("download (a kernel queued before it failed)", e);
  } else {
    int64_t n = bytes < k.bytes ? bytes : k.bytes;
    if (n > 0) memcpy(dst, k.buf.p, (size_t)n);
    int flag[4];
    memcpy(flag, k.buf.p + (k.bytes + 15) / 16 * 16, sizeof flag);
    rc = report_flag(flag);
  }
  pinned_put(k.buf);
  k.used = false;
  k.buf = Pinned{nullptr, 0};
  return rc;
}

DMFC_API int dmfc_sync(void) {
  DMF_REQUIRE_INIT("sync");
  DMF_CHECK("sync (a kernel queued before it failed)", cudaStreamSynchronize(g_stream));
  return check_flag_sync();
}

DMFC_API int dmfc_memset(uint64_t p, int value, int64_t bytes) {
  DMF_REQUIRE_INIT("memset");
  if (bytes <= 0) return DMFC_OK;
  DMF_CHECK("memset", cudaMemsetAsync(dmf::ptr<void>(p), value, (size_t)bytes, g_stream));
  return DMFC_OK;
}

DMFC_API int dmfc_copy(uint64_t dst, uint64_t src, int64_t bytes) {
  DMF_REQUIRE_INIT("copy");
  if (bytes <= 0) return DMFC_OK;
  DMF_CHECK("copy", cudaMemcpyAsync(dmf::ptr<void>(dst), dmf::ptr<void>(src), (size_t)bytes,
                                    cudaMemcpyDeviceToDevice, g_stream));
  return DMFC_OK;
}

DMFC_API int dmfc_pool_stats(int64_t* s) {
  std::lock_guard<std::mutex> lk(g_mem_mu);
  s[0] = g_in_use;
  s[1] = g_peak;
  s[2] = (int64_t)g_sizes.size();
  s[3] = g_total_allocs;
  return DMFC_OK;
}

DMFC_API int dmfc_pool_trim(void) {
  DMF_REQUIRE_INIT("pool_trim");
  if (!g_use_pool) return DMFC_OK;
  DMF_CHECK("trim (sync)", cudaStreamSynchronize(g_stream));
  int dev = 0;
  cudaMemPool_t pool;
  DMF_CHECK("cudaGetDevice", cudaGetDevice(&dev));
  DMF_CHECK("cudaDeviceGetDefaultMemPool", cudaDeviceGetDefaultMemPool(&pool, dev));
  DMF_CHECK("cudaMemPoolTrimTo", cudaMemPoolTrimTo(pool, 0));
  std::lock_guard<std::mutex> lk(g_pin_mu);
  for (auto& b : g_pinned_free) cudaFreeHost(b.p);
  g_pinned_free.clear();
  g_pinned_cached = 0;
  return DMFC_OK;
}

DMFC_API int dmfc_set_sync_debug(int on) {
  g_sync_debug = on != 0;
  return DMFC_OK;
}
