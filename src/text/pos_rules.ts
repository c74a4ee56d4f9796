import type { TaggedToken } from "./pos_tagger.ts";

// Nouns ending in -ing that stay nouns after another noun ("the school building").
const ING_NOUNS = new Set((
  "building ceiling clothing painting drawing wedding evening morning railing bedding icing " +
  "dumpling sibling duckling seedling sapling gosling darling earring offspring awning " +
  "lightning pudding stuffing topping"
).split(" "));

// Words that are nouns when they end a phrase after another noun ("the traffic light").
const NOUN_OR_ADJECTIVE = new Set((
  "light left right back front top bottom middle center centre side corner edge rear inside " +
  "outside"
).split(" "));

const POSSESSIVE_PRONOUNS = new Set(["my", "your", "his", "her", "its", "our", "their"]);

export function isPossessivePronoun(t: TaggedToken): boolean {
  return t.pos === "PRON" && POSSESSIVE_PRONOUNS.has(t.text.toLowerCase());
}

export function isNominal(t: TaggedToken | undefined): boolean {
  return t?.pos === "NOUN" || t?.pos === "PROPN";
}

const isDeterminer = (t: TaggedToken | undefined) =>
  t !== undefined && (t.pos === "DET" || isPossessivePronoun(t) || isPossessiveMarker(t));

export function isPossessiveMarker(t: TaggedToken | undefined): boolean {
  return t !== undefined && t.pos === "PART" && /^['’]s?$/i.test(t.text);
}

/** A determiner or pronoun: what an object after a participle starts with ("building a nest"). */
function startsObject(t: TaggedToken | undefined): boolean {
  return t !== undefined && (t.pos === "DET" || t.pos === "PRON");
}

/** Ends a base noun phrase: nothing, or a word that cannot continue one. */
function isBoundary(t: TaggedToken | undefined): boolean {
  if (t === undefined) return true;
  return ["ADP", "PUNCT", "CCONJ", "SCONJ", "AUX", "VERB", "PART"].includes(t.pos) ||
    (t.pos === "PRON" && !isPossessivePronoun(t));
}

/**
 * Corrects tagger decisions that break noun chunks in caption-style English. Each rule is a
 * pattern English grammar allows only one reading of.
 */
export function fixTags(tokens: readonly TaggedToken[]): TaggedToken[] {
  const t = tokens.map((x) => ({ ...x }));
  const lower = (i: number) => t[i]?.text.toLowerCase() ?? "";
  for (let i = 0; i < t.length; i++) {
    const word = lower(i);
    // "the duck swimming behind": an -ing word right after a noun is a participle.
    if (
      t[i].pos === "NOUN" && word.endsWith("ing") && /[aeiouy]/.test(word.slice(0, -3)) &&
      isNominal(t[i - 1]) && (!ING_NOUNS.has(word) || startsObject(t[i + 1]))
    ) {
      t[i].pos = "VERB";
    }
  }
  for (let i = 0; i < t.length; i++) {
    const word = lower(i);
    // "eating leaves from": a bare plural after a participle is its object.
    if (
      t[i].pos === "VERB" && /[^s]s$/.test(word) && t[i - 1]?.pos === "VERB" &&
      lower(i - 1).endsWith("ing")
    ) {
      t[i].pos = "NOUN";
    }
    // "on top of", "in front of": the word between a preposition and "of" is a noun.
    if (t[i].pos === "ADJ" && t[i - 1]?.pos === "ADP" && lower(i + 1) === "of") t[i].pos = "NOUN";
    // "the one on the right": pronominal "one".
    if (
      word === "one" && (isDeterminer(t[i - 1]) || t[i - 1]?.pos === "ADJ") && isBoundary(t[i + 1])
    ) {
      t[i].pos = "NOUN";
    }
    // "throwing a net": a phrase of a determiner and one plain adjective at the end is a noun.
    if (
      t[i].pos === "ADJ" && t[i - 1]?.pos === "DET" && i === t.length - 1 &&
      !/(er|est)$/.test(word)
    ) {
      t[i].pos = "NOUN";
    }
    // "a man who rides a horse": the word after a relative "who" is its verb.
    if (t[i].pos === "NOUN" && lower(i - 1) === "who" && t[i - 1].pos === "PRON") t[i].pos = "VERB";
    // Relative "that"/"which" after a noun, before a verb: spaCy tags them PRON (WDT).
    if (
      (word === "that" || word === "which") && isNominal(t[i - 1]) &&
      (t[i + 1]?.pos === "AUX" || t[i + 1]?.pos === "VERB")
    ) {
      t[i].pos = "PRON";
    }
  }
  // Right to left, so that in "the far right" "right" is decided before "far".
  for (let i = t.length - 1; i >= 0; i--) {
    // "the far right", "on its back": a determiner phrase ends in a noun, not a verb or adverb.
    if ((t[i].pos === "VERB" || t[i].pos === "ADV") && isBoundary(t[i + 1])) {
      let j = i - 1;
      while (j >= 0 && (t[j].pos === "ADV" || t[j].pos === "ADJ")) j--;
      if (isDeterminer(t[j])) t[i].pos = "NOUN";
    }
    // "the traffic light at": a noun-or-adjective word closing a noun compound is the head noun.
    if (
      t[i].pos === "ADJ" && NOUN_OR_ADJECTIVE.has(lower(i)) && isNominal(t[i - 1]) &&
      isBoundary(t[i + 1])
    ) {
      t[i].pos = "NOUN";
    }
  }
  return t;
}
