import type { Tensor } from "../tensor/tensor.ts";
import { add, gelu, relu } from "../ops/elementwise.ts";
import { matmul } from "../ops/matmul.ts";
import { conv2d, type Conv2dOptions } from "../ops/conv.ts";
import { groupNorm, layerNorm } from "../ops/norm.ts";
import { indexSelect } from "../ops/indexing.ts";
import { reshape } from "../ops/shape_ops.ts";
import { dropout } from "../ops/random.ts";
import { full } from "../ops/creation.ts";
import { Module, param } from "./module.ts";
import { freeInput } from "../tensor/memory.ts";
import { defaultBias, defaultWeight, normal } from "./init.ts";

/** y = x W^T + b, weight [out, in] (PyTorch layout). */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor | null): Tensor {
  const y = matmul(x, weight, { transB: true });
  return bias ? freeInput(y, add(y, bias)) : y;
}

export class Linear extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = param(defaultWeight([outFeatures, inFeatures]));
    this.bias = bias ? param(defaultBias(outFeatures, inFeatures)) : null;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }
}

export class Conv2d extends Module {
  weight: Tensor;
  bias: Tensor | null;

  constructor(
    inChannels: number,
    outChannels: number,
    kernel: number | [number, number],
    readonly opts: Conv2dOptions & { bias?: boolean } = {},
  ) {
    super();
    const [kh, kw] = typeof kernel === "number" ? [kernel, kernel] : kernel;
    const groups = opts.groups ?? 1;
    const shape = [outChannels, inChannels / groups, kh, kw];
    this.weight = param(defaultWeight(shape));
    this.bias = opts.bias ?? true ? param(defaultBias(outChannels, shape[1] * kh * kw)) : null;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.opts);
  }
}

export class LayerNorm extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(readonly normalizedShape: number | number[], readonly eps = 1e-5) {
    super();
    const shape = typeof normalizedShape === "number" ? [normalizedShape] : normalizedShape;
    this.normalizedShape = shape;
    this.weight = param(full(shape, 1));
    this.bias = param(full(shape, 0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.normalizedShape as number[], this.weight, this.bias, this.eps);
  }
}

export class GroupNorm extends Module {
  weight: Tensor;
  bias: Tensor;

  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5) {
    super();
    this.weight = param(full([numChannels], 1));
    this.bias = param(full([numChannels], 0));
  }

  forward(x: Tensor): Tensor {
    return groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

export class Embedding extends Module {
  weight: Tensor;

  constructor(readonly numEmbeddings: number, readonly dim: number) {
    super();
    this.weight = param(normal([numEmbeddings, dim]));
  }

  forward(ids: Tensor): Tensor {
    const flat = indexSelect(this.weight, 0, reshape(ids, [-1]));
    return reshape(flat, [...ids.shape, this.dim]);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, this.training);
  }
}

export type Activation = "relu" | "gelu";

export function activation(name: Activation, x: Tensor): Tensor {
  return name === "relu" ? relu(x) : gelu(x);
}
