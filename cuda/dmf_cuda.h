/*
 * dmformer-deno CUDA backend: the flat C ABI of libdmf_cuda.so (loaded by
 * src/backend/cuda/ffi.ts with Deno.dlopen; keep the two in step).
 *
 * Conventions
 * - Device pointers travel as uint64_t; element counts, shapes and strides as int64_t
 *   (strides in elements, may be negative or 0). Arrays (shapes, strides) are host pointers
 *   valid only during the call.
 * - dtype codes: DMFC_F32, DMFC_I32, DMFC_U8, DMFC_BOOL. u8 and bool are one byte per element;
 *   bool holds 0/1.
 * - Every entry point returns 0 (DMFC_OK) or an error code; dmfc_last_error() copies the
 *   message of the last failure ("<kernel>: <what>"). Kernels queue work on the library's one
 *   stream and return without waiting; errors that only show while running (a bad address, an
 *   index out of range found by a kernel) are reported by the next dmfc_sync / download.
 * - Outputs are written completely by the kernels (device memory is not zeroed on allocation);
 *   kernels whose CPU reference accumulates into a zeroed output clear it first.
 */
#ifndef DMF_CUDA_H
#define DMF_CUDA_H

#include <stdint.h>

#define DMFC_API extern "C" __attribute__((visibility("default")))

enum { DMFC_F32 = 0, DMFC_I32 = 1, DMFC_U8 = 2, DMFC_BOOL = 3 };

enum {
  DMFC_OK = 0,
  DMFC_ERR_CUDA = 1,     /* a CUDA runtime call failed */
  DMFC_ERR_ARG = 2,      /* unsupported dtype / rank / argument */
  DMFC_ERR_NO_DEVICE = 3,
  DMFC_ERR_NO_DRIVER = 4,
  DMFC_ERR_INDEX = 5,    /* a kernel found an index out of range (reported at sync) */
  DMFC_ERR_NOT_INIT = 6,
};

#define DMFC_MAX_RANK 8
#define DMFC_MAX_LEVELS 16

/* reduce ops */
enum { DMFC_RED_SUM = 0, DMFC_RED_MEAN = 1, DMFC_RED_MAX = 2, DMFC_RED_MIN = 3, DMFC_RED_PROD = 4 };

/* ---- runtime.cu ---------------------------------------------------------------------- */
DMFC_API int dmfc_version(void);
/* 1 for the CPU emulation build (cuda/emu), 0 for the real one. */
DMFC_API int dmfc_is_emulation(void);
DMFC_API int dmfc_init(int device);
DMFC_API int dmfc_last_error(char* buf, int len);
/* info: [cc major, cc minor, SM count, total bytes, driver version, runtime version] */
DMFC_API int dmfc_device_info(char* name, int len, int64_t* info);
/* Returns 0 and sets the error when the allocation fails (bytes > 0). */
DMFC_API uint64_t dmfc_alloc(int64_t bytes);
DMFC_API int dmfc_free(uint64_t ptr);
DMFC_API int dmfc_upload(uint64_t dst, const void* src, int64_t bytes);
DMFC_API int dmfc_download(uint64_t src, void* dst, int64_t bytes);
/* Asynchronous read-back: begin queues the copy into pinned memory and returns a ticket
 * (< 0 on error); wait blocks until it landed (safe to call from another thread); end copies
 * it to dst and releases the ticket (call it even after a failed wait). */
DMFC_API int64_t dmfc_download_begin(uint64_t src, int64_t bytes);
DMFC_API int dmfc_download_wait(int64_t ticket);
DMFC_API int dmfc_download_end(int64_t ticket, void* dst, int64_t bytes);
DMFC_API int dmfc_sync(void);
DMFC_API int dmfc_memset(uint64_t ptr, int value, int64_t bytes);
DMFC_API int dmfc_copy(uint64_t dst, uint64_t src, int64_t bytes);
/* stats: [bytes in use, peak bytes in use, live allocations, total allocations] */
DMFC_API int dmfc_pool_stats(int64_t* stats);
DMFC_API int dmfc_pool_trim(void);
/* 1: synchronise after every kernel, so an asynchronous fault names its kernel. */
DMFC_API int dmfc_set_sync_debug(int on);

/* ---- elementwise.cu ------------------------------------------------------------------ */
DMFC_API int dmfc_unary_count(void);
DMFC_API int dmfc_binary_count(void);
DMFC_API int dmfc_unary(int op, int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n);
DMFC_API int dmfc_binary(int op, int in_dt, int out_dt, int rank, const int64_t* shape,
                         const int64_t* sa, const int64_t* sb, uint64_t a, uint64_t b,
                         uint64_t out);
DMFC_API int dmfc_where(int dt, int rank, const int64_t* shape, const int64_t* sc,
                        const int64_t* sa, const int64_t* sb, uint64_t c, uint64_t a, uint64_t b,
                        uint64_t out);
DMFC_API int dmfc_cast(int in_dt, int out_dt, uint64_t x, uint64_t out, int64_t n);

/* ---- copy.cu ------------------------------------------------------------------------- */
DMFC_API int dmfc_strided_copy(int dt, int rank, const int64_t* shape, const int64_t* strides,
                               int64_t offset, uint64_t x, uint64_t out);
DMFC_API int dmfc_strided_scatter(int dt, int rank, const int64_t* shape, const int64_t* strides,
                                  int64_t offset, uint64_t g, uint64_t out, int64_t out_n);
DMFC_API int dmfc_cat_part(int dt, int64_t outer, int64_t block, int64_t out_block,
                           int64_t start, uint64_t x, uint64_t out);
/* mode 0 constant, 1 replicate; before[d] = padding before axis d. */
DMFC_API int dmfc_pad(int dt, int rank, const int64_t* in_shape, const int64_t* out_shape,
                      const int64_t* before, int mode, double value, uint64_t x, uint64_t out);

/* ---- creation.cu --------------------------------------------------------------------- */
DMFC_API int dmfc_fill(int dt, double value, uint64_t out, int64_t n);
DMFC_API int dmfc_arange(int dt, double start, double step, uint64_t out, int64_t n);
DMFC_API int dmfc_rand_uniform(int dt, uint32_t seed, uint32_t offset, uint64_t out, int64_t n);

/* ---- reduce.cu ----------------------------------------------------------------------- */
/* out[k] = reduce over r of x[koff(k) + roff(r)]; k walks kshape (row-major, = out layout),
 * r walks rshape; koff/roff from kstrides/rstrides. */
DMFC_API int dmfc_reduce(int op, int in_dt, int out_dt, int krank, const int64_t* kshape,
                         const int64_t* kstrides, int rrank, const int64_t* rshape,
                         const int64_t* rstrides, uint64_t x, uint64_t out);
DMFC_API int dmfc_argreduce(int is_min, int dt, int64_t outer, int64_t n, int64_t inner,
                            uint64_t x, uint64_t out);
DMFC_API int dmfc_cumsum(int in_dt, int out_dt, int64_t outer, int64_t n, int64_t inner,
                         uint64_t x, uint64_t out);
DMFC_API int dmfc_softmax(int is_log, int64_t outer, int64_t n, int64_t inner, uint64_t x,
                          uint64_t out);

/* ---- index.cu ------------------------------------------------------------------------ */
DMFC_API int dmfc_gather(int dt, int rank, const int64_t* idx_shape, const int64_t* x_strides,
                         int axis, int64_t axis_size, uint64_t x, uint64_t index, uint64_t out);
DMFC_API int dmfc_scatter_add(int dt, int rank, const int64_t* idx_shape,
                              const int64_t* out_strides, const int64_t* src_strides, int axis,
                              int64_t axis_size, uint64_t x, uint64_t index, uint64_t src,
                              uint64_t out, int64_t out_n);
DMFC_API int dmfc_index_select(int dt, int64_t outer, int64_t n, int64_t inner, int64_t m,
                               uint64_t x, uint64_t index, uint64_t out);
DMFC_API int dmfc_index_add(int dt, int64_t outer, int64_t n, int64_t inner, int64_t m,
                            uint64_t x, uint64_t index, uint64_t src, uint64_t out);
DMFC_API int dmfc_sort(int dt, int descending, int64_t outer, int64_t n, int64_t inner,
                       uint64_t x, uint64_t vals, uint64_t idx);

/* ---- conv.cu / pool.cu --------------------------------------------------------------- */
/* geom: N, C, H, W, O, KH, KW, OH, OW, groups, sh, sw, ph, pw, dh, dw */
DMFC_API int dmfc_conv2d(const int64_t* geom, uint64_t x, uint64_t w, uint64_t out);
DMFC_API int dmfc_conv2d_input_grad(const int64_t* geom, uint64_t gy, uint64_t w, uint64_t dx);
DMFC_API int dmfc_conv2d_weight_grad(const int64_t* geom, uint64_t x, uint64_t gy, uint64_t dw);
/* geom: planes (N*C), H, W, OH, OW, kh, kw, sh, sw, ph, pw */
DMFC_API int dmfc_pool2d(int is_max, const int64_t* geom, uint64_t x, uint64_t out);
DMFC_API int dmfc_max_pool2d_backward(const int64_t* geom, uint64_t x, uint64_t gy, uint64_t dx);
DMFC_API int dmfc_avg_pool2d_backward(const int64_t* geom, uint64_t gy, uint64_t dx);

/* ---- resample.cu --------------------------------------------------------------------- */
/* H, W: input plane; OH, OW: output plane (for backward: H, W of dx and OH, OW of dy). */
DMFC_API int dmfc_resize_nearest(int dt, int64_t planes, int64_t H, int64_t W, int64_t OH,
                                 int64_t OW, double scale_h, double scale_w, uint64_t x,
                                 uint64_t out);
DMFC_API int dmfc_resize_nearest_backward(int64_t planes, int64_t H, int64_t W, int64_t OH,
                                          int64_t OW, double scale_h, double scale_w,
                                          uint64_t gy, uint64_t dx);
DMFC_API int dmfc_resize_bilinear(int64_t planes, int64_t H, int64_t W, int64_t OH, int64_t OW,
                                  double scale_h, double scale_w, int align_corners, uint64_t x,
                                  uint64_t out);
DMFC_API int dmfc_resize_bilinear_backward(int64_t planes, int64_t H, int64_t W, int64_t OH,
                                           int64_t OW, double scale_h, double scale_w,
                                           int align_corners, uint64_t gy, uint64_t dx);
DMFC_API int dmfc_grid_sample(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                              int64_t OW, uint64_t x, uint64_t grid, uint64_t out);
DMFC_API int dmfc_grid_sample_backward(int64_t N, int64_t C, int64_t H, int64_t W, int64_t OH,
                                       int64_t OW, uint64_t x, uint64_t grid, uint64_t gy,
                                       uint64_t dx, uint64_t dgrid);

/* ---- msda.cu ------------------------------------------------------------------------- */
/* dims: N, S, M, D, Lq, L, P; levels: H_0, W_0, H_1, W_1, ... (L pairs) */
DMFC_API int dmfc_msda(const int64_t* dims, const int64_t* levels, uint64_t value, uint64_t loc,
                       uint64_t attn, uint64_t out);
DMFC_API int dmfc_msda_backward(const int64_t* dims, const int64_t* levels, uint64_t value,
                                uint64_t loc, uint64_t attn, uint64_t gout, uint64_t gvalue,
                                uint64_t gloc, uint64_t gattn);

/* ---- norm.cu ------------------------------------------------------------------------- */
/* layer_norm / group_norm over x viewed as [n, groups, cg, hw] (geom holds those four): each
 * (n, g) row of cg * hw values is normalised; element (k, h) of group g uses channel
 * g * cg + k of w / b (0: no affine). mean and rstd hold one value per row. The backward
 * writes dx and, unless dw is 0, dw and db. */
DMFC_API int dmfc_norm_forward(const int64_t* geom, double eps, uint64_t x, uint64_t w,
                               uint64_t b, uint64_t y, uint64_t mean, uint64_t rstd);
DMFC_API int dmfc_norm_backward(const int64_t* geom, uint64_t gy, uint64_t x, uint64_t mean,
                                uint64_t rstd, uint64_t w, uint64_t dx, uint64_t dw,
                                uint64_t db);

/* ---- window_attention.cu ------------------------------------------------------------- */
/* Swin window attention (op window_attention): dims holds B, n, c, heads, nW; qkv [B, n, 3c]
 * read as [3, heads, c / heads], bias [heads, n, n], mask [nW, n, n] (0: none; window b adds
 * mask[b % nW]) -> out [B, n, c] and lse [B, heads, n]. The backward takes gout [B, n, c], the
 * forward's out and lse, and writes dqkv and dbias (summed over windows in a fixed order).
 * head_dim = c / heads must be at most 256. */
DMFC_API int dmfc_window_attention(const int64_t* dims, double scale, uint64_t qkv, uint64_t bias,
                                   uint64_t mask, uint64_t out, uint64_t lse);
DMFC_API int dmfc_window_attention_backward(const int64_t* dims, double scale, uint64_t gout,
                                            uint64_t qkv, uint64_t bias, uint64_t mask,
                                            uint64_t out, uint64_t lse, uint64_t dqkv,
                                            uint64_t dbias);

/* ---- matmul.cu ----------------------------------------------------------------------- */
/* out[b] (M x N) = op(a[b]) op(b[b]); a[b] is [M, K] ([K, M] when trans_a), b[b] is [K, N]
 * ([N, K] when trans_b); batch index b walks bshape, operand offsets from sa / sb (elements);
 * out is contiguous. */
DMFC_API int dmfc_matmul(int dt, int trans_a, int trans_b, int64_t M, int64_t N, int64_t K,
                         int brank, const int64_t* bshape, const int64_t* sa, const int64_t* sb,
                         uint64_t a, uint64_t b, uint64_t out);
/* 0 auto (measure once per shape), 1 own kernels only, 2 cuBLAS when loaded. */
DMFC_API int dmfc_matmul_mode(int mode);
/* 1 when libcublas was found (dlopen) and initialised. */
DMFC_API int dmfc_cublas_available(void);
/* Which implementation the last f32 matmul ran: 1 own tile 64, 2 own tile 128, 3 cuBLAS. */
DMFC_API int dmfc_matmul_last_impl(void);

#endif
