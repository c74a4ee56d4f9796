/**
 * Batched matmul with broadcast batch axes and folded transposes. Kernels: on CPU adapters
 * the image kernel (matmul_image.ts) from IMAGE_MIN_WORK multiply-adds, else the
 * uniform-window kernel (wgsl/matmul_ubo.wgsl) where it applies; workgroup-memory tiles
 * (wgsl/matmul_tiled.wgsl) on GPUs; wgsl/matmul.wgsl (rows) for the rest. A right operand
 * without batch axes of its own (linear layers) folds x's batch into M: one GEMM.
 */
import type { Kernel, KernelInput, KernelOutput } from "../../backend.ts";
import { matmulLaunch } from "../../matmul_launch.ts";
import {
  coalesce,
  type Compute,
  contiguous,
  isIntDtype,
  loadExpr,
  product,
  storageOf,
  storeExpr,
} from "../layout.ts";
import { type GpuBuffer, grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf } from "./common.ts";
import { fillWord } from "./creation.ts";
import { stridedPipe } from "./shape.ts";
import {
  IMAGE_PANEL,
  type ImageGemm,
  imageGemm,
  imageGemmFits,
  imageRows,
} from "./matmul_image.ts";

const WG = 64;
/**
 * Multiply-adds from which CPU adapters use the image kernel (matmul_image.ts) under "auto":
 * below it the packing passes cost more than the kernel saves.
 */
const IMAGE_MIN_WORK = 1 << 19;

/** Whether a product of `work` multiply-adds tries the image kernel (rt.options.matmul). */
export function wantsImage(rt: Runtime, work: number): boolean {
  const option = rt.options.matmul;
  return option === "image" || (option === "auto" && rt.preferThreads && work >= IMAGE_MIN_WORK);
}

export function rowsPerGroup(m: number): number {
  return m >= 8 ? 8 : m >= 4 ? 4 : m >= 2 ? 2 : 1;
}

export function matmulKernel(rt: Runtime): Kernel {
  return ([x, y], [out], { transA = false, transB = false }) => {
    const { M, N, K, batch, sa, sb } = matmulLaunch(x.shape, y.shape, out.shape, transA);
    if (M * N === 0 || product(out.shape) === 0) return;
    if (K === 0) {
      fillWord(rt, out, 0);
      return;
    }
    const cb = coalesce(batch, [contiguous(batch), sa, sb]);
    const rb = cb.shape.length;
    const ct: Compute = isIntDtype(out.dtype) ? "i32" : "f32";
    const f32 = x.dtype === "f32" && y.dtype === "f32" && out.dtype === "f32";
    const bvec = f32 && !transB && N % 4 === 0;
    const option = rt.options.matmul;
    if (f32 && wantsImage(rt, M * N * K) && runImage(rt, x, y, out, M, N, K, transA, transB, cb)) {
      return;
    }
    const choice = option === "auto" || option === "image"
      ? (rt.preferThreads ? "ubo" : "tiled")
      : option;
    const tiled = choice === "tiled";
    const rows = choice === "ubo" && bvec && !transA ? uboRows(rt, M, N, K, cb.strides[1]) : 0;
    if (rows > 0) {
      const [sh, sa, sb] = [cb.shape, cb.strides[1], cb.strides[2]];
      uboMatmul(rt, rows, gbuf(out), gbuf(x), gbuf(y), y.shape, M, N, K, sh, sa, sb);
      return;
    }
    const rm = rowsPerGroup(M);
    const key = tiled
      ? `matmul_tiled:${x.dtype},${y.dtype}>${out.dtype}:RB${rb}:${!transA}:${!transB}`
      : `matmul:${x.dtype},${y.dtype}>${out.dtype}:RM${rm}:${bvec}:RB${rb}`;
    const pipe = rt.pipeline(key, ["rw", "read", "read"], 8 + 3 * rb, () => {
      const scalarDecl = `@group(0) @binding(1) var<storage, read_write> c0: array<${
        storageOf(out.dtype)
      }>;
@group(0) @binding(2) var<storage, read> a0: array<${storageOf(x.dtype)}>;
@group(0) @binding(3) var<storage, read> b0: array<${storageOf(y.dtype)}>;
fn ldb(i: u32) -> T { return ${loadExpr(y.dtype, ct, "b0[i]")}; }
fn stc(i: u32, v: T) { c0[i] = ${storeExpr(out.dtype, ct, "v")}; }`;
      const lda = `fn lda(i: u32) -> T { return ${loadExpr(x.dtype, ct, "a0[i]")}; }`;
      if (tiled) {
        const header = `${consts({ RB: rb, A_K_CONTIG: !transA, B_N_CONTIG: !transB })}
alias T = ${ct};
${scalarDecl}
${lda}`;
        return assemble(header, "matmul_batch", "matmul_tiled");
      }
      const decl = bvec
        ? `@group(0) @binding(1) var<storage, read_write> c4: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> a0: array<f32>;
@group(0) @binding(3) var<storage, read> b4: array<vec4<f32>>;
fn ldb(i: u32) -> T { return T(0); }
fn stc(i: u32, v: T) {}`
        : `${scalarDecl}
var<private> b4: array<vec4<T>, 1>;
var<private> c4: array<vec4<T>, 1>;`;
      const header = `${consts({ WG, RM: rm, BVEC: bvec, RB: rb })}
alias T = ${ct};
${decl}
${lda}`;
      return assemble(header, "matmul_batch", "matmul");
    });
    const batches = product(cb.shape);
    const gx = tiled ? Math.ceil(N / 64) : Math.ceil(Math.ceil(N / 4) / WG);
    const gy = tiled ? Math.ceil(M / 64) : Math.ceil(M / rm);
    for (let z0 = 0; z0 < batches; z0 += 65535) {
      const p = new Params()
        .u(M, N, K, transA ? 1 : K, transA ? M : 1, transB ? 1 : N, transB ? K : 1, z0)
        .u(...cb.shape, ...cb.strides[1], ...cb.strides[2]);
      rt.dispatch(pipe, [gbuf(out), gbuf(x), gbuf(y)], p, [gx, gy, Math.min(65535, batches - z0)]);
    }
  };
}

/**
 * C = op(A) @ op(B) with the image kernel (CPU adapters), in the orientation that wastes
 * fewer lanes: the kernel spreads columns over lanes in panels of IMAGE_PANEL, so a thin
 * product (few columns, many rows) runs transposed, C^T = op(B)^T @ op(A)^T. Returns false
 * when the kernel does not fit (limits, adapter without read-only storage textures).
 */
function runImage(
  rt: Runtime,
  x: KernelInput,
  y: KernelInput,
  out: KernelOutput,
  M: number,
  N: number,
  K: number,
  transA: boolean,
  transB: boolean,
  cb: { shape: number[]; strides: number[][] },
): boolean {
  const a = {
    buf: gbuf(x),
    rows: M,
    cols: K,
    rowStride: transA ? 1 : K,
    colStride: transA ? M : 1,
    matrixStride: M * K,
    // one matrix when x's batch was folded into M
    matrices: cb.shape.length === 0 ? 1 : product(x.shape.slice(0, -2)),
  };
  const b = {
    buf: gbuf(y),
    rows: K,
    cols: N,
    rowStride: transB ? 1 : N,
    colStride: transB ? K : 1,
    matrixStride: K * N,
    matrices: cb.shape.length === 0 ? 1 : product(y.shape.slice(0, -2)),
  };
  const aStrides = cb.strides[1].map((s) => s / (M * K));
  const bStrides = cb.strides[2].map((s) => s / (K * N));
  const g: ImageGemm = {
    M,
    N,
    K,
    a,
    b,
    c: gbuf(out),
    cBatch: M * N,
    cRow: N,
    cCol: 1,
    batch: cb.shape,
    aStrides,
    bStrides,
  };
  const padded = (m: number, n: number) =>
    Math.ceil(m / imageRows(m)) * imageRows(m) * Math.ceil(n / IMAGE_PANEL) * IMAGE_PANEL;
  const t: ImageGemm = {
    ...g,
    M: N,
    N: M,
    a: { ...b, rows: N, cols: K, rowStride: b.colStride, colStride: b.rowStride },
    b: { ...a, rows: K, cols: M, rowStride: a.colStride, colStride: a.rowStride },
    cRow: 1,
    cCol: N,
    aStrides: bStrides,
    bStrides: aStrides,
  };
  const order = padded(N, M) < padded(M, N) ? [t, g] : [g, t];
  const fit = order.find((o) => imageGemmFits(rt, o));
  if (!fit) return false;
  imageGemm(rt, fit);
  return true;
}

const UBO_WG = 32;
const UBO_BINDINGS = 4;
/** Columns per packed panel of B (a workgroup of the uniform-window matmul). */
export const PANEL = 4 * UBO_WG;

/** Rows of A per uniform binding for inner size K (0: K too large). */
function rowsPerBinding(rt: Runtime, K: number): number {
  const maxUbo = rt.limits.maxUniformBufferBindingSize ?? 65536;
  let rpb = 16;
  while (rpb >= 1 && rpb * K * 4 > maxUbo) rpb /= 2;
  return rpb >= 1 ? rpb : 0;
}

/**
 * Rows per dispatch of the uniform-window matmul (wgsl/matmul_ubo.wgsl), or 0 when it does
 * not apply: CPU adapters only, K % 4 == 0, at least 4 rows of A in up to UBO_BINDINGS
 * uniform bindings, windows at aligned offsets (`aOffsets` in floats), and enough work per
 * dispatch to amortise one dispatch per block of rows.
 */
export function uboRows(rt: Runtime, M: number, N: number, K: number, aOffsets: number[]): number {
  if (!rt.preferThreads || K % 4 !== 0) return 0;
  const align = rt.limits.minUniformBufferOffsetAlignment ?? 256;
  const rpb = rowsPerBinding(rt, K);
  const rm = Math.min(16, rpb * UBO_BINDINGS);
  if (rpb < 1 || rm < 4 || M < rm) return 0;
  if ((rpb * K * 4) % align !== 0 || aOffsets.some((s) => (s * 4) % align !== 0)) return 0;
  return rm * N * K >= 1 << 20 ? rm : 0;
}

/**
 * C (M x N at float offset cOff) = A (M x K rows at aOff) @ B, where B is packed in panels
 * [ceil(N / PANEL), K, PANEL] at pOff. One dispatch per `rows` rows of C.
 */
export function uboGemm(
  rt: Runtime,
  rows: number,
  c: GpuBuffer,
  cOff: number,
  a: GpuBuffer,
  aOff: number,
  packed: GpuBuffer,
  pOff: number,
  M: number,
  N: number,
  K: number,
): void {
  const rpb = Math.min(rows, rowsPerBinding(rt, K));
  const pipe = (rm: number) => {
    const nb = Math.ceil(rm / rpb);
    const kinds: ("rw" | "read" | "uniform")[] = ["rw", "read"];
    for (let j = 0; j < nb; j++) kinds.push("uniform");
    return rt.pipeline(`matmul_ubo:RM${rm}:K${K}:B${rpb}`, kinds, 5, () => {
      const decls = Array.from({ length: nb }, (_, j) => {
        const n = Math.min(rpb, rm - j * rpb);
        return `@group(0) @binding(${3 + j}) var<uniform> aw${j}: array<vec4<f32>, ${
          (n * K) / 4
        }>;`;
      });
      const cases = Array.from(
        { length: nb },
        (_, j) =>
          `  if (r < ${(j + 1) * rpb}u) { return aw${j}[(r - ${j * rpb}u) * KQ + kq][kr]; }`,
      );
      const header = `${consts({ WG: UBO_WG, RM: rm, KQ: K / 4 })}
${decls.join("\n")}
fn a_at(r: u32, kq: u32, kr: u32) -> f32 {
${cases.join("\n")}
  return 0.0;
}`;
      return assemble(header, "matmul_ubo");
    });
  };
  const panels = Math.ceil(N / PANEL);
  for (let r0 = 0; r0 < M; r0 += rows) {
    const rm = Math.min(rows, M - r0);
    const wins = [];
    for (let j = 0; j * rpb < rm; j++) {
      const n = Math.min(rpb, rm - j * rpb);
      wins.push({ buf: a, offset: (aOff + (r0 + j * rpb) * K) * 4, size: n * K * 4 });
    }
    rt.dispatch(pipe(rm), [c, packed, ...wins], [N, K, pOff, cOff, r0], [panels]);
  }
}

function uboMatmul(
  rt: Runtime,
  rows: number,
  c: GpuBuffer,
  a: GpuBuffer,
  b: GpuBuffer,
  bShape: readonly number[],
  M: number,
  N: number,
  K: number,
  batch: number[],
  aStrides: number[],
  bStrides: number[],
): void {
  // pack B [.., K, N] into panels [.., P, K, PANEL] with a strided copy; the last panel's
  // columns past N read neighbouring values (or the robust-access zero at the end of the
  // buffer) that only feed output columns that are never stored
  const panels = Math.ceil(N / PANEL);
  const bBatches = product(bShape.slice(0, -2));
  const packedLen = bBatches * panels * K * PANEL;
  const packed = rt.allocBuffer(packedLen * 4);
  rt.dispatch(
    stridedPipe(rt, false, 4),
    [packed, b],
    new Params().u(packedLen).i(0).u(bBatches, panels, K, PANEL).i(K * N, PANEL, N, 1),
    grid(Math.ceil(packedLen / 1024)), // 256 threads x 4 words per workgroup (strided.wgsl)
  );
  const batches = product(batch);
  for (let z = 0; z < batches; z++) {
    let rem = z;
    let ao = 0;
    let bo = 0;
    for (let d = batch.length - 1; d >= 0; d--) {
      const i = rem % batch[d];
      rem = Math.floor(rem / batch[d]);
      ao += i * aStrides[d];
      bo += i * bStrides[d];
    }
    const pOff = (bo / (K * N)) * panels * K * PANEL;
    uboGemm(rt, rows, c, z * M * N, a, ao, packed, pOff, M, N, K);
  }
  rt.freeBuffer(packed);
}
