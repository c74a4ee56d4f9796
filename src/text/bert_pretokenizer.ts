import { isPunctuation, isWhitespace } from "./bert_chars.ts";
import type { AlignedChar } from "./bert_normalizer.ts";

/** A pre-tokenised word: its normalised code points with their source ranges. */
export type Word = AlignedChar[];

/**
 * HF BertPreTokenizer: whitespace separates words and is dropped; every punctuation character is
 * a word of its own ("man's" -> "man", "'", "s").
 */
export function preTokenizeBert(chars: readonly AlignedChar[]): Word[] {
  const words: Word[] = [];
  let current: Word = [];
  const flush = () => {
    if (current.length > 0) words.push(current);
    current = [];
  };
  for (const c of chars) {
    if (isWhitespace(c.ch)) {
      flush();
    } else if (isPunctuation(c.ch)) {
      flush();
      words.push([c]);
    } else {
      current.push(c);
    }
  }
  flush();
  return words;
}
