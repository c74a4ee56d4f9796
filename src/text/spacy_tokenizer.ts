/** A word of the spaCy-style tokenisation; start/end are UTF-16 offsets into the text. */
export interface WordToken {
  text: string;
  start: number;
  end: number;
}

// Subsets of spaCy's English punctuation rules (lang/punctuation.py, lang/en/punctuation.py).
const QUOTES = `'"”“\`‘´’‚„»«「」『』（）〔〕【】《》〈〉⟦⟧`;
const PUNCT = `…,:;!?¿¡()[\\]{}<>_#*&。？！，、；：～·`;
const CURRENCY = "$£€¥฿₽₹₩";
const UNITS = "km|km²|km³|m|m²|m³|dm|cm|mm|µm|nm|yd|in|ft|kg|g|mg|µg|t|lb|oz|m/s|km/h|kmh|mph|" +
  "hPa|Pa|mbar|mb|MB|kb|KB|gb|GB|tb|TB|T|G|M|K|%|°C|°F|°K";
const ESC_QUOTES = escapeClass(QUOTES);
const ESC_PUNCT = escapeClass(PUNCT);
const PREFIX = new RegExp(
  `^(?:\\.\\.+|[§%=—–${ESC_PUNCT}${ESC_QUOTES}${escapeClass(CURRENCY)}]|\\+(?![0-9]))`,
  "u",
);
const SUFFIX = new RegExp(
  "(?:\\.\\.+|['’][sS]|[—–" + ESC_PUNCT + ESC_QUOTES + "]|(?<=[0-9])\\+|" +
    "(?<=[0-9])[" + escapeClass(CURRENCY) + "]|(?<=[0-9])(?:" + UNITS + ")|" +
    "(?<=[0-9\\p{Ll}" + ESC_PUNCT + ESC_QUOTES + "])\\.|(?<=\\p{Lu}\\p{Lu})\\.)$",
  "u",
);
const INFIX = new RegExp(
  "\\.\\.+|…|(?<=[0-9])[+\\-*^](?=[0-9-])|(?<=[\\p{Ll}" + ESC_QUOTES + "])\\.(?=[\\p{Lu}" +
    ESC_QUOTES + "])|(?<=\\p{L}),(?=\\p{L})|(?<=[\\p{L}0-9])(?:-|–|—|--|---|~)(?=\\p{L})|" +
    "(?<=[\\p{L}0-9])[:<>=/](?=\\p{L})",
  "gu",
);

// Contraction and abbreviation exceptions (a subset of spaCy's en tokenizer_exceptions.py).
const CLITICS = ["'s", "'re", "'m", "'ll", "'ve", "'d", "’s", "’re", "’m", "’ll", "’ve", "’d"];
const NOT_VERBS = (
  "ai are ca could did does do had has have is might must need sha should was were wo would"
).split(" ");
const SPECIAL_SPLITS: Record<string, string[]> = {
  cannot: ["can", "not"],
  gonna: ["gon", "na"],
  gotta: ["got", "ta"],
  wanna: ["wan", "na"],
  "let's": ["let", "'s"],
};
const KEEP_WHOLE = new Set((
  "a.m. p.m. e.g. i.e. etc. vs. mr. mrs. ms. dr. st. jr. sr. u.s. 's ’s n't n’t 're 'm 'll 've 'd"
).split(" "));

function escapeClass(chars: string): string {
  return chars.replace(/[\\\]\[^-]/g, (c) => "\\" + c);
}

/**
 * English word tokenisation following spaCy's rules: whitespace split, then prefixes, suffixes,
 * contraction exceptions and infixes ("man's" -> "man" "'s", "t-shirt" -> "t" "-" "shirt",
 * "can't" -> "ca" "n't"). Covers the rules that matter for captions, not all of spaCy's tables.
 */
export function spacyTokenize(text: string): WordToken[] {
  const tokens: WordToken[] = [];
  for (const m of text.matchAll(/\S+/gu)) splitChunk(m[0], m.index!, tokens);
  return tokens;
}

function splitChunk(chunk: string, offset: number, out: WordToken[]): void {
  const suffixes: WordToken[] = [];
  let start = offset;
  let s = chunk;
  while (s.length > 0) {
    const special = specialCase(s);
    if (special) {
      let at = start;
      for (const piece of special) {
        out.push({ text: piece, start: at, end: at + piece.length });
        at += piece.length;
      }
      s = "";
      break;
    }
    const pre = PREFIX.exec(s);
    if (pre && pre[0].length < s.length) {
      out.push({ text: pre[0], start, end: start + pre[0].length });
      start += pre[0].length;
      s = s.slice(pre[0].length);
      continue;
    }
    const suf = SUFFIX.exec(s);
    if (suf && suf[0].length < s.length) {
      const cut = s.length - suf[0].length;
      suffixes.unshift({ text: suf[0], start: start + cut, end: start + s.length });
      s = s.slice(0, cut);
      continue;
    }
    if (pre) {
      out.push({ text: s, start, end: start + s.length });
      s = "";
    }
    break;
  }
  if (s.length > 0) splitInfixes(s, start, out);
  out.push(...suffixes);
}

function specialCase(s: string): string[] | undefined {
  const lower = s.toLowerCase();
  if (KEEP_WHOLE.has(lower)) return [s];
  const fixed = SPECIAL_SPLITS[lower.replace("’", "'")];
  if (fixed) return splitLike(s, fixed);
  for (const verb of NOT_VERBS) {
    if (lower === verb + "n't" || lower === verb + "n’t") {
      return [s.slice(0, verb.length), s.slice(verb.length)];
    }
  }
  for (const clitic of CLITICS) {
    if (
      lower.endsWith(clitic) && lower.length > clitic.length &&
      /^\p{L}+$/u.test(lower.slice(0, -clitic.length))
    ) {
      const cut = s.length - clitic.length;
      return [s.slice(0, cut), s.slice(cut)];
    }
  }
  return undefined;
}

function splitLike(s: string, pieces: string[]): string[] {
  const out: string[] = [];
  let at = 0;
  for (const p of pieces) {
    out.push(s.slice(at, at + p.length));
    at += p.length;
  }
  return out;
}

function splitInfixes(s: string, offset: number, out: WordToken[]): void {
  let last = 0;
  for (const m of s.matchAll(INFIX)) {
    const at = m.index!;
    if (at === 0 || m[0].length === 0) continue;
    if (at > last) out.push({ text: s.slice(last, at), start: offset + last, end: offset + at });
    out.push({ text: m[0], start: offset + at, end: offset + at + m[0].length });
    last = at + m[0].length;
  }
  if (last < s.length) {
    out.push({ text: s.slice(last), start: offset + last, end: offset + s.length });
  }
}
