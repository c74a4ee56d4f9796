/*
 * A persistent thread pool. dmf_pool_run(fn, ctx, ntasks) hands out task indices through an
 * atomic counter; the calling thread works too (tid 0). Idle workers spin briefly (so that
 * back-to-back kernel calls start at once) and then sleep on a condition variable.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield")
#else
#define CPU_RELAX() ((void)0)
#endif
#include <sched.h>

#include "dmf.h"

#define MAX_THREADS 64
#define SPIN_ROUNDS 2000 /* ~100 us with a ~50 ns pause */

static struct {
  int started;        /* workers created */
  int nthreads;       /* threads used per job, including the caller */
  pthread_t th[MAX_THREADS];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int sleepers;       /* workers waiting on cv (guarded by mu) */
  /* the current job (written by the caller before publishing gen) */
  dmf_task_fn fn;
  void *ctx;
  int64_t ntasks;
  int participants;   /* workers that take part in this job */
  atomic_llong next;
  atomic_int finished;
  atomic_uint gen;
} P = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* generation current when each worker was created: the worker waits for the next one */
static unsigned start_gen[MAX_THREADS + 1];
static float *wsA[MAX_THREADS];
static float *wsB[MAX_THREADS];

static float *ws_alloc(size_t floats) {
  void *p = NULL;
  if (posix_memalign(&p, 64, floats * sizeof(float)) != 0) abort();
  return (float *)p;
}

float *dmf_ws_a(int tid) {
  if (!wsA[tid]) wsA[tid] = ws_alloc(DMF_WS_A);
  return wsA[tid];
}

float *dmf_ws_b(int tid) {
  if (!wsB[tid]) wsB[tid] = ws_alloc(DMF_WS_B);
  return wsB[tid];
}

static void work(int tid) {
  int64_t t;
  while ((t = atomic_fetch_add_explicit(&P.next, 1, memory_order_relaxed)) < P.ntasks) {
    P.fn(P.ctx, t, tid);
  }
}

static void *worker(void *arg) {
  const int tid = (int)(intptr_t)arg;
  unsigned seen = start_gen[tid];
  for (;;) {
    unsigned g;
    int spins = 0;
    while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen) {
      if (++spins < SPIN_ROUNDS) {
        CPU_RELAX();
        continue;
      }
      pthread_mutex_lock(&P.mu);
      P.sleepers++;
      while ((g = atomic_load_explicit(&P.gen, memory_order_acquire)) == seen) {
        pthread_cond_wait(&P.cv, &P.mu);
      }
      P.sleepers--;
      pthread_mutex_unlock(&P.mu);
      break;
    }
    seen = g;
    if (tid < P.participants + 1) work(tid);
    atomic_fetch_add_explicit(&P.finished, 1, memory_order_release);
  }
  return NULL;
}

static int default_threads(void) {
  const char *env = getenv("DMF_NUM_THREADS");
  long n = env ? strtol(env, NULL, 10) : 0;
  if (n <= 0) n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n <= 0) n = 1;
  return n > MAX_THREADS ? MAX_THREADS : (int)n;
}

int dmf_threads(void) {
  if (P.nthreads == 0) P.nthreads = default_threads();
  return P.nthreads;
}

void dmf_pool_set_threads(int n) {
  if (n <= 0) n = default_threads();
  P.nthreads = n > MAX_THREADS ? MAX_THREADS : n;
}

static void start_workers(int want) {
  /* Workers are only ever added; surplus ones wake for each job and skip it. */
  while (P.started < want - 1) {
    const int tid = P.started + 1;
    start_gen[tid] = atomic_load_explicit(&P.gen, memory_order_relaxed);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 1 << 20);
    if (pthread_create(&P.th[P.started], &attr, worker, (void *)(intptr_t)tid) != 0) {
      pthread_attr_destroy(&attr);
      break;
    }
    pthread_attr_destroy(&attr);
    P.started++;
  }
}

void dmf_pool_run(dmf_task_fn fn, void *ctx, int64_t ntasks) {
  const int want = dmf_threads();
  if (ntasks <= 0) return;
  if (ntasks == 1 || want == 1) {
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  start_workers(want);
  const int workers = P.started;
  if (workers == 0) {
    for (int64_t t = 0; t < ntasks; t++) fn(ctx, t, 0);
    return;
  }
  const int64_t useful = ntasks - 1 < want - 1 ? ntasks - 1 : want - 1;
  P.fn = fn;
  P.ctx = ctx;
  P.ntasks = ntasks;
  P.participants = (int)useful;
  atomic_store_explicit(&P.next, 0, memory_order_relaxed);
  atomic_store_explicit(&P.finished, 0, memory_order_relaxed);
  atomic_fetch_add_explicit(&P.gen, 1, memory_order_release);
  pthread_mutex_lock(&P.mu);
  if (P.sleepers > 0) pthread_cond_broadcast(&P.cv);
  pthread_mutex_unlock(&P.mu);
  work(0);
  /* Every started worker acknowledges the generation, so none can still be reading this job
   * when the next one is published. */
  int spins = 0;
  while (atomic_load_explicit(&P.finished, memory_order_acquire) < workers) {
    if (++spins < SPIN_ROUNDS) {
      CPU_RELAX();
    } else {
      sched_yield();
    }
  }
}
