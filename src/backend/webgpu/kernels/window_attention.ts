/** window_attention forward and backward (wgsl/window_attention_*.wgsl). */
import type { Attrs, Kernel, KernelInput } from "../../backend.ts";
import {
  type WindowAttentionGeometry,
  windowAttentionGeometry,
} from "../../window_attention_geometry.ts";
import { type BindingKind, grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, requireF32 } from "./common.ts";
import { fillWord } from "./creation.ts";
import { sumRows } from "./reduce.ts";

/** At most this many window groups in the backward pass (bias-gradient partials). */
const MAX_GROUPS = 256;

/**
 * Shader constants: HD (the channel loops unroll over private arrays of HD floats per
 * thread) and the array sizes; the (window, head) operands go to workgroup memory when two of
 * them (and, backward, N more floats) fit the device's limit (see Runtime.options).
 */
function header(rt: Runtime, g: WindowAttentionGeometry, mask: boolean, extra: number) {
  const limit = rt.limits.maxComputeWorkgroupStorageSize ?? 16384;
  const mode = rt.options.windowAttention;
  const fits = (2 * g.n * g.headDim + extra) * 4 <= limit && g.headDim > 0;
  const shared = fits && (mode === "shared" || (mode === "auto" && !rt.preferThreads));
  const wg = g.n <= 32 ? 32 : 64;
  const maskDecl = mask
    ? [
      `@group(0) @binding(${extra ? 8 : 5}) var<storage, read> mask_: array<f32>;`,
      "fn mask_at(w: u32, i: u32, j: u32) -> f32 { return mask_[(w * nr() + i) * nr() + j]; }",
    ]
    : ["fn mask_at(w: u32, i: u32, j: u32) -> f32 { return 0.0; }"];
  const c = consts({
    WG: wg,
    HD: g.headDim,
    NMAX: Math.max(g.n, 1),
    HDA: Math.max(g.headDim, 1),
    SH: shared ? g.n * g.headDim : 1,
    SHARED: shared,
  });
  return {
    key: `${g.n}:${g.headDim}:${shared}:${mask}:${wg}`,
    code: `${c}\n${maskDecl.join("\n")}`,
  };
}

function params(g: WindowAttentionGeometry, attrs: Attrs): Params {
  return new Params().u(g.windows, g.c, g.heads, g.nW).f(attrs.scale).u(g.n);
}

function geometry(qkv: KernelInput, mask: KernelInput | undefined, attrs: Attrs) {
  return windowAttentionGeometry(qkv.shape, attrs, mask?.shape ?? null);
}

export function windowAttentionKernels(rt: Runtime): Record<string, Kernel> {
  return {
    window_attention: (ins, [out, lse], attrs) => {
      requireF32("window_attention", ...ins);
      const [qkv, , mask] = ins;
      const g = geometry(qkv, mask, attrs);
      if (g.windows * g.heads * g.n === 0) return;
      const h = header(rt, g, !!mask, 0);
      const kinds: BindingKind[] = ["rw", "rw", ...ins.map(() => "read" as const)];
      const pipe = rt.pipeline(
        `window_attention:${h.key}`,
        kinds,
        6,
        () => assemble(h.code, "window_attention_common", "window_attention_forward"),
      );
      const bufs = [gbuf(out), gbuf(lse), ...ins.map(gbuf)];
      rt.dispatch(pipe, bufs, params(g, attrs), grid(g.windows * g.heads));
    },

    window_attention_backward: (ins, [dqkv, dbias], attrs) => {
      requireF32("window_attention_backward", ...ins);
      const [gout, qkv, bias, out, lse, mask] = ins;
      const g = geometry(qkv, mask, attrs);
      if (g.heads * g.n === 0) return;
      if (g.windows === 0) {
        fillWord(rt, dbias, 0);
        return;
      }
      const per = Math.ceil(g.windows / MAX_GROUPS);
      const groups = Math.ceil(g.windows / per);
      const h = header(rt, g, !!mask, g.n);
      const kinds: BindingKind[] = ["rw", "rw", ...ins.map(() => "read" as const)];
      const pipe = rt.pipeline(
        `window_attention_backward:${h.key}`,
        kinds,
        8,
        () => assemble(h.code, "window_attention_common", "window_attention_backward"),
      );
      const len = g.heads * g.n * g.n;
      const part = groups === 1 ? gbuf(dbias) : rt.allocBuffer(groups * len * 4);
      const bufs = [
        gbuf(dqkv),
        part,
        ...[gout, qkv, bias, out, lse, mask].flatMap((t) => t ? [gbuf(t)] : []),
      ];
      rt.dispatch(pipe, bufs, params(g, attrs).u(per, groups), grid(groups * g.heads));
      if (groups > 1) {
        sumRows(rt, part, gbuf(dbias), groups, len);
        rt.freeBuffer(part);
      }
    },
  };
}
