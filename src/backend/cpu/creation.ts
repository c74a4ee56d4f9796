import type { Kernel } from "../backend.ts";
import type { TypedArray } from "../../tensor/dtype.ts";
import { uniformAt } from "../../tensor/random.ts";

const fill: Kernel = (_ins, [out], { value }) => {
  (out.buf as TypedArray).fill(value);
};

const arange: Kernel = (_ins, [out], { start, step }) => {
  const o = out.buf as TypedArray;
  for (let i = 0; i < o.length; i++) o[i] = start + i * step;
};

const randUniform: Kernel = (_ins, [out], { seed, offset }) => {
  const o = out.buf as TypedArray;
  for (let i = 0; i < o.length; i++) o[i] = uniformAt(seed, offset + i);
};

export const creationKernels: Record<string, Kernel> = {
  fill,
  arange,
  rand_uniform: randUniform,
};
