/**
 * FFI declarations of the data-movement, indexing, resampling, pooling and msda kernels
 * (native/shape_ops.c, index_ops.c, resample.c, pooling.c, msda.c).
 */
const B = "buffer" as const;
const I64 = "i64" as const;

export const SHAPE_SYMBOLS = {
  dmf_pad: { parameters: [B, B, I64, B, "i32", B], result: "void" },
  dmf_copy_rows: { parameters: [B, B, I64, I64, I64, I64, I64], result: "void" },
  dmf_where: { parameters: [B, B, B, B, B], result: "void" },
  dmf_cumsum: { parameters: [B, B, I64, I64, I64], result: "void" },
  dmf_gather: { parameters: [B, B, B, I64, B], result: I64 },
  dmf_scatter_add: { parameters: [B, B, B, B, B], result: I64 },
  dmf_index_select: { parameters: [B, B, B, I64, I64, I64, I64, I64], result: I64 },
  dmf_index_add: { parameters: [B, B, B, B, I64, I64, I64, I64], result: I64 },
  dmf_resize_nearest: { parameters: [B, B, I64, B, B, B], result: "void" },
  dmf_resize_nearest_backward: { parameters: [B, B, B, B, B], result: "void" },
  dmf_resize_bilinear: { parameters: [B, B, B, B, B, B, B], result: "void" },
  dmf_resize_bilinear_backward: { parameters: [B, B, B, B, B, B, B], result: "void" },
  dmf_grid_sample: { parameters: [B, B, B, B], result: "void" },
  dmf_grid_sample_backward: { parameters: [B, B, B, B, B, B], result: "void" },
  dmf_max_pool2d: { parameters: [B, B, B], result: "void" },
  dmf_max_pool2d_backward: { parameters: [B, B, B, B], result: "void" },
  dmf_avg_pool2d: { parameters: [B, B, B], result: "void" },
  dmf_avg_pool2d_backward: { parameters: [B, B, B], result: "void" },
  dmf_msda: { parameters: [B, B, B, B, B], result: "i32" },
  dmf_msda_backward: { parameters: [B, B, B, B, B, B, B, B], result: "i32" },
} as const;
