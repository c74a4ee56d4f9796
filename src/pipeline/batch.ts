/**
 * Turning data-side clips into model inputs: collation, tokenisation, noun chunks, positive
 * maps, criterion targets and subject labels (design doc §5, §8, §12, §14).
 */
import type { Backend } from "../backend/backend.ts";
import { tensor } from "../ops/creation.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { collateClips } from "../data/collate.ts";
import type { TransformedClip } from "../data/transforms.ts";
import type { SubjectLabel, SubjectSource } from "../data/subject_labels.ts";
import type { BertTokenizer } from "../text/bert_tokenizer.ts";
import { nounChunks } from "../text/noun_chunks.ts";
import { positiveMap, subjectLabels as spanLabels } from "../text/positive_map.ts";
import type { CaptionBatch, VideoBatch } from "../models/dmformer/model.ts";
import type { ClipTarget } from "../models/dmformer/criterion.ts";
import type { PositiveMap } from "../models/dmformer/subject.ts";

/** Everything one training or inference step needs. */
export interface PreparedBatch {
  video: VideoBatch;
  captions: CaptionBatch;
  /** Unpadded [h, w] per clip (model input sizes). */
  sizes: [number, number][];
  targets: ClipTarget[];
  /** Per clip: 0/1 subject labels over the caption's tokens, or null (no subject loss). */
  subjectLabels: (Int32Array | null)[];
  /** Where each clip's subject label came from. */
  subjectSources: (SubjectSource | "none")[];
  /** The cleaned captions. */
  texts: string[];
}

export interface TokenizedCaption {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  length: number;
  wordIds: (number | null)[];
  offsets: [number, number][];
  positiveMap: PositiveMap;
  /** Noun chunks found (0: the positive map is the reference's whole-sentence fallback). */
  chunks: number;
}

/**
 * Tokenises one caption (no padding) and builds its noun-chunk positive map. A caption
 * without any noun chunk gets the reference's fallback map {1: [0, n - 1]} (the whole
 * sentence including [CLS]/[SEP] is the subject candidate).
 */
export async function tokenizeCaption(
  tokenizer: BertTokenizer,
  caption: string,
  maxLength: number,
): Promise<TokenizedCaption> {
  if (caption.trim() === "") throw new Error("the sentence is empty");
  const enc = tokenizer.encode(caption, { maxLength, padToMax: false });
  const chunks = await nounChunks(caption);
  return {
    inputIds: enc.inputIds,
    attentionMask: enc.attentionMask,
    length: enc.length,
    wordIds: enc.wordIds,
    offsets: enc.offsets,
    positiveMap: positiveMap(chunks, enc.wordIds, enc.length),
    chunks: chunks.length,
  };
}

/** Pads tokenised captions to the longest one. */
export function padCaptions(items: TokenizedCaption[]): CaptionBatch {
  const pad = Math.max(...items.map((c) => c.length));
  const inputIds = new Int32Array(items.length * pad);
  const attentionMask = new Int32Array(items.length * pad);
  items.forEach((c, i) => {
    inputIds.set(c.inputIds.subarray(0, c.length), i * pad);
    attentionMask.set(c.attentionMask.subarray(0, c.length), i * pad);
  });
  return { inputIds, attentionMask, padLength: pad, positiveMaps: items.map((c) => c.positiveMap) };
}

/**
 * Token-level subject labels from a dataset's subject label: a word span of the caption split
 * on spaces marks every token whose characters fall inside it; a chunk index marks that noun
 * chunk's positive-map span (the first chunk when that one could not be located).
 */
export function subjectTokenLabels(
  label: SubjectLabel,
  caption: string,
  tok: TokenizedCaption,
): Int32Array {
  const n = tok.length;
  if (label.tokenSpan) {
    const [a, e] = label.tokenSpan;
    let pos = 0, start = -1, end = -1;
    caption.split(" ").forEach((w, i) => {
      if (i === a) start = pos;
      if (i === e - 1) end = pos + w.length;
      pos += w.length + 1;
    });
    const out = new Int32Array(n);
    if (start < 0 || end < 0) return out;
    for (let k = 0; k < n; k++) {
      if (tok.wordIds[k] === null) continue;
      const [s, f] = tok.offsets[k];
      if (s >= start && f <= end) out[k] = 1;
    }
    return out;
  }
  const key = (label.chunkIndex ?? 0) + 1;
  const map = tok.positiveMap;
  return spanLabels(map, map.has(key) ? key : map.keys().next().value!, n);
}

export interface PrepareOptions {
  /** Caption length cap including [CLS]/[SEP]. */
  maxLength: number;
  /** Pad frame sizes to a multiple of this (32 in training, 1 at inference). */
  sizeDivisibility?: number;
  /** Called once per clip with the subject label's source (for logs). */
  onSubjectSource?: (source: SubjectSource | "none", clip: TransformedClip) => void;
}

/** Collates clips and builds model inputs, criterion targets and subject labels. */
export async function prepareBatch(
  clips: TransformedClip[],
  tokenizer: BertTokenizer,
  backend: Backend,
  options: PrepareOptions,
): Promise<PreparedBatch> {
  const batch = collateClips(clips, { sizeDivisibility: options.sizeDivisibility ?? 32 });
  const { b, t, height: H, width: W } = batch;
  const frames: Tensor = tensor(batch.frames, [b, t, 3, H, W], { backend });
  const toks: TokenizedCaption[] = [];
  for (const caption of batch.captions) {
    toks.push(await tokenizeCaption(tokenizer, caption, options.maxLength));
  }
  const targets: ClipTarget[] = clips.map((c) => {
    const [h, w] = [c.height, c.width];
    const masks = new Uint8Array(c.t * h * w);
    c.targets.masks.forEach((m, f) => masks.set(m, f * h * w));
    return {
      boxes: c.targets.boxes,
      masks,
      size: [h, w],
      valid: c.targets.valid,
      labels: c.targets.labels,
    };
  });
  const subjectSources: (SubjectSource | "none")[] = [];
  const labels = clips.map((c, i) => {
    const source = c.subject?.source ?? "none";
    subjectSources.push(source);
    options.onSubjectSource?.(source, c);
    return c.subject ? subjectTokenLabels(c.subject, batch.captions[i], toks[i]) : null;
  });
  return {
    video: { frames, mask: batch.padMask },
    captions: padCaptions(toks),
    sizes: batch.sizes,
    targets,
    subjectLabels: labels,
    subjectSources,
    texts: batch.captions,
  };
}
