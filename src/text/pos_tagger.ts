import { importNpmModule, WINK_MODEL, WINK_NLP } from "./npm_import.ts";
import type { WordToken } from "./spacy_tokenizer.ts";

/** Universal POS tag (as spaCy's token.pos_ and wink-nlp use). */
export type Upos = string;

export interface TaggedToken extends WordToken {
  pos: Upos;
}

/** A part-of-speech tagger over raw text: wink-nlp's tokens with source offsets. */
export interface RawTagger {
  tag(text: string): TaggedToken[];
}

/** wink-nlp with wink-eng-lite-web-model (loaded once). */
export async function loadWinkTagger(): Promise<RawTagger> {
  const winkNLP = (await importNpmModule(WINK_NLP)).default;
  const model = (await importNpmModule(WINK_MODEL)).default;
  const nlp = winkNLP(model);
  const its = nlp.its;
  return {
    tag(text: string): TaggedToken[] {
      const tokens = nlp.readDoc(text).tokens();
      const values: string[] = tokens.out(its.value);
      const pos: string[] = tokens.out(its.pos);
      const out: TaggedToken[] = [];
      let at = 0;
      values.forEach((value, i) => {
        const start = text.indexOf(value, at);
        if (start < 0) return; // wink normalised the token (should not happen for raw values)
        out.push({ text: value, start, end: start + value.length, pos: pos[i] });
        at = start + value.length;
      });
      return out;
    },
  };
}

const PUNCT_ONLY = /^[\p{P}\p{S}]+$/u;

/**
 * Gives every spaCy-style word the POS of the tagger token(s) covering it. When the tagger keeps
 * several words together ("t-shirt"), punctuation pieces become PUNCT and the others inherit the
 * tagger's tag; when it splits one word, the last non-punctuation piece decides.
 */
export function alignTags(
  words: readonly WordToken[],
  tagged: readonly TaggedToken[],
): TaggedToken[] {
  return words.map((w) => {
    const covering = tagged.filter((t) => t.start < w.end && t.end > w.start);
    if (PUNCT_ONLY.test(w.text) && !(covering.length === 1 && covering[0].text === w.text)) {
      return { ...w, pos: "PUNCT" };
    }
    const useful = covering.filter((t) => t.pos !== "PUNCT");
    const pick = useful[useful.length - 1] ?? covering[covering.length - 1];
    return { ...w, pos: pick?.pos ?? "X" };
  });
}
