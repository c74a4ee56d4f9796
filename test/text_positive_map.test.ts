import { beforeAll, describe, expect, test } from "vitest";
import { BertTokenizer, NounChunker, positiveMap, subjectLabels } from "../src/text/mod.ts";

let tok: BertTokenizer;
let chunker: NounChunker;
beforeAll(async () => {
  tok = await BertTokenizer.load();
  chunker = await NounChunker.load();
});

function mapFor(caption: string) {
  const e = tok.encode(caption);
  return positiveMap(chunker.nounChunks(caption), e.wordIds, e.length);
}

describe("positiveMap", () => {
  test("chunks map to token spans (keys = chunk index + 1)", () => {
    const map = mapFor("a person in a red shirt riding a bike on the left");
    expect([...map]).toEqual([[1, [1, 2]], [2, [4, 6]], [3, [8, 9]], [4, [11, 12]]]);
  });

  test("spaCy/BERT word-index mismatch shifts later spans, as in the reference", () => {
    // spaCy words: a man 's hat on the left; BERT words: a man ' s hat on the left.
    const map = mapFor("a man's hat on the left");
    expect([...map]).toEqual([[1, [1, 4]], [2, [6, 7]]]);
  });

  test("chunks whose words are missing are skipped and keys keep gaps", () => {
    const wordIds = [null, 0, 1, 1, 2, null, null];
    const chunks = [{ start: 0, end: 2 }, { start: 3, end: 5 }, { start: 2, end: 3 }];
    expect([...positiveMap(chunks, wordIds, 5)]).toEqual([[1, [1, 3]], [3, [4, 4]]]);
  });

  test("with no surviving chunk the whole valid range is key 1", () => {
    expect([...positiveMap([], [null, 0, 1, null, null], 4)]).toEqual([[1, [0, 3]]]);
    expect([...positiveMap([{ start: 7, end: 9 }], [null, 0, null], 3)]).toEqual([[1, [0, 2]]]);
  });

  test("bad arguments are rejected", () => {
    expect(() => positiveMap([], [null, null], 0)).toThrow(/validLength/);
    expect(() => positiveMap([], [null, null], 3)).toThrow(/validLength/);
    expect(() => positiveMap([{ start: 2, end: 2 }], [null, 0, null], 3)).toThrow(/empty/);
  });
});

describe("subjectLabels", () => {
  test("ones on the chosen span", () => {
    const map = mapFor("a person in a red shirt riding a bike on the left");
    expect(Array.from(subjectLabels(map, 2, 14))).toEqual([
      0,
      0,
      0,
      0,
      1,
      1,
      1,
      0,
      0,
      0,
      0,
      0,
      0,
      0,
    ]);
    expect(Array.from(subjectLabels(map, 1, 4))).toEqual([0, 1, 1, 0]);
  });

  test("missing keys and short lengths are errors", () => {
    const map = positiveMap([{ start: 0, end: 1 }], [null, 0, null], 3);
    expect(() => subjectLabels(map, 2, 3)).toThrow(/no key 2/);
    expect(() => subjectLabels(map, 1, 1)).toThrow(/does not fit/);
  });
});
