/**
 * Consistency of the CUDA backend's two sides, checked without a GPU or a compiler:
 * - the Deno.dlopen symbol table (src/backend/cuda/ffi.ts) matches every declaration of
 *   cuda/dmf_cuda.h (names, parameter count and types, result type);
 * - the kernel table covers every kernel the op catalog needs;
 * - every elementwise op has a C expression (src/backend/cuda/ops_table.ts);
 * - without the NVIDIA driver, initBackend("cuda") fails with a clear message and the cpu
 *   backend keeps working.
 */
import { describe, expect, test } from "vitest";
import * as T from "../mod.ts";
import "../src/backend/cuda/mod.ts";
import { type CudaLib, driverPresent, SYMBOLS } from "../src/backend/cuda/ffi.ts";
import { makeKernels } from "../src/backend/cuda/kernels.ts";
import { generateOpsHeader, missingCudaOps } from "../src/backend/cuda/ops_table.ts";
import { mergeAxes } from "../src/backend/cuda/layout.ts";

const C_TO_FFI: Record<string, string> = {
  int: "i32",
  int64_t: "i64",
  uint64_t: "u64",
  uint32_t: "u32",
  double: "f64",
  void: "void",
};

function ffiType(c: string): string {
  const t = c.replace(/\bconst\b/g, "").trim();
  if (t.includes("*")) return "buffer";
  const base = t.split(/\s+/)[0];
  const f = C_TO_FFI[base];
  if (!f) throw new Error(`unmapped C type "${c}"`);
  return f;
}

async function declarations(): Promise<Map<string, { params: string[]; result: string }>> {
  const h = await Deno.readTextFile(new URL("../cuda/dmf_cuda.h", import.meta.url));
  const text = h.replace(/\/\*[\s\S]*?\*\//g, "");
  const out = new Map<string, { params: string[]; result: string }>();
  const re = /DMFC_API\s+([\w\s*]+?)\s*(dmfc_\w+)\s*\(([^)]*)\)\s*;/g;
  for (const m of text.matchAll(re)) {
    const params = m[3].trim() === "void" ? [] : m[3].split(",").map((p) => {
      const decl = p.trim().replace(/\s+\w+$/, ""); // drop the parameter name
      return ffiType(decl.includes("*") ? decl : decl);
    });
    out.set(m[2], { params, result: ffiType(m[1]) });
  }
  return out;
}

describe("cuda ABI and tables", () => {
  test("ffi symbols match cuda/dmf_cuda.h", async () => {
    const decls = await declarations();
    expect(decls.size).toBeGreaterThan(40);
    const mismatches: string[] = [];
    for (const [name, d] of decls) {
      const s =
        (SYMBOLS as Record<string, { parameters: readonly string[]; result: string }>)[name];
      if (!s) {
        mismatches.push(`${name}: missing from SYMBOLS`);
        continue;
      }
      if (s.parameters.join() !== d.params.join()) {
        mismatches.push(`${name}: parameters [${s.parameters}] vs header [${d.params}]`);
      }
      if (s.result !== d.result) {
        mismatches.push(`${name}: result ${s.result} vs header ${d.result}`);
      }
    }
    for (const name of Object.keys(SYMBOLS)) {
      if (!decls.has(name)) mismatches.push(`${name}: not declared in dmf_cuda.h`);
    }
    expect(mismatches).toEqual([]);
  });

  test("the kernel table covers requiredKernels()", () => {
    const kernels = makeKernels({} as CudaLib);
    const missing = T.requiredKernels().filter((k) => !(k in kernels));
    expect(missing).toEqual([]);
  });

  test("every elementwise op has a CUDA expression", () => {
    expect(missingCudaOps()).toEqual([]);
    const h = generateOpsHeader();
    expect(h).toContain("DMF_UNARY_COUNT");
    expect(h).toContain("case 0: return -x;  // neg");
  });

  test("axis merging keeps the iteration order", () => {
    expect(mergeAxes([2, 3, 4], [[12, 4, 1]])).toEqual({ shape: [24], strides: [[1]] });
    expect(mergeAxes([2, 1, 3], [[3, 7, 1], [0, 0, 1]])).toEqual({
      shape: [2, 3],
      strides: [[3, 1], [0, 1]],
    });
    expect(mergeAxes([4, 5], [[1, 4]])).toEqual({ shape: [4, 5], strides: [[1, 4]] });
    expect(mergeAxes([1, 1], [[5, 9]])).toEqual({ shape: [], strides: [[]] });
  });

  test.skipIf(driverPresent())(
    "without a driver: a clear error, other backends still work",
    async () => {
      await expect(T.initBackend("cuda")).rejects.toThrow(
        "cuda: no driver (libcuda.so.1 not found)",
      );
      const x = T.tensor([1, 2, 3]);
      expect(Array.from(await T.mul(x, 2).data())).toEqual([2, 4, 6]);
    },
  );
});
