/** WordPiece settings as in HF's tokenizer.json "model" section. */
export interface WordPieceOptions {
  unkToken: string;
  continuingSubwordPrefix: string;
  maxInputCharsPerWord: number;
}

export const BERT_WORDPIECE: WordPieceOptions = {
  unkToken: "[UNK]",
  continuingSubwordPrefix: "##",
  maxInputCharsPerWord: 100,
};

/** A piece of a word: its token and the [from, to) code point range of the word it covers. */
export interface Piece {
  token: string;
  from: number;
  to: number;
}

/**
 * Greedy longest-match-first WordPiece over one word (given as code points). A word longer than
 * maxInputCharsPerWord, or one with any position no vocabulary piece matches, becomes one unk.
 */
export function wordPiece(
  chars: readonly string[],
  vocab: ReadonlyMap<string, number>,
  opts: WordPieceOptions,
): Piece[] {
  const n = chars.length;
  const unk = [{ token: opts.unkToken, from: 0, to: n }];
  if (n > opts.maxInputCharsPerWord) return unk;
  const pieces: Piece[] = [];
  let start = 0;
  while (start < n) {
    let end = n;
    let found: string | undefined;
    while (start < end) {
      const sub = (start > 0 ? opts.continuingSubwordPrefix : "") +
        chars.slice(start, end).join("");
      if (vocab.has(sub)) {
        found = sub;
        break;
      }
      end--;
    }
    if (found === undefined) return unk;
    pieces.push({ token: found, from: start, to: end });
    start = end;
  }
  return pieces;
}
