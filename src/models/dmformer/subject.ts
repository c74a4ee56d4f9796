import type { Tensor } from "../../tensor/tensor.ts";
import { tensor } from "../../ops/creation.ts";
import { narrow, pad, reshape, stack } from "../../ops/shape_ops.ts";

/** Noun-chunk positive map of one caption: chunk key -> [first token, last token] (inclusive). */
export type PositiveMap = Map<number, [number, number]>;

export interface SubjectChoice {
  /** Chosen chunk key per caption. */
  keys: number[];
  /** Chosen [first, last] token span per caption. */
  spans: [number, number][];
  /** Batch-wide subject length S (design doc §8.2, gotcha 22). */
  maxSpan: number;
}

/**
 * The reference's subject choice (design doc §8.2): scan chunks in insertion order, keep a
 * running best by max token probability with strict '>', starting from key 1 / prob 0;
 * S grows only when a chunk becomes the running best.
 * `prob` is P(subject) per token, [b, L] row-major.
 */
export function chooseSubjects(
  prob: ArrayLike<number>,
  L: number,
  maps: PositiveMap[],
): SubjectChoice {
  let maxSpan = 0;
  const keys: number[] = [];
  const spans: [number, number][] = [];
  maps.forEach((map, i) => {
    let bestKey = 1;
    let bestProb = 0;
    for (const [key, [a, e]] of map) {
      let p = -Infinity;
      for (let j = a; j <= e; j++) p = Math.max(p, prob[i * L + j]);
      if (p > bestProb) {
        bestKey = key;
        bestProb = p;
        maxSpan = Math.max(maxSpan, e - a + 1);
      }
    }
    const span = map.get(bestKey);
    if (!span) throw new Error(`subject choice: caption ${i} has no chunk with key ${bestKey}`);
    keys.push(bestKey);
    spans.push(span);
  });
  return { keys, spans, maxSpan: Math.max(maxSpan, 1) };
}

/**
 * Subject words U [b, S, d]: the chosen span's word features copied into the first rows,
 * zeros after; and the integer mask [b, S] (1 on copied rows). Gradients flow into `words`.
 */
export function gatherSubjectWords(
  words: Tensor,
  choice: SubjectChoice,
): { words: Tensor; mask: Tensor; maskHost: Int32Array } {
  const [b, , d] = words.shape;
  const S = choice.maxSpan;
  const rows = choice.spans.map(([a, e], i) => {
    const len = Math.min(e - a + 1, S);
    const span = narrow(reshape(narrow(words, 0, i, 1), words.shape.slice(1)), 0, a, len);
    return pad(span, [0, 0, 0, S - len]);
  });
  const mask = new Int32Array(b * S);
  choice.spans.forEach(([a, e], i) => mask.fill(1, i * S, i * S + Math.min(e - a + 1, S)));
  return {
    words: reshape(stack(rows, 0), [b, S, d]),
    mask: tensor(mask, [b, S], { dtype: "i32", backend: words.backend }),
    maskHost: mask,
  };
}
