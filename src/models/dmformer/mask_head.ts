import type { Tensor } from "../../tensor/tensor.ts";
import type { Backend } from "../../backend/backend.ts";
import { add, mul, relu, sub } from "../../ops/elementwise.ts";
import { tensor } from "../../ops/creation.ts";
import { matmul } from "../../ops/matmul.ts";
import { interpolate } from "../../ops/resample.ts";
import { narrow, pad, reshape, split, transpose } from "../../ops/shape_ops.ts";
import { Module, param } from "../../nn/module.ts";
import { Linear } from "../../nn/layers.ts";
import { constant, xavierUniform } from "../../nn/init.ts";

/** Deformable-DETR MLP: Linear layers with ReLU between (keys `layers.{i}.weight/bias`). */
export class MLP extends Module {
  layers: Linear[];

  constructor(inputDim: number, hiddenDim: number, outputDim: number, numLayers: number) {
    super();
    const dims = [inputDim, ...Array(numLayers - 1).fill(hiddenDim), outputDim];
    this.layers = Array.from({ length: numLayers }, (_, i) => new Linear(dims[i], dims[i + 1]));
  }

  forward(x: Tensor): Tensor {
    this.layers.forEach((layer, i) => {
      x = layer.forward(x);
      if (i < this.layers.length - 1) x = relu(x);
    });
    return x;
  }
}

export interface DynamicMaskOptions {
  /** Channels of the FPN mask features (256 in the reference). */
  maskDim: number;
  /** Width of the dynamic conv layers (8). */
  dynamicMaskChannels: number;
  /** Number of dynamic 1x1 convs (3). */
  controllerLayers: number;
  /** Append relative coordinates (x, y) to the mask features (on). */
  relCoord: boolean;
  maskFeatStride: number;
  maskOutStride: number;
}

export const DYNAMIC_MASK_DEFAULTS: DynamicMaskOptions = {
  maskDim: 256,
  dynamicMaskChannels: 8,
  controllerLayers: 3,
  relCoord: true,
  maskFeatStride: 4,
  maskOutStride: 4,
};

/** Sizes of the dynamic conv weights and biases, in the order the controller emits them. */
export function dynamicParamLayout(o: DynamicMaskOptions): {
  weightNums: number[];
  biasNums: number[];
  total: number;
} {
  const L = o.controllerLayers;
  if (L < 2) throw new Error("dynamic mask head: controllerLayers must be at least 2");
  const D = o.dynamicMaskChannels;
  const inputs = o.maskDim + (o.relCoord ? 2 : 0);
  const weightNums = Array.from(
    { length: L },
    (_, l) => l === 0 ? inputs * D : l === L - 1 ? D : D * D,
  );
  const biasNums = Array.from({ length: L }, (_, l) => (l === L - 1 ? 1 : D));
  const total = [...weightNums, ...biasNums].reduce((a, b) => a + b, 0);
  return { weightNums, biasNums, total };
}

/** Centres of the stride-`stride` map cells in input pixels, [h*w, 2] (x, y), row-major. */
export function computeLocations(h: number, w: number, stride: number, backend?: Backend): Tensor {
  const data = new Float32Array(h * w * 2);
  const offset = Math.floor(stride / 2);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) {
      data[2 * (i * w + j)] = j * stride + offset;
      data[2 * (i * w + j) + 1] = i * stride + offset;
    }
  }
  return tensor(data, [h * w, 2], { backend });
}

/**
 * Splits controller outputs [n, P] into conv weights [n*out, in, 1, 1] and biases [n*out]:
 * ALL weights first, then all biases (gotcha 7); each weight row-major (out, in).
 */
export function parseDynamicParams(
  params: Tensor,
  channels: number,
  weightNums: number[],
  biasNums: number[],
): { weights: Tensor[]; biases: Tensor[] } {
  const n = params.shape[0];
  const L = weightNums.length;
  const pieces = split(params, [...weightNums, ...biasNums], 1);
  const outOf = (l: number) => (l < L - 1 ? channels : 1);
  const weights = pieces.slice(0, L).map((w, l) => reshape(w, [n * outOf(l), -1, 1, 1]));
  const biases = pieces.slice(L).map((b, l) => reshape(b, [n * outOf(l)]));
  return { weights, biases };
}

/**
 * AdelaiDet's aligned_bilinear on [N, C, h, w]: replicate-pad one row/column at the
 * bottom/right, bilinear resize (align_corners true) to (f h + 1, f w + 1), replicate-pad
 * f div 2 at the top/left, crop to (f h, f w). Identity for f = 1.
 */
export function alignedBilinear(x: Tensor, factor: number): Tensor {
  if (!Number.isInteger(factor) || factor < 1) {
    throw new Error(`alignedBilinear: factor ${factor} must be a positive integer`);
  }
  if (x.rank !== 4) throw new Error(`alignedBilinear: input must be [N, C, h, w]`);
  if (factor === 1) return x;
  const [h, w] = x.shape.slice(-2);
  const padded = pad(x, [0, 1, 0, 1], "replicate");
  const size: [number, number] = [factor * h + 1, factor * w + 1];
  const up = interpolate(padded, { size, mode: "bilinear", alignCorners: true });
  const half = Math.floor(factor / 2);
  const shifted = pad(up, [half, 0, half, 0], "replicate");
  return narrow(narrow(shifted, 2, 0, factor * h), 3, 0, factor * w);
}

/**
 * Dynamic mask convs with relative coordinates (design doc §11, DMMI.dynamic_mask_with_coords).
 * maskFeatures [b, t, C, h, w]; params [b, t*q, P] (controller output); centres [b, t*q, 2]
 * normalised (cx, cy); imageSizes[i] = (h_i, w_i), the unpadded input size of clip i.
 * Returns mask logits [b, t*q, h*f, w*f] with f = maskFeatStride / maskOutStride.
 *
 * The per-instance 1x1 convs run as batched matmuls; the first layer's mask-feature part
 * is shared by the q queries of a frame, so the features are never copied q times.
 */
export function dynamicMaskWithCoords(
  maskFeatures: Tensor,
  params: Tensor,
  centres: Tensor,
  imageSizes: readonly (readonly [number, number])[],
  o: DynamicMaskOptions,
): Tensor {
  const [b, t, C, h, w] = maskFeatures.shape;
  const q = params.shape[1] / t;
  const D = o.dynamicMaskChannels;
  const { weightNums, biasNums, total } = dynamicParamLayout({ ...o, maskDim: C });
  if (params.shape[2] !== total) {
    throw new Error(
      `dynamic mask head: ${params.shape[2]} parameters per query, expected ${total}`,
    );
  }
  const { weights, biases } = parseDynamicParams(
    reshape(params, [b * t * q, -1]),
    D,
    weightNums,
    biasNums,
  );
  const perInstance = (x: Tensor, out: number) => reshape(x, [b, t, q, out, x.shape[1]]);
  const bias = (x: Tensor, out: number) => reshape(x, [b, t, q, out, 1]);

  // Layer 0: [b, t, q, D, C(+2)] over [mask features ; rel_x ; rel_y].
  const w0 = perInstance(weights[0], D);
  const features = reshape(maskFeatures, [b, t, C, h * w]);
  const featW = reshape(o.relCoord ? narrow(w0, 4, 0, C) : w0, [b, t, q * D, C]);
  let x = reshape(matmul(featW, features), [b, t, q, D, h * w]);
  if (o.relCoord) {
    const rel = relativeCoords(centres, imageSizes, { b, t, q, h, w }, o.maskFeatStride);
    x = add(x, matmul(narrow(w0, 4, C, 2), rel));
  }
  x = add(x, bias(biases[0], D));
  const L = weights.length;
  for (let l = 1; l < L; l++) {
    const out = l < L - 1 ? D : 1;
    x = add(matmul(perInstance(weights[l], out), relu(x)), bias(biases[l], out));
  }
  const logits = alignedBilinear(
    reshape(x, [b * t * q, 1, h, w]),
    o.maskFeatStride / o.maskOutStride,
  );
  return reshape(logits, [b, t * q, ...logits.shape.slice(-2)]);
}

/**
 * Box centre minus cell location, in raw input pixels (gotcha 8): [b, t, q, 2 (x, y), h*w].
 */
function relativeCoords(
  centres: Tensor,
  imageSizes: readonly (readonly [number, number])[],
  { b, t, q, h, w }: { b: number; t: number; q: number; h: number; w: number },
  stride: number,
): Tensor {
  if (imageSizes.length !== b) {
    throw new Error(`dynamic mask head: ${imageSizes.length} image sizes for ${b} clips`);
  }
  const scale = tensor(
    Float32Array.from(imageSizes.flatMap(([ih, iw]) => [iw, ih])),
    [b, 1, 2],
    { backend: centres.backend, dtype: centres.dtype },
  );
  const pixels = reshape(mul(centres, scale), [b, t, q, 2, 1]);
  const locations = transpose(computeLocations(h, w, stride, centres.backend), 0, 1);
  return sub(pixels, locations);
}

/**
 * Runs the controller on decoder outputs hs [(b t), q, d] and the dynamic convs; centres
 * [(b t), q, 2] are the layer's box centres (the caller detaches them, gotcha 25).
 * Returns mask logits [b, t, q, H, W].
 */
export function predictMasks(
  controller: MLP,
  hs: Tensor,
  centres: Tensor,
  maskFeatures: Tensor,
  imageSizes: readonly (readonly [number, number])[],
  o: DynamicMaskOptions,
): Tensor {
  const [b, t] = maskFeatures.shape;
  const q = hs.shape[1];
  const params = reshape(controller.forward(hs), [b, t * q, -1]);
  const logits = dynamicMaskWithCoords(
    maskFeatures,
    params,
    reshape(centres, [b, t * q, 2]),
    imageSizes,
    o,
  );
  return reshape(logits, [b, t, q, ...logits.shape.slice(-2)]);
}

/**
 * The dynamic mask head as one module: `controller` = MLP(d, d, P, 3) with Xavier-uniform
 * weights and zero biases. (The full model keeps `controller` at its top level and calls
 * predictMasks, so checkpoint keys stay `controller.layers.*`.)
 */
export class DynamicMaskHead extends Module {
  controller: MLP;
  readonly options: DynamicMaskOptions;

  constructor(hiddenDim: number, options: Partial<DynamicMaskOptions> = {}) {
    super();
    this.options = { ...DYNAMIC_MASK_DEFAULTS, ...options };
    this.controller = makeController(hiddenDim, dynamicParamLayout(this.options).total);
  }

  forward(
    hs: Tensor,
    centres: Tensor,
    maskFeatures: Tensor,
    imageSizes: readonly (readonly [number, number])[],
  ): Tensor {
    return predictMasks(this.controller, hs, centres, maskFeatures, imageSizes, this.options);
  }
}

/** The controller MLP initialised like the reference (Xavier-uniform weights, zero biases). */
export function makeController(hiddenDim: number, numParams: number): MLP {
  const mlp = new MLP(hiddenDim, hiddenDim, numParams, 3);
  for (const layer of mlp.layers) {
    const [oldW, oldB] = [layer.weight, layer.bias!];
    layer.weight = param(xavierUniform(oldW.shape));
    layer.bias = param(constant(oldB.shape, 0));
    oldW.dispose();
    oldB.dispose();
  }
  return mlp;
}
