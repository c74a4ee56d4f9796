import type { Tensor } from "../../tensor/tensor.ts";
import { freeAfter } from "../../tensor/memory.ts";
import { add, mul } from "../../ops/elementwise.ts";
import { mean } from "../../ops/reduce.ts";
import { cat, flatten, narrow, permute, reshape, transpose } from "../../ops/shape_ops.ts";
import type { SpatialShapes } from "../../ops/deform_attn.ts";
import type { VisionLanguageFusionModule } from "./fusion.ts";
import type { DeformableTransformerEncoderLayer } from "./deformable.ts";
import type { BertEncoderLayer } from "./bert_layer.ts";
import type { FeatureResizer } from "./resizer.ts";

/** Everything a branch needs about the visual levels of a batch. */
export interface VisualLevels {
  /** Projected maps [(b t), d, h_l, w_l]. */
  srcs: Tensor[];
  /** 2-D position codes [(b t), d, h_l, w_l]. */
  poses: Tensor[];
  spatialShapes: SpatialShapes;
  /** Flattened bool padding mask [(b t), N_v]. */
  maskFlat: Tensor;
  /** Encoder reference points [(b t), N_v, L, 2]. */
  referencePoints: Tensor;
  b: number;
  t: number;
}

/** The words a branch interacts with: [b, len, d], the integer mask and the position code. */
export interface BranchWords {
  words: Tensor;
  mask: Tensor;
  /** [len, b, d] */
  pos: Tensor;
}

export interface BranchModules {
  vlfuse: VisionLanguageFusionModule[];
  vision: DeformableTransformerEncoderLayer[];
  bert: BertEncoderLayer[];
  resizerV: FeatureResizer;
  resizerL: FeatureResizer;
  levelEmbed: Tensor;
}

/** [(b t), d, h, w] -> one sequence per clip [t h w, b, d] (frame-major, gotcha 6). */
function toClipSequence(x: Tensor, b: number, t: number): Tensor {
  const [, d, h, w] = x.shape;
  return reshape(permute(reshape(x, [b, t, d, h, w]), [1, 3, 4, 0, 2]), [t * h * w, b, d]);
}

function fromClipSequence(x: Tensor, b: number, t: number, h: number, w: number): Tensor {
  const d = x.shape[2];
  return reshape(permute(reshape(x, [t, h, w, b, d]), [3, 0, 4, 1, 2]), [b * t, d, h, w]);
}

/** Flattens levels into [(b t), N_v, d] (levels concatenated, row-major inside a level). */
export function flattenMaps(maps: Tensor[]): Tensor {
  return cat(maps.map((m) => transpose(flatten(m, 2), 1, 2)), 1);
}

/**
 * One DMMI branch (design doc §8.3): num_interactions rounds of word gating per level,
 * a deformable encoder layer over all levels, and a BERT layer on the words. Returns the
 * resized visual tokens [(b t), N_v, d/2] and the text vector [b, d/2].
 */
export function runBranch(
  m: BranchModules,
  v: VisualLevels,
  words: BranchWords,
  sentence: Tensor,
): { visual: Tensor; text: Tensor; words: Tensor } {
  const { b, t, spatialShapes } = v;
  let maps = v.srcs;
  let flat: Tensor | null = null;
  let T = words.words;
  const pos = flattenMaps(
    v.poses.map((p, l) => add(p, reshape(narrow(m.levelEmbed, 0, l, 1), [1, -1, 1, 1]))),
  );
  const rounds = m.vision.length;
  for (let r = 0; r < rounds; r++) {
    const memory = transpose(T, 0, 1);
    maps = maps.map((x) =>
      freeAfter(() => {
        const [, , h, w] = x.shape;
        const gated = m.vlfuse[r].forward(toClipSequence(x, b, t), memory, {
          memoryKeyPaddingMask: words.mask,
          pos: words.pos,
        });
        return fromClipSequence(gated, b, t, h, w);
      })
    );
    flat = freeAfter(() =>
      m.vision[r].forward(
        flattenMaps(maps),
        pos,
        v.referencePoints,
        spatialShapes,
        v.maskFlat,
      )
    );
    if (r < rounds - 1) maps = splitLevels(flat, spatialShapes);
    T = freeAfter(() => m.bert[r].forward(T, words.mask));
  }
  const visual = m.resizerV.forward(flat!);
  // the mean includes padded positions (gotcha 16.1, item 4)
  const text = add(m.resizerL.forward(sentence), mul(mean(m.resizerL.forward(T), 1), 0.5));
  return { visual, text, words: T };
}

/** [(b t), N_v, d] -> per-level maps [(b t), d, h_l, w_l]. */
export function splitLevels(flat: Tensor, shapes: SpatialShapes): Tensor[] {
  const [n, , d] = flat.shape;
  let start = 0;
  return shapes.map(([h, w]) => {
    const part = narrow(flat, 1, start, h * w);
    start += h * w;
    return reshape(transpose(part, 1, 2), [n, d, h, w]);
  });
}
