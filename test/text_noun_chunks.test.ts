import { readFile } from "node:fs/promises";
import { beforeAll, describe, expect, test } from "vitest";
import { NounChunker, nounChunks, spacyTokenize } from "../src/text/mod.ts";

interface LabelledCaption {
  caption: string;
  chunks: string[];
  heldOut?: boolean;
}

let chunker: NounChunker;
let data: LabelledCaption[];
beforeAll(async () => {
  chunker = await NounChunker.load();
  const url = new URL("./data/text/noun_chunks.json", import.meta.url);
  data = JSON.parse(await readFile(url, "utf8"));
});

/** Expected [start, end) word spans: each labelled chunk text located in order in the caption. */
function expectedSpans(item: LabelledCaption): [number, number][] {
  const words = spacyTokenize(item.caption);
  let from = 0;
  return item.chunks.map((text) => {
    const at = item.caption.indexOf(text, from);
    from = at + text.length;
    const start = words.findIndex((w) => w.start === at);
    const end = words.findIndex((w) => w.end === at + text.length) + 1;
    if (at < 0 || start < 0 || end <= 0) throw new Error(`bad label ${text} in ${item.caption}`);
    return [start, end];
  });
}

function agreement(items: LabelledCaption[]) {
  let matched = 0, predicted = 0, expected = 0;
  const disagreements: string[] = [];
  for (const item of items) {
    const want = expectedSpans(item).map(([s, e]) => `${s}:${e}`);
    const got = chunker.nounChunks(item.caption);
    const gotKeys = new Set(got.map((c) => `${c.start}:${c.end}`));
    const hits = want.filter((k) => gotKeys.has(k)).length;
    matched += hits;
    predicted += got.length;
    expected += want.length;
    if (hits !== want.length || got.length !== want.length) {
      disagreements.push(
        `${item.caption}\n  expected ${JSON.stringify(item.chunks)}\n  got      ${
          JSON.stringify(got.map((c) => c.text))
        }`,
      );
    }
  }
  return {
    f1: (2 * matched) / (predicted + expected),
    matched,
    predicted,
    expected,
    disagreements,
  };
}

describe("noun chunks vs hand-labelled spaCy noun_chunks", () => {
  test("exact-span agreement >= 0.9", () => {
    expect(data.length).toBeGreaterThanOrEqual(100);
    const all = agreement(data);
    const heldOut = agreement(data.filter((d) => d.heldOut));
    console.log(
      `noun-chunk exact-span F1 ${all.f1.toFixed(4)} (${all.matched} matched, ` +
        `${all.predicted} predicted, ${all.expected} expected, ${data.length} captions); ` +
        `held-out subset F1 ${heldOut.f1.toFixed(4)}`,
    );
    if (all.disagreements.length > 0) console.log(all.disagreements.join("\n"));
    expect(all.f1).toBeGreaterThanOrEqual(0.9);
  });
});

describe("NounChunker", () => {
  test("spans are spaCy word indices", () => {
    const caption = "a person in a red shirt riding a bike on the left";
    expect(chunker.nounChunks(caption)).toEqual([
      { text: "a person", start: 0, end: 2 },
      { text: "a red shirt", start: 3, end: 6 },
      { text: "a bike", start: 7, end: 9 },
      { text: "the left", start: 10, end: 12 },
    ]);
  });

  test("possessives, coordination, pronouns", () => {
    const texts = (s: string) => chunker.nounChunks(s).map((c) => c.text);
    expect(chunker.nounChunks("a man's hat on the left")).toEqual([
      { text: "a man's hat", start: 0, end: 4 },
      { text: "the left", start: 5, end: 7 },
    ]);
    expect(texts("a black and white cat and a dog")).toEqual(["a black and white cat", "a dog"]);
    expect(texts("the woman who is holding it in her arms")).toEqual([
      "the woman",
      "who",
      "it",
      "her arms",
    ]);
    expect(texts("a dog in front of a man")).toEqual(["a dog", "front", "a man"]);
  });

  test("the shared async helper gives the same result", async () => {
    expect(await nounChunks("the white duck swimming behind the others")).toEqual([
      { text: "the white duck", start: 0, end: 3 },
      { text: "the others", start: 5, end: 7 },
    ]);
  });

  test("empty captions are rejected", () => {
    expect(() => chunker.nounChunks("")).toThrow(/empty/);
    expect(() => chunker.nounChunks("   ")).toThrow(/empty/);
  });
});

describe("spacyTokenize", () => {
  const words = (s: string) => spacyTokenize(s).map((w) => w.text);
  test("splits clitics, hyphens and punctuation like spaCy", () => {
    expect(words("a man's hat")).toEqual(["a", "man", "'s", "hat"]);
    expect(words("a black t-shirt.")).toEqual(["a", "black", "t", "-", "shirt", "."]);
    expect(words("it's a dog, isn't it?")).toEqual([
      "it",
      "'s",
      "a",
      "dog",
      ",",
      "is",
      "n't",
      "it",
      "?",
    ]);
    expect(words("(the dog) can't")).toEqual(["(", "the", "dog", ")", "ca", "n't"]);
    expect(words("3.5kg $100 1,000 e.g. the dogs' toys")).toEqual([
      "3.5",
      "kg",
      "$",
      "100",
      "1,000",
      "e.g.",
      "the",
      "dogs",
      "'",
      "toys",
    ]);
  });

  test("offsets index the caption", () => {
    const s = "the  dog's bone";
    expect(spacyTokenize(s).map((w) => s.slice(w.start, w.end))).toEqual([
      "the",
      "dog",
      "'s",
      "bone",
    ]);
    expect(spacyTokenize(s)[1]).toEqual({ text: "dog", start: 5, end: 8 });
  });
});
