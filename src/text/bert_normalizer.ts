import { isCjkIdeograph, isControl, isNonspacingMark, isWhitespace } from "./bert_chars.ts";

/** Options of HF's BertNormalizer (bert-base-uncased: all on; stripAccents follows lowercase). */
export interface BertNormalizerOptions {
  cleanText: boolean;
  handleChineseChars: boolean;
  stripAccents: boolean;
  lowercase: boolean;
}

export const UNCASED_NORMALIZER: BertNormalizerOptions = {
  cleanText: true,
  handleChineseChars: true,
  stripAccents: true,
  lowercase: true,
};

/** One code point of the normalised text and the UTF-16 range of the input it came from. */
export interface AlignedChar {
  ch: string;
  start: number;
  end: number;
}

/**
 * Normalises like HF's BertNormalizer (clean text, isolate CJK ideographs, NFD + drop Mn marks,
 * per-character lower-casing), keeping for every output code point its source range so that
 * token offsets can point back into the raw input.
 */
export function normalizeBert(text: string, opts: BertNormalizerOptions): AlignedChar[] {
  const out: AlignedChar[] = [];
  let start = 0;
  for (const raw of text) {
    const end = start + raw.length;
    for (const ch of normalizeChar(raw, opts)) out.push({ ch, start, end });
    start = end;
  }
  return out;
}

function normalizeChar(raw: string, opts: BertNormalizerOptions): string[] {
  let ch = raw;
  if (opts.cleanText) {
    if (ch === "\0" || ch === "\ufffd" || isControl(ch)) return [];
    if (isWhitespace(ch)) ch = " ";
  }
  let pieces = [ch];
  if (opts.stripAccents) {
    pieces = [...ch.normalize("NFD")].filter((c) => !isNonspacingMark(c));
  }
  if (opts.lowercase) pieces = pieces.flatMap((c) => [...c.toLowerCase()]);
  // Spaces around ideographs are added before NFD (which rewrites compatibility ideographs).
  if (opts.handleChineseChars && isCjkIdeograph(ch)) return [" ", ...pieces, " "];
  return pieces;
}
