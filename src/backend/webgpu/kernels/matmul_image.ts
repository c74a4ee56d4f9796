/**
 * Matmul for CPU (software) adapters through read-only storage textures.
 *
 * llvmpipe runs a workgroup as a loop over groups of 8 invocations, one SIMD lane each. A
 * load whose address is not a compile-time constant becomes a per-lane sequence there, and
 * those loads, not the multiply-adds, bound a matmul. Measured per group of 8 lanes inside
 * a loop (Mesa 22.3 llvmpipe on the 2-core test machine, ns):
 *   storage buffer   f32 8.3, vec4 23 (a loop over lanes with bounds checks)
 *   uniform buffer   f32 2.4, vec4 9.6 (gather); constant offsets 1-2 per f32 (a branch each)
 *   sampled texture  textureLoad r32float 23, rgba32float 26
 *   storage texture  textureLoad r32float 6, rgba32float 7 (1.75 per float: the cheapest)
 *   workgroup memory far slower (a barrier turns the shader into coroutines)
 *   vec4 multiply-add 4 x 0.4 (a mul and an add: llvmpipe lowers fma)
 * So both operands are copied (or packed by a small kernel) into rgba32float textures and
 * read with image loads: A as [rows][K/4] texels of 4 consecutive k, B as [4 ceil(K/4)][N/4]
 * texels of 4 consecutive columns, zero-padded along k. Each invocation owns RM rows x 4Q
 * columns: per 4 k, RM vec4 loads of A and 4Q of B feed 16 RM Q vec4 multiply-adds. Each
 * accumulator adds the sum of its 4 products once per 4 k (llvmpipe masks every write of a
 * loop-carried value, so 1 masked write instead of 4). Workgroups take row blocks fastest
 * (x), so the column panel of B a workgroup reads stays in cache across row blocks.
 *
 * Variants tried, GFLOP per CPU-second on 1024^3 (the shared machine's load moved wall-clock
 * figures 2x between runs; an idle 2-core machine gives up to twice these in wall-clock):
 *   matmul_ubo.wgsl (A uniform windows, B storage vec4, 16 x 4 per thread)            7.6-8
 *   A uniform at constant offsets, K chunk unrolled per dispatch, B storage / texture   5-9
 *   images, 4x4 .. 8x8 outputs per invocation, one accumulator write per multiply-add  15-23
 *   images, 8x8 (RM 8, Q 2), 4 products summed per write                              26-28
 *   images, 16x8 (RM 16, Q 2), 4 products summed per write (kept)                     29-32
 *   images, 12x8 / 24x8 / 32x8 / 16x16 / 8x32 / 32x4 (more spills)                    25-31
 *   images, 8 k per loop iteration, or tree-shaped sums                                21-27
 *   images, K fully unrolled per dispatch (no loop masks; code size)                   13-19
 *   2048^3: row blocks fastest 26.7, columns fastest 19.9 (RM 8)
 * End to end (copies included, wall-clock, the machine moderately loaded): 1024^3 25-29
 * GFLOP/s, 2048^3 24-28 (matmul_ubo.wgsl: 5-8 and 6).
 *
 * The operands' textures come from the runtime's texture pool and every pass (packing and
 * product) is recorded through Runtime.dispatch into the normal batch, so timestamp
 * profiling (Runtime.gpuTime) sees them; operands copied straight into their texture are
 * buffer-to-texture copies between passes, which timestamps do not cover. conv2d
 * (kernels/conv_image.ts) packs its column matrices with its own kernel and runs the same
 * product (packOperand / imageMultiply).
 */
import type { GpuBuffer, GpuTexture, Runtime, TextureSize } from "../runtime.ts";
import { consts } from "./common.ts";

/** Columns (vec4 texels) per invocation and invocations per workgroup. */
const Q = 2;
const WG = 8;
const PACK_WG = 64;
/** Batch axes the kernel indexes (coalesced); more fall back to the other kernels. */
const MAX_RB = 8;
/** Parameter words of the product (array<vec4<u32>, 9>). */
const MM_WORDS = 36;

function hasImageLoads(): boolean {
  const features = (navigator as { gpu?: { wgslLanguageFeatures?: ReadonlySet<string> } }).gpu
    ?.wgslLanguageFeatures;
  return features?.has("readonly_and_readwrite_storage_textures") ?? false;
}

/** Whether the adapter runs the image kernel: CPU adapters with read-only storage textures. */
export function imageKernelAvailable(rt: Runtime): boolean {
  return rt.preferThreads && hasImageLoads();
}

/** Output columns per workgroup (lanes run along columns). */
export const IMAGE_PANEL = 4 * Q * WG;

/** Rows per invocation for M rows (small M wastes fewer lanes with fewer rows). */
export function imageRows(m: number): number {
  return m >= 16 ? 16 : m >= 8 ? 8 : m >= 4 ? 4 : m >= 2 ? 2 : 1;
}

// Pack a strided matrix (rows x cols at `base + layer * matrix stride`) into rgba32float
// texels [height][ceil(cols / 4)] of one texture layer, zero outside the matrix. Layers
// hold `chunks` consecutive row chunks of `height` rows of each matrix. SPLIT: column j
// sits at (j / inner) * outer stride + (j % inner) * col stride.
// Params: [0] rows, [1] cols, [2] row stride, [3] col stride, [4] matrix stride,
//   [5] texture width, [6] height (rows per layer), [7] chunks per matrix, [8] inner,
//   [9] outer stride, [10] offset of matrix 0.
const packWgsl = (split: boolean) =>
  `${consts({ SPLIT: split })}
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;

@compute @workgroup_size(${PACK_WG})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let tx = gid.x;
  let ty = gid.y;
  let layer = gid.z;
  if (tx >= pu(5u)) { return; }
  let chunks = pu(7u);
  let row = (layer % chunks) * pu(6u) + ty;
  let cols = pu(1u);
  var v = vec4<f32>();
  if (row < pu(0u)) {
    let base = pu(10u) + (layer / chunks) * pu(4u) + row * pu(2u);
    let cs = pu(3u);
    for (var c = 0u; c < 4u; c++) {
      let col = tx * 4u + c;
      if (col < cols) {
        var off = col * cs;
        if (SPLIT) { off = (col / pu(8u)) * pu(9u) + (col % pu(8u)) * cs; }
        v[c] = src[base + off];
      }
    }
  }
  textureStore(dst, vec2<u32>(tx, ty), layer, v);
}
`;

/**
 * The register-blocked kernel for RM rows per invocation.
 * Params: [0] M, [1] N, [2] K / 4 (rounded up), [3] A rows per texture layer,
 *   [4] A layers per matrix, [5] first batch, [6] first row block, [7] batch rank RB,
 *   [8..16) batch shape, [16..24) A matrix strides, [24..32) B matrix strides (in matrices),
 *   [32] C batch stride, [33] C row stride, [34] C column stride, [35] C offset.
 */
function mmWgsl(rm: number): string {
  const rows = [...Array(rm).keys()];
  const qs = [...Array(Q).keys()];
  const lines: string[] = [];
  for (const r of rows) for (const q of qs) lines.push(`  var acc${r}_${q} = vec4<f32>();`);
  lines.push(`  for (var kq = 0u; kq < K4; kq++) {`, `    let k = kq * 4u;`);
  for (const r of rows) {
    lines.push(`    let a${r} = textureLoad(A, vec2<u32>(kq, y0 + ${r}u), la);`);
  }
  for (let j = 0; j < 4; j++) {
    for (const q of qs) {
      lines.push(`    let b${j}_${q} = textureLoad(B, vec2<u32>(c0 + ${q}u, k + ${j}u), lb);`);
    }
  }
  for (const r of rows) {
    for (const q of qs) {
      lines.push(
        `    acc${r}_${q} += a${r}.x * b0_${q} + a${r}.y * b1_${q} + a${r}.z * b2_${q} + a${r}.w * b3_${q};`,
      );
    }
  }
  lines.push(`  }`);
  for (const r of rows) {
    lines.push(`  if (row0 + ${r}u < M) {`, `    let o = cz + (row0 + ${r}u) * crs;`);
    for (const q of qs) lines.push(`    put(o, (c0 + ${q}u) * 4u, N, ccs, acc${r}_${q});`);
    lines.push(`  }`);
  }
  return `
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
@group(0) @binding(2) var A: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var B: texture_storage_2d_array<rgba32float, read>;

fn put(o: u32, col: u32, N: u32, cs: u32, v: vec4<f32>) {
  if (col < N) { C[o + col * cs] = v.x; }
  if (col + 1u < N) { C[o + (col + 1u) * cs] = v.y; }
  if (col + 2u < N) { C[o + (col + 2u) * cs] = v.z; }
  if (col + 3u < N) { C[o + (col + 3u) * cs] = v.w; }
}

@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let M = pu(0u);
  let N = pu(1u);
  let K4 = pu(2u);
  let H = pu(3u);
  let z = wid.z + pu(5u);
  let row0 = (wid.x + pu(6u)) * ${rm}u;
  let c0 = (wid.y * ${WG}u + lid) * ${Q}u;
  var rem = z;
  var ma = 0u;
  var mb = 0u;
  for (var d = i32(pu(7u)) - 1; d >= 0; d--) {
    let ud = u32(d);
    let dim = pu(8u + ud);
    let i = rem % dim;
    rem = rem / dim;
    ma += i * pu(16u + ud);
    mb += i * pu(24u + ud);
  }
  let la = ma * pu(4u) + row0 / H;
  let lb = mb;
  let y0 = row0 % H;
  let cz = pu(35u) + z * pu(32u);
  let crs = pu(33u);
  let ccs = pu(34u);
${lines.join("\n")}
}
`;
}

/**
 * One operand as the kernel reads it: a strided rows x cols matrix per batch entry, matrix
 * m at offset + m * matrixStride (in floats). With colInner, column j sits at
 * (j / colInner) * colOuterStride + (j % colInner) * colStride (two axes folded into k).
 */
export interface Operand {
  buf: GpuBuffer;
  rows: number;
  cols: number;
  rowStride: number;
  colStride: number;
  matrixStride: number;
  matrices: number;
  offset?: number;
  colInner?: number;
  colOuterStride?: number;
}

/** Texture shapes of one product C (M x N) = A (M x K) @ B (K x N). */
export interface ImagePlan {
  M: number;
  N: number;
  K: number;
  /** Rows per invocation. */
  rm: number;
  k4: number;
  n4: number;
  /** A rows per texture layer and A layers per matrix. */
  height: number;
  chunks: number;
  /** A: [k4, height, A matrices * chunks] texels of 4 k; B: [n4, 4 k4, B layers] of 4 columns. */
  aSize: TextureSize;
  bSize: TextureSize;
}

/**
 * Texture shapes for a product with `aMatrices` A matrices and `bLayers` B matrices, or null
 * when the kernel does not run it (adapter, texture and grid limits).
 */
export function planImage(
  rt: Runtime,
  M: number,
  N: number,
  K: number,
  aMatrices: number,
  bLayers: number,
): ImagePlan | null {
  if (!imageKernelAvailable(rt)) return null;
  const maxDim = rt.limits.maxTextureDimension2D ?? 8192;
  const maxLayers = rt.limits.maxTextureArrayLayers ?? 256;
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const rm = imageRows(M);
  const k4 = Math.ceil(K / 4);
  const n4 = Math.ceil(N / 4);
  const height = M <= maxDim ? M : Math.floor(maxDim / rm) * rm;
  const chunks = Math.ceil(M / height);
  const fits = 4 * k4 <= maxDim && n4 <= maxDim && aMatrices * chunks <= maxLayers &&
    bLayers <= maxLayers && Math.ceil(n4 / (Q * WG)) <= maxGroups;
  if (!fits) return null;
  return {
    M,
    N,
    K,
    rm,
    k4,
    n4,
    height,
    chunks,
    aSize: [k4, height, aMatrices * chunks],
    bSize: [n4, 4 * k4, bLayers],
  };
}

/**
 * Whether `o` lands in its texture (`height` rows per layer) by a plain copy: contiguous
 * rows of a multiple of 64 floats (copies need 256-byte rows), a 16-byte aligned start
 * and layers that tile the matrices exactly (no zero padding to write).
 */
function copies(o: Operand, height: number): boolean {
  return o.colStride === 1 && (o.colInner ?? o.cols) >= o.cols && o.rowStride === o.cols &&
    o.cols % 64 === 0 && o.rows % height === 0 && (o.offset ?? 0) % 4 === 0 &&
    (o.matrices === 1 || o.matrixStride === o.rows * o.cols);
}

/**
 * Writes `o` into `tex` as texels of 4 consecutive columns, `height` rows per layer and
 * `chunks` layers per matrix, zero past the matrix. Row-major matrices with 256-byte rows
 * and no padding are copied (a memcpy on llvmpipe, ~5x cheaper than the packing kernel).
 */
export function packOperand(
  rt: Runtime,
  o: Operand,
  tex: GpuTexture,
  height: number,
  chunks: number,
): void {
  const width = Math.ceil(o.cols / 4);
  const layers = o.matrices * chunks;
  if (copies(o, height)) {
    const layout = { offset: (o.offset ?? 0) * 4, bytesPerRow: o.cols * 4, rowsPerImage: height };
    rt.copyToTexture(o.buf, layout, tex, [width, height, layers]);
    return;
  }
  const split = (o.colInner ?? o.cols) < o.cols;
  const pipe = rt.pipeline(
    `matmul_image_pack:${split}`,
    ["read", "texture-write"],
    11,
    () => packWgsl(split),
  );
  const words = [o.rows, o.cols, o.rowStride, o.colStride, o.matrixStride, width, height, chunks];
  words.push(o.colInner ?? o.cols, o.colOuterStride ?? 0, o.offset ?? 0);
  rt.dispatch(pipe, [o.buf, tex], words, [Math.ceil(width / PACK_WG), height, layers]);
}

/** Where a product writes C and how its batch indexes the A and B matrices. */
export interface ImageOutput {
  c: GpuBuffer;
  /** C element (z, i, j) at cOffset + z * cBatch + i * cRow + j * cCol. */
  cOffset?: number;
  cBatch: number;
  cRow: number;
  cCol: number;
  /** Coalesced batch shape and the matrix index strides of A and B along it. */
  batch: number[];
  aStrides: number[];
  bStrides: number[];
}

/** C = A @ B from packed textures (see ImagePlan); batch rank at most MAX_RB. */
export function imageMultiply(
  rt: Runtime,
  plan: ImagePlan,
  texA: GpuTexture,
  texB: GpuTexture,
  out: ImageOutput,
): void {
  const { M, N, rm } = plan;
  const rb = out.batch.length;
  if (rb > MAX_RB) throw new Error(`webgpu: matmul_image: batch rank ${rb} > ${MAX_RB}`);
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const rowBlocks = Math.ceil(M / rm);
  const batches = out.batch.reduce((p, v) => p * v, 1);
  const colGroups = Math.ceil(plan.n4 / (Q * WG));
  const pipe = rt.pipeline(
    `matmul_image:RM${rm}`,
    ["rw", "texture-read", "texture-read"],
    MM_WORDS,
    () => mmWgsl(rm),
  );
  for (let z0 = 0; z0 < batches; z0 += maxGroups) {
    for (let b0 = 0; b0 < rowBlocks; b0 += maxGroups) {
      const w = new Array(MM_WORDS).fill(0);
      w.splice(0, 8, M, N, plan.k4, plan.height, plan.chunks, z0, b0, rb);
      out.batch.forEach((v, j) => {
        w[8 + j] = v;
        w[16 + j] = out.aStrides[j];
        w[24 + j] = out.bStrides[j];
      });
      w.splice(32, 4, out.cBatch, out.cRow, out.cCol, out.cOffset ?? 0);
      const groups = [
        Math.min(maxGroups, rowBlocks - b0),
        colGroups,
        Math.min(maxGroups, batches - z0),
      ];
      rt.dispatch(pipe, [out.c, texA, texB], w, groups);
    }
  }
}

export interface ImageGemm extends ImageOutput {
  M: number;
  N: number;
  K: number;
  /** A: M x K, B: K x N as strided views of their buffers. */
  a: Operand;
  b: Operand;
}

function planOf(rt: Runtime, g: ImageGemm): ImagePlan | null {
  if (g.batch.length > MAX_RB) return null;
  return planImage(rt, g.M, g.N, g.K, g.a.matrices, g.b.matrices);
}

/** Whether the image kernel can run this product (adapter, texture limits, batch rank). */
export function imageGemmFits(rt: Runtime, g: ImageGemm): boolean {
  return planOf(rt, g) !== null;
}

/** Runs C = A @ B (see ImageGemm) with the image kernel; check imageGemmFits first. */
export function imageGemm(rt: Runtime, g: ImageGemm): void {
  const plan = planOf(rt, g);
  if (!plan) throw new Error("webgpu: matmul_image: product does not fit the image kernel");
  const texA = rt.acquireTexture(plan.aSize);
  const texB = rt.acquireTexture(plan.bSize);
  packOperand(rt, g.a, texA, plan.height, plan.chunks);
  packOperand(rt, g.b, texB, plan.bSize[1], 1);
  imageMultiply(rt, plan, texA, texB, g);
  rt.releaseTexture(texA);
  rt.releaseTexture(texB);
}
