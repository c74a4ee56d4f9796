import { alignTags, loadWinkTagger, type RawTagger, type TaggedToken } from "./pos_tagger.ts";
import { fixTags, isNominal, isPossessiveMarker, isPossessivePronoun } from "./pos_rules.ts";
import { spacyTokenize, type WordToken } from "./spacy_tokenizer.ts";

/** A base noun phrase; start/end are spaCy word indices, [start, end). */
export interface NounChunk {
  text: string;
  start: number;
  end: number;
}

const PREDETERMINERS = new Set(["all", "both", "half"]);

/**
 * spaCy-style noun chunks (en_core_web_sm `doc.noun_chunks`) over a POS tagger: each chunk is a
 * head noun or pronoun with its determiner, possessor ("a man's"), adjectives, numbers and compound
 * nouns; prepositional phrases and clauses after the head are separate.
 */
export class NounChunker {
  constructor(private readonly tagger: RawTagger) {}

  static async load(): Promise<NounChunker> {
    return new NounChunker(await loadWinkTagger());
  }

  /** spaCy-style word tokenisation of the caption (the index space of chunk start/end). */
  words(caption: string): WordToken[] {
    return spacyTokenize(checkCaption(caption));
  }

  /** Words with the (corrected) universal POS tags the chunker uses. */
  tag(caption: string): TaggedToken[] {
    const words = this.words(caption);
    return fixTags(alignTags(words, this.tagger.tag(caption)));
  }

  nounChunks(caption: string): NounChunk[] {
    const tokens = this.tag(caption);
    return chunkSpans(tokens).map(([start, end]) => ({
      text: caption.slice(tokens[start].start, tokens[end - 1].end),
      start,
      end,
    }));
  }
}

let shared: Promise<NounChunker> | undefined;

/** Noun chunks with a lazily loaded shared chunker (see NounChunker for synchronous use). */
export async function nounChunks(caption: string): Promise<NounChunk[]> {
  shared ??= NounChunker.load();
  return (await shared).nounChunks(caption);
}

function checkCaption(caption: string): string {
  if (typeof caption !== "string") throw new Error("caption must be a string");
  if (caption.trim() === "") throw new Error("caption is empty");
  return caption;
}

/** [start, end) word spans of the base noun phrases of tagged words. */
export function chunkSpans(t: readonly TaggedToken[]): [number, number][] {
  const spans: [number, number][] = [];
  let i = 0;
  while (i < t.length) {
    const phrase = parsePhrase(t, i);
    if (phrase !== null) {
      spans.push([i, phrase + 1]);
      i = phrase + 1;
    } else if (t[i].pos === "PRON" && !isExpletiveThere(t, i)) {
      spans.push([i, i + 1]);
      i++;
    } else {
      i++;
    }
  }
  return spans;
}

function isExpletiveThere(t: readonly TaggedToken[], i: number): boolean {
  return t[i].text.toLowerCase() === "there" &&
    (t[i + 1]?.pos === "AUX" || t[i + 1]?.pos === "VERB");
}

/** Index of the head of the noun phrase starting at i, or null if none starts there. */
function parsePhrase(t: readonly TaggedToken[], i: number): number | null {
  let j = i;
  if (PREDETERMINERS.has(t[j].text.toLowerCase()) && t[j + 1]?.pos === "DET") j++;
  const hasDeterminer = t[j].pos === "DET" || isPossessivePronoun(t[j]);
  if (hasDeterminer) j++;
  let head = -1;
  let possessor = -1;
  while (j < t.length) {
    const tok = t[j];
    const prev = t[j - 1];
    const next = t[j + 1];
    if (isNominal(tok)) {
      head = j++;
      if (isPossessiveMarker(t[j])) {
        possessor = head;
        head = -1;
        j++;
      }
      continue;
    }
    if (head >= 0 && !(isHyphen(tok) && isNominal(next))) break;
    const modifiable = j > i || hasDeterminer;
    if (tok.pos === "ADJ" || tok.pos === "NUM") {
      j++;
    } else if (
      tok.pos === "ADV" &&
      (["ADJ", "ADV", "NUM"].includes(next?.pos ?? "") || (modifiable && isNominal(next)))
    ) {
      j++;
    } else if (
      (tok.pos === "CCONJ" || tok.text === ",") && prev?.pos === "ADJ" && next?.pos === "ADJ" &&
      j > i
    ) {
      j++;
    } else if (tok.pos === "VERB" && modifiable && (isNominal(next) || next?.pos === "ADJ")) {
      j++;
    } else if (
      isHyphen(tok) && j > i && next && next.pos !== "PUNCT" && adjacent(prev, tok, next)
    ) {
      j++;
    } else {
      break;
    }
  }
  if (head < 0) head = possessor;
  return head >= 0 ? head : null;
}

const isHyphen = (t: TaggedToken | undefined) => t !== undefined && /^[-–—]$/.test(t.text);

function adjacent(a: TaggedToken | undefined, b: TaggedToken, c: TaggedToken): boolean {
  return a !== undefined && a.end === b.start && b.end === c.start;
}
