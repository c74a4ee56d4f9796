// Character classes of BERT's BasicTokenizer / HF's BertNormalizer and BertPreTokenizer.

const OTHER = /^\p{C}$/u;
const WHITE_SPACE = /^\p{White_Space}$/u;
const UNICODE_PUNCTUATION = /^\p{P}$/u;
const NONSPACING_MARK = /^\p{Mn}$/u;

/** Cc/Cf/Cs/Co/Cn except tab, newline and carriage return (those count as whitespace). */
export function isControl(ch: string): boolean {
  if (ch === "\t" || ch === "\n" || ch === "\r") return false;
  return OTHER.test(ch);
}

export function isWhitespace(ch: string): boolean {
  return ch === "\t" || ch === "\n" || ch === "\r" || WHITE_SPACE.test(ch);
}

/** Unicode P* categories plus every non-alphanumeric printable ASCII symbol ("$", "+", "^", "`"...). */
export function isPunctuation(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  if (
    (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
    (cp >= 123 && cp <= 126)
  ) return true;
  return UNICODE_PUNCTUATION.test(ch);
}

/** The CJK Unified Ideograph blocks BERT isolates (not Hiragana, Katakana or Hangul). */
export function isCjkIdeograph(ch: string): boolean {
  const cp = ch.codePointAt(0)!;
  return (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0x3400 && cp <= 0x4dbf) ||
    (cp >= 0x20000 && cp <= 0x2a6df) || (cp >= 0x2a700 && cp <= 0x2b73f) ||
    (cp >= 0x2b740 && cp <= 0x2b81f) || (cp >= 0x2b820 && cp <= 0x2ceaf) ||
    (cp >= 0xf900 && cp <= 0xfaff) || (cp >= 0x2f800 && cp <= 0x2fa1f);
}

export function isNonspacingMark(ch: string): boolean {
  return NONSPACING_MARK.test(ch);
}
