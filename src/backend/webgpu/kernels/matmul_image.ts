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
 * Textures cannot be bound through Runtime.dispatch (buffers only), so this path flushes
 * the runtime's batch and submits its own command buffer (queue order keeps it between the
 * work recorded before and after). Runtime.gpuTime does not see that pass: time it with a
 * wall clock.
 */
import type { GpuBuffer, Runtime } from "../runtime.ts";

/** Columns (vec4 texels) per invocation and invocations per workgroup. */
const Q = 2;
const WG = 8;
const PACK_WG = 64;
/** Batch axes the kernel indexes (coalesced); more fall back to the other kernels. */
const MAX_RB = 8;
/** Bytes of the kernel's parameter block (array<vec4<u32>, 9>). */
const PARAM_BYTES = 144;

interface State {
  pack: GPUComputePipeline;
  packLayout: GPUBindGroupLayout;
  mmLayout: GPUBindGroupLayout;
  mm: Map<number, GPUComputePipeline>;
  /** Parameter blocks of one call (rewritten by each call before its submit). */
  params: GPUBuffer | null;
  paramSlots: number;
}

const states = new WeakMap<Runtime, State | null>();

function hasImageLoads(): boolean {
  const features = (navigator as { gpu?: { wgslLanguageFeatures?: ReadonlySet<string> } }).gpu
    ?.wgslLanguageFeatures;
  return features?.has("readonly_and_readwrite_storage_textures") ?? false;
}

function stateOf(rt: Runtime): State | null {
  let s = states.get(rt);
  if (s !== undefined) return s;
  s = null;
  if (rt.preferThreads && hasImageLoads()) {
    const d = rt.device;
    const C = GPUShaderStage.COMPUTE;
    const packLayout = d.createBindGroupLayout({
      label: "matmul_image_pack",
      entries: [
        { binding: 0, visibility: C, buffer: { type: "uniform", hasDynamicOffset: true } },
        { binding: 1, visibility: C, buffer: { type: "read-only-storage" } },
        {
          binding: 2,
          visibility: C,
          storageTexture: {
            access: "write-only",
            format: "rgba32float",
            viewDimension: "2d-array",
          },
        },
      ],
    });
    const tex = (binding: number): GPUBindGroupLayoutEntry => ({
      binding,
      visibility: C,
      storageTexture: { access: "read-only", format: "rgba32float", viewDimension: "2d-array" },
    });
    const mmLayout = d.createBindGroupLayout({
      label: "matmul_image",
      entries: [
        { binding: 0, visibility: C, buffer: { type: "uniform", hasDynamicOffset: true } },
        { binding: 1, visibility: C, buffer: { type: "storage" } },
        tex(2),
        tex(3),
      ],
    });
    const pack = d.createComputePipeline({
      label: "matmul_image_pack",
      layout: d.createPipelineLayout({ bindGroupLayouts: [packLayout] }),
      compute: { module: d.createShaderModule({ code: PACK_WGSL }), entryPoint: "main" },
    });
    s = { pack, packLayout, mmLayout, mm: new Map(), params: null, paramSlots: 0 };
  }
  states.set(rt, s);
  return s;
}

/** Output columns per workgroup (lanes run along columns). */
export const IMAGE_PANEL = 4 * Q * WG;

/** Rows per invocation for M rows (small M wastes fewer lanes with fewer rows). */
export function imageRows(m: number): number {
  return m >= 16 ? 16 : m >= 8 ? 8 : m >= 4 ? 4 : m >= 2 ? 2 : 1;
}

// Pack a strided matrix (rows x cols at `base + layer * matrix stride`) into rgba32float
// texels [height][ceil(cols / 4)] of one texture layer, zero outside the matrix. Layers
// hold `chunks` consecutive row chunks of `height` rows of each matrix.
// Params: [0] rows, [1] cols, [2] row stride, [3] col stride, [4] matrix stride,
//   [5] texture width, [6] height (rows per layer), [7] chunks per matrix.
const PACK_WGSL = `
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 2>;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var dst: texture_storage_2d_array<rgba32float, write>;
fn pu(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }

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
    let base = (layer / chunks) * pu(4u) + row * pu(2u);
    let cs = pu(3u);
    for (var c = 0u; c < 4u; c++) {
      let col = tx * 4u + c;
      if (col < cols) { v[c] = src[base + col * cs]; }
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
 * then (second block) [32] C batch stride, [33] C row stride, [34] C column stride.
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
@group(0) @binding(0) var<uniform> P: array<vec4<u32>, 9>;
@group(0) @binding(1) var<storage, read_write> C: array<f32>;
@group(0) @binding(2) var A: texture_storage_2d_array<rgba32float, read>;
@group(0) @binding(3) var B: texture_storage_2d_array<rgba32float, read>;
fn pu(i: u32) -> u32 { return P[i >> 2u][i & 3u]; }

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
  let cz = z * pu(32u);
  let crs = pu(33u);
  let ccs = pu(34u);
${lines.join("\n")}
}
`;
}

/** One operand as the kernel reads it: a strided rows x cols matrix per batch entry. */
interface Operand {
  buf: GpuBuffer;
  rows: number;
  cols: number;
  rowStride: number;
  colStride: number;
  matrixStride: number;
  matrices: number;
}

export interface ImageGemm {
  M: number;
  N: number;
  K: number;
  /** A: M x K, B: K x N as strided views of their buffers. */
  a: Operand;
  b: Operand;
  c: GpuBuffer;
  /** C element (z, i, j) at z * cBatch + i * cRow + j * cCol. */
  cBatch: number;
  cRow: number;
  cCol: number;
  /** Coalesced batch shape and the matrix index strides of A and B along it. */
  batch: number[];
  aStrides: number[];
  bStrides: number[];
}

/**
 * Whether `o` lands in its texture (`height` rows per layer) by a plain copy: contiguous
 * rows of a multiple of 64 floats (copies need 256-byte rows) and layers that tile the
 * matrices exactly (no zero padding to write).
 */
function copies(o: Operand, height: number): boolean {
  return o.colStride === 1 && o.rowStride === o.cols && o.cols % 64 === 0 &&
    o.rows % height === 0 && (o.matrices === 1 || o.matrixStride === o.rows * o.cols);
}

function copySource(o: Operand, height: number): GPUTexelCopyBufferInfo {
  return { buffer: o.buf.buffer, bytesPerRow: o.cols * 4, rowsPerImage: height };
}

/** Whether the image kernel can run this product (adapter, texture limits, batch rank). */
export function imageGemmFits(rt: Runtime, g: ImageGemm): boolean {
  if (!stateOf(rt) || g.batch.length > MAX_RB) return false;
  const maxDim = rt.limits.maxTextureDimension2D ?? 8192;
  const maxLayers = rt.limits.maxTextureArrayLayers ?? 256;
  const k4 = Math.ceil(g.K / 4);
  const rm = imageRows(g.M);
  const h = g.M <= maxDim ? g.M : Math.floor(maxDim / rm) * rm;
  return k4 <= maxDim && 4 * k4 <= maxDim && Math.ceil(g.N / 4) <= maxDim &&
    g.a.matrices * Math.ceil(g.M / h) <= maxLayers && g.b.matrices <= maxLayers;
}

/** Runs C = A @ B (see ImageGemm) with the image kernel; check imageGemmFits first. */
export function imageGemm(rt: Runtime, g: ImageGemm): void {
  const s = stateOf(rt)!;
  const d = rt.device;
  const { M, N, K } = g;
  const rm = imageRows(M);
  const maxDim = rt.limits.maxTextureDimension2D ?? 8192;
  const k4 = Math.ceil(K / 4);
  const n4 = Math.ceil(N / 4);
  const h = M <= maxDim ? M : Math.floor(maxDim / rm) * rm;
  const chunks = Math.ceil(M / h);
  const maxGroups = rt.limits.maxComputeWorkgroupsPerDimension ?? 65535;
  const rowBlocks = Math.ceil(M / rm);
  const batches = g.batch.reduce((p, v) => p * v, 1);
  const colGroups = Math.ceil(n4 / (Q * WG));
  if (colGroups > maxGroups) throw new Error("webgpu: matmul_image: N too large");

  // parameter blocks: two packs, then one per dispatch of the product
  const dispatches: [number, number, number, number][] = []; // row block 0, z0, gx, gz
  for (let z0 = 0; z0 < batches; z0 += maxGroups) {
    for (let b0 = 0; b0 < rowBlocks; b0 += maxGroups) {
      dispatches.push([
        b0,
        z0,
        Math.min(maxGroups, rowBlocks - b0),
        Math.min(maxGroups, batches - z0),
      ]);
    }
  }
  const minAlign = rt.limits.minUniformBufferOffsetAlignment ?? 256;
  const align = Math.ceil(PARAM_BYTES / minAlign) * minAlign;
  const slots = 2 + dispatches.length;
  if (!s.params || s.paramSlots < slots) {
    s.params?.destroy();
    s.paramSlots = Math.max(slots, 16);
    s.params = d.createBuffer({
      label: "matmul_image params",
      size: s.paramSlots * align,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
  }
  const words = new Uint32Array((slots * align) / 4);
  const put = (slot: number, vals: number[]) => words.set(vals, (slot * align) / 4);
  const packWords = (o: Operand, height: number, layerChunks: number, width: number) => [
    o.rows,
    o.cols,
    o.rowStride,
    o.colStride,
    o.matrixStride,
    width,
    height,
    layerChunks,
  ];
  put(0, packWords(g.a, h, chunks, k4));
  put(1, packWords(g.b, 4 * k4, 1, n4));
  const rb = g.batch.length;
  dispatches.forEach(([b0, z0], i) => {
    const w = new Array(36).fill(0);
    w.splice(0, 8, M, N, k4, h, chunks, z0, b0, rb);
    g.batch.forEach((v, j) => {
      w[8 + j] = v;
      w[16 + j] = g.aStrides[j];
      w[24 + j] = g.bStrides[j];
    });
    w[32] = g.cBatch;
    w[33] = g.cRow;
    w[34] = g.cCol;
    put(2 + i, w);
  });

  const usage = GPUTextureUsage.STORAGE_BINDING | GPUTextureUsage.COPY_DST;
  const sizeA = [k4, h, g.a.matrices * chunks];
  const sizeB = [n4, 4 * k4, g.b.matrices];
  const texA = d.createTexture({
    label: "matmul_image A",
    size: sizeA,
    format: "rgba32float",
    usage,
  });
  const texB = d.createTexture({
    label: "matmul_image B",
    size: sizeB,
    format: "rgba32float",
    usage,
  });
  const viewA = texA.createView({ dimension: "2d-array" });
  const viewB = texB.createView({ dimension: "2d-array" });
  let mm = s.mm.get(rm);
  if (!mm) {
    mm = d.createComputePipeline({
      label: `matmul_image RM${rm}`,
      layout: d.createPipelineLayout({ bindGroupLayouts: [s.mmLayout] }),
      compute: { module: d.createShaderModule({ code: mmWgsl(rm) }), entryPoint: "main" },
    });
    s.mm.set(rm, mm);
  }
  const params = { buffer: s.params, size: PARAM_BYTES };
  const packGroup = (o: Operand, view: GPUTextureView) =>
    d.createBindGroup({
      layout: s.packLayout,
      entries: [
        { binding: 0, resource: params },
        { binding: 1, resource: { buffer: o.buf.buffer } },
        { binding: 2, resource: view },
      ],
    });
  const mmGroup = d.createBindGroup({
    layout: s.mmLayout,
    entries: [
      { binding: 0, resource: { buffer: s.params, size: PARAM_BYTES } },
      { binding: 1, resource: { buffer: g.c.buffer } },
      { binding: 2, resource: viewA },
      { binding: 3, resource: viewB },
    ],
  });

  rt.flush(); // earlier recorded work first
  d.queue.writeBuffer(s.params, 0, words);
  const enc = d.createCommandEncoder({ label: "matmul_image" });
  // row-major matrices with 256-byte rows and no padding copy straight into the texture
  // (a memcpy on llvmpipe, ~5x cheaper than the packing kernel)
  const copyA = copies(g.a, h);
  const copyB = copies(g.b, 4 * k4);
  if (copyA) enc.copyBufferToTexture(copySource(g.a, h), { texture: texA }, sizeA);
  if (copyB) enc.copyBufferToTexture(copySource(g.b, 4 * k4), { texture: texB }, sizeB);
  const pass = enc.beginComputePass();
  pass.setPipeline(s.pack);
  if (!copyA) {
    pass.setBindGroup(0, packGroup(g.a, viewA), [0]);
    pass.dispatchWorkgroups(Math.ceil(k4 / PACK_WG), h, g.a.matrices * chunks);
  }
  if (!copyB) {
    pass.setBindGroup(0, packGroup(g.b, viewB), [align]);
    pass.dispatchWorkgroups(Math.ceil(n4 / PACK_WG), 4 * k4, g.b.matrices);
  }
  pass.setPipeline(mm);
  dispatches.forEach(([, , gx, gz], i) => {
    pass.setBindGroup(0, mmGroup, [(2 + i) * align]);
    pass.dispatchWorkgroups(gx, colGroups, gz);
  });
  pass.end();
  d.queue.submit([enc.finish()]);
  // freed once the submitted work is done
  texA.destroy();
  texB.destroy();
}
