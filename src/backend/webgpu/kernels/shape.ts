/** View copies (strided_copy / strided_scatter), cat and pad on raw 32-bit words. */
import type { Kernel } from "../../backend.ts";
import { around, coalesce, contiguous, product } from "../layout.ts";
import { grid, Params, type Runtime } from "../runtime.ts";
import { assemble } from "../shaders.ts";
import { consts, gbuf, storageWord } from "./common.ts";
import { fillWord } from "./creation.ts";

const WG = 256;

/** The strided copy (scatter = false) or strided scatter pipeline over a coalesced rank. */
export function stridedPipe(rt: Runtime, scatter: boolean, rank: number) {
  return rt.pipeline(
    `strided:${scatter}:R${rank}`,
    ["rw", "read"],
    2 + 2 * rank,
    () => assemble(consts({ WG, RANK: rank, SCATTER: scatter }), "strided"),
  );
}

export function shapeKernels(rt: Runtime): Record<string, Kernel> {
  const strided = (scatter: boolean): Kernel => ([x], [out], attrs) => {
    const view = scatter ? x.shape : out.shape;
    const n = product(view);
    if (scatter) fillWord(rt, out, 0);
    if (n === 0) return;
    const { shape, strides } = coalesce(view, [contiguous(view), attrs.strides]);
    const rank = shape.length;
    const pipe = stridedPipe(rt, scatter, rank);
    const p = new Params().u(n).i(attrs.offset).u(...shape).i(...strides[1]);
    rt.dispatch(pipe, [gbuf(out), gbuf(x)], p, grid(Math.ceil(n / (WG * 4))));
  };

  const catPipe = (pad: boolean, rank: number) =>
    rt.pipeline(
      `cat_pad:${pad}:R${rank}`,
      ["rw", "read"],
      3 + 4 * rank,
      () => assemble(consts({ WG, RANK: rank, PAD: pad }), "cat_pad"),
    );

  return {
    strided_copy: strided(false),
    strided_scatter: strided(true),
    cat: (ins, [out], { axis }) => {
      const [, total, inner] = around(out.shape, axis);
      let start = 0;
      for (const x of ins) {
        const n = product(x.shape);
        const len = x.shape[axis];
        if (n > 0) {
          const p = new Params().u(n, len * inner, total * inner, start * inner);
          rt.dispatch(catPipe(false, 0), [gbuf(out), gbuf(x)], p, grid(Math.ceil(n / (WG * 4))));
        }
        start += len;
      }
    },
    pad: ([x], [out], { pads, mode, value }) => {
      const n = product(out.shape);
      const rank = out.shape.length;
      const p = new Params()
        .u(n, storageWord(value, out.dtype), mode === "constant" ? 0 : 1)
        .u(...out.shape, ...x.shape, ...pads.map((q: number[]) => q[0]), ...contiguous(x.shape));
      // an empty input has no storage to read: bind the output twice
      const src = product(x.shape) > 0 ? gbuf(x) : gbuf(out);
      if (src === gbuf(out)) {
        fillWord(rt, out, storageWord(value, out.dtype));
        return;
      }
      rt.dispatch(catPipe(true, rank), [gbuf(out), src], p, grid(Math.ceil(n / (WG * 4))));
    },
  };
}
