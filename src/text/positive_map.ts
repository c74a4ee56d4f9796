import type { NounChunk } from "./noun_chunks.ts";

/** Chunk key (chunk index + 1) -> inclusive [first, last] token positions, in chunk order. */
export type PositiveMap = Map<number, [number, number]>;

/**
 * The reference's positive map (design §5.3). A chunk's first token is the first whose word id
 * equals the chunk's start word, its last token the last whose word id equals its end word - 1;
 * spaCy word indices and tokenizer word ids are compared directly, as the reference does. Chunks
 * whose search fails are skipped (keys keep gaps); with none left the map is {1: [0, n - 1]}.
 */
export function positiveMap(
  chunks: readonly Pick<NounChunk, "start" | "end">[],
  wordIds: readonly (number | null)[],
  validLength: number,
): PositiveMap {
  if (!Number.isInteger(validLength) || validLength < 1 || validLength > wordIds.length) {
    throw new Error(`validLength ${validLength} must be in 1..${wordIds.length}`);
  }
  const map: PositiveMap = new Map();
  chunks.forEach((chunk, c) => {
    if (!(chunk.end > chunk.start)) throw new Error(`chunk ${c} has an empty word range`);
    const first = wordIds.indexOf(chunk.start);
    const last = wordIds.lastIndexOf(chunk.end - 1);
    if (first >= 0 && last >= 0) map.set(c + 1, [first, last]);
  });
  if (map.size === 0) map.set(1, [0, validLength - 1]);
  return map;
}

/** Subject-loss labels: 1 on the token span of `key`, 0 elsewhere, length n. */
export function subjectLabels(map: PositiveMap, key: number, n: number): Int32Array {
  const span = map.get(key);
  if (!span) {
    throw new Error(`positive map has no key ${key} (keys: ${[...map.keys()].join(", ")})`);
  }
  const [first, last] = span;
  if (last >= n) throw new Error(`span [${first}, ${last}] does not fit in ${n} tokens`);
  return new Int32Array(n).fill(1, first, last + 1);
}
