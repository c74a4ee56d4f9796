/**
 * conv2d's implicit GEMMs (forward, input grad, weight grad) on the image GEMM of CPU
 * adapters (matmul_image.ts): the weights (or dy) go into the A texture through the generic
 * packer, the column matrix into the B texture through wgsl/conv2d_image.wgsl, then one
 * batched product per chunk of images. Each function returns false where the image kernel
 * does not apply (adapter, option, limits), leaving the conv to the buffer kernels.
 */
import type { Attrs, KernelInput, KernelOutput } from "../../backend.ts";
import { gemmShape, type Geometry } from "../../cpu/conv.ts";
import type { GpuBuffer, GpuTexture, Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf } from "./common.ts";
import { wantsImage } from "./matmul.ts";
import {
  imageMultiply,
  type ImageOutput,
  type ImagePlan,
  type Operand,
  packOperand,
  planImage,
} from "./matmul_image.ts";
import { sumRows } from "./reduce.ts";

const PACK_WG = 64;
/** Bytes of column-matrix texture per chunk of images (one image may exceed it). */
const CHUNK_BYTES = 64 << 20;

const enum Mode {
  Forward = 0,
  InputGrad = 1,
  WeightGrad = 2,
}

/**
 * Whether the image GEMM should run a conv GEMM of M rows and `work` multiply-adds. Below
 * 8 rows the buffer kernels of the forward and weight gradient were faster on llvmpipe
 * (M 4: 1.3-1.5x, depthwise M 1: 1.2-2x); the input gradient's buffer kernel was slower at
 * every M (depthwise included), so it passes minRows 1.
 */
function wanted(rt: Runtime, M: number, work: number, minRows: number): boolean {
  if (work === 0 || (rt.options.matmul === "auto" && M < minRows)) return false;
  return wantsImage(rt, work);
}

/** Images per chunk: the B texture within CHUNK_BYTES and the layer limit. */
function imagesPerChunk(rt: Runtime, g: Geometry, imageBytes: number): number {
  const maxLayers = rt.limits.maxTextureArrayLayers ?? 256;
  const byBytes = Math.floor(CHUNK_BYTES / imageBytes);
  return Math.max(1, Math.min(g.N, byBytes, Math.floor(maxLayers / g.groups)));
}

/** Batch over (image, group): A matrix per group, B layer n * groups + g. */
function batchOf(
  images: number,
  groups: number,
): Pick<ImageOutput, "batch" | "aStrides" | "bStrides"> {
  const axes = [[images, 0, groups], [groups, 1, 1]].filter(([d]) => d > 1);
  return {
    batch: axes.map(([d]) => d),
    aStrides: axes.map(([, a]) => a),
    bStrides: axes.map(([, , b]) => b),
  };
}

/** The packer's header constants (geometry baked in: see wgsl/conv2d_image.wgsl). */
function geometryConsts(g: Geometry, attrs: Attrs): Record<string, number> {
  return {
    C: g.C,
    IN_H: g.H,
    IN_W: g.W,
    O: g.O,
    KH: g.KH,
    KW: g.KW,
    OUT_H: g.OH,
    OUT_W: g.OW,
    GROUPS: g.groups,
    SH: attrs.stride[0],
    SW: attrs.stride[1],
    PH: attrs.padding[0],
    PW: attrs.padding[1],
    DH: attrs.dilation[0],
    DW: attrs.dilation[1],
  };
}

/** Packs the column matrix of `mode` (rows x cols per layer) into `tex`. */
function packColumns(
  rt: Runtime,
  mode: Mode,
  g: Geometry,
  attrs: Attrs,
  src: GpuBuffer,
  tex: GpuTexture,
  plan: ImagePlan,
  n0: number,
  layers: number,
): void {
  const geometry = geometryConsts(g, attrs);
  const key = `conv2d_image:${mode}:${Object.values(geometry)}`;
  const pipe = rt.pipeline(
    key,
    ["read", "texture-write"],
    4,
    () => assemble(consts({ WG: PACK_WG, MODE: mode, ...geometry }), "conv2d_image"),
  );
  const [width, height] = plan.bSize;
  const words = [n0, width, plan.K, plan.N];
  rt.dispatch(pipe, [src, tex], words, [Math.ceil(width / PACK_WG), height, layers]);
}

/**
 * C = A @ B per chunk of images, B the column matrix of `mode` from `src`: A packed once
 * (`a`) or per chunk (`aOf`), output per chunk at `outOf(n0)`.
 */
function run(
  rt: Runtime,
  mode: Mode,
  g: Geometry,
  attrs: Attrs,
  src: GpuBuffer,
  dims: { M: number; N: number; K: number },
  a: Operand,
  out: (n0: number, images: number) => ImageOutput,
): boolean {
  const one = planImage(rt, dims.M, dims.N, dims.K, a.matrices, g.groups);
  if (!one) return false;
  const [w, h] = one.bSize;
  const images = imagesPerChunk(rt, g, w * h * g.groups * 16);
  const plan = planImage(rt, dims.M, dims.N, dims.K, a.matrices, images * g.groups)!;
  const texA = rt.acquireTexture(plan.aSize);
  const texB = rt.acquireTexture(plan.bSize);
  packOperand(rt, a, texA, plan.height, plan.chunks);
  for (let n0 = 0; n0 < g.N; n0 += images) {
    const count = Math.min(images, g.N - n0);
    packColumns(rt, mode, g, attrs, src, texB, plan, n0, count * g.groups);
    imageMultiply(rt, plan, texA, texB, out(n0, count));
  }
  rt.releaseTexture(texA);
  rt.releaseTexture(texB);
  return true;
}

/** out[n, g Og + o, p] = sum_kc w[g Og + o, kc] x_col[n, g][kc, p]. */
export function convForwardImage(
  rt: Runtime,
  g: Geometry,
  attrs: Attrs,
  out: KernelOutput,
  x: KernelInput,
  w: KernelInput,
): boolean {
  const { Og, Kc, P } = gemmShape(g);
  if (!wanted(rt, Og, g.N * g.O * P * Kc, 8)) return false;
  const weights: Operand = {
    buf: gbuf(w),
    rows: Og,
    cols: Kc,
    rowStride: Kc,
    colStride: 1,
    matrixStride: Og * Kc,
    matrices: g.groups,
  };
  return run(rt, Mode.Forward, g, attrs, gbuf(x), { M: Og, N: P, K: Kc }, weights, (n0, n) => ({
    c: gbuf(out),
    cOffset: n0 * g.O * P,
    cBatch: Og * P,
    cRow: P,
    cCol: 1,
    ...batchOf(n, g.groups),
  }));
}

/** dx[n, g Cg + c, q] = sum_(o, kh, kw) w[g Og + o, c, kh, kw] dy_col[n, g][(o, kh, kw), q]. */
export function convInputGradImage(
  rt: Runtime,
  g: Geometry,
  attrs: Attrs,
  out: KernelOutput,
  dy: KernelInput,
  w: KernelInput,
): boolean {
  const Cg = g.C / g.groups;
  const Og = g.O / g.groups;
  const KK = g.KH * g.KW;
  const Q = g.H * g.W;
  if (!wanted(rt, Cg, g.N * g.C * Q * Og * KK, 1)) return false;
  // w^T per group: row c, column (o, kh, kw)
  const weights: Operand = {
    buf: gbuf(w),
    rows: Cg,
    cols: Og * KK,
    rowStride: KK,
    colStride: 1,
    colInner: KK,
    colOuterStride: Cg * KK,
    matrixStride: Og * Cg * KK,
    matrices: g.groups,
  };
  const dims = { M: Cg, N: Q, K: Og * KK };
  return run(rt, Mode.InputGrad, g, attrs, gbuf(dy), dims, weights, (n0, n) => ({
    c: gbuf(out),
    cOffset: n0 * g.C * Q,
    cBatch: Cg * Q,
    cRow: Q,
    cCol: 1,
    ...batchOf(n, g.groups),
  }));
}

/**
 * dw[g Og + o, kc] = sum_(n, p) dy[n, g Og + o, p] x_col[n, g][kc, p], K = (n, p) over
 * chunks of images that fit a texture's height; chunks write partial sums that are added.
 */
export function convWeightGradImage(
  rt: Runtime,
  g: Geometry,
  attrs: Attrs,
  out: KernelOutput,
  x: KernelInput,
  dy: KernelInput,
): boolean {
  const { Og, Kc, P } = gemmShape(g);
  if (!wanted(rt, Og, g.N * g.O * P * Kc, 8)) return false;
  const maxDim = rt.limits.maxTextureDimension2D ?? 8192;
  const byHeight = Math.floor(maxDim / P);
  const byBytes = Math.floor(CHUNK_BYTES / (P * Kc * g.groups * 4));
  const images = Math.min(g.N, byHeight, Math.max(1, byBytes));
  const plan = images > 0 ? planImage(rt, Og, Kc, images * P, g.groups, g.groups) : null;
  if (!plan) return false;
  const chunks = Math.ceil(g.N / images);
  const len = g.O * Kc;
  const part = chunks > 1 ? rt.allocBuffer(chunks * len * 4) : gbuf(out);
  const texA = rt.acquireTexture(plan.aSize);
  const texB = rt.acquireTexture(plan.bSize);
  for (let i = 0; i < chunks; i++) {
    const n0 = i * images;
    const count = Math.min(images, g.N - n0);
    // the last chunk may be shorter: its product reads only the texels it packed
    const rows = count * P;
    const k4 = Math.ceil(rows / 4);
    const chunkPlan: ImagePlan = {
      ...plan,
      K: rows,
      k4,
      bSize: [plan.bSize[0], 4 * k4, plan.bSize[2]],
    };
    const dyChunk: Operand = {
      buf: gbuf(dy),
      offset: n0 * g.O * P,
      rows: Og,
      cols: rows,
      rowStride: P,
      colStride: 1,
      colInner: P,
      colOuterStride: g.O * P,
      matrixStride: Og * P,
      matrices: g.groups,
    };
    packOperand(rt, dyChunk, texA, plan.height, plan.chunks);
    packColumns(rt, Mode.WeightGrad, g, attrs, gbuf(x), texB, chunkPlan, n0, g.groups);
    const batch = g.groups > 1 ? [g.groups] : [];
    imageMultiply(rt, chunkPlan, texA, texB, {
      c: part,
      cOffset: i * len,
      cBatch: Og * Kc,
      cRow: Kc,
      cCol: 1,
      batch,
      aStrides: batch.map(() => 1),
      bStrides: batch.map(() => 1),
    });
  }
  rt.releaseTexture(texA);
  rt.releaseTexture(texB);
  if (chunks > 1) {
    sumRows(rt, part, gbuf(out), chunks, len);
    rt.freeBuffer(part);
  }
  return true;
}
