import { createHash } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, test } from "vitest";
import {
  BertTokenizer,
  cleanCaption,
  loadBertBaseUncasedVocab,
  makeBertTokenizerJson,
  vocabToText,
} from "../src/text/mod.ts";
import { HF_TOKENIZERS, importNpmModule } from "../src/text/npm_import.ts";

let tok: BertTokenizer;
beforeAll(async () => {
  tok = await BertTokenizer.load();
});

const tokens = (text: string) => tok.encode(text, { padToMax: false }).tokens.slice(1, -1);

describe("bert-base-uncased vocabulary", () => {
  test("rebuilt vocab.txt is byte-identical to the original", async () => {
    const vocab = await loadBertBaseUncasedVocab();
    expect(vocab.length).toBe(30522);
    const sha = createHash("sha256").update(vocabToText(vocab), "utf8").digest("hex");
    expect(sha).toBe("07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3");
  });

  test("special and common ids", () => {
    expect([0, 1, 100, 101, 102, 103].map((i) => tok.idToToken(i)))
      .toEqual(["[PAD]", "[unused0]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]);
    expect(tok.tokenToId("the")).toBe(1996);
    expect(tok.tokenToId("dog")).toBe(3899);
    expect(tok.tokenToId("##s")).toBe(2015);
    expect(tok.vocabSize).toBe(30522);
  });
});

describe("BertTokenizer.encode", () => {
  test("plain sentence: ids, mask, word ids, padding to 256 by default", () => {
    const e = tok.encode("the dog jumping over the fence");
    expect(Array.from(e.inputIds.slice(0, 9))).toEqual([
      101,
      1996,
      3899,
      8660,
      2058,
      1996,
      8638,
      102,
      0,
    ]);
    expect(e.inputIds.length).toBe(256);
    expect(e.length).toBe(8);
    expect(e.attentionMask.reduce((a, b) => a + b, 0)).toBe(8);
    expect(e.attentionMask[7]).toBe(1);
    expect(e.attentionMask[8]).toBe(0);
    expect(e.wordIds.slice(0, 9)).toEqual([null, 0, 1, 2, 3, 4, 5, null, null]);
    expect(e.tokens[255]).toBe("[PAD]");
  });

  test("accents are stripped and punctuation split", () => {
    expect(tokens("Héllo wörld!")).toEqual(["hello", "world", "!"]);
    expect(tokens("İstanbul naïve café")).toEqual(["istanbul", "naive", "cafe"]);
  });

  test("greedy longest-match WordPiece", () => {
    // bert-base-uncased has "una", so greedy matching takes it before "un".
    expect(tokens("unaffable")).toEqual(["una", "##ffa", "##ble"]);
    expect(tokens("riverbank")).toEqual(["river", "##bank"]);
    expect(tokens("skateboarder")).toEqual(["skate", "##board", "##er"]);
  });

  test("CJK ideographs are split one per word, kana are not", () => {
    const e = tok.encode("中文字 test 日本語のテキスト", { padToMax: false });
    expect(e.tokens.slice(1, -1))
      .toEqual([
        "中",
        "文",
        "[UNK]",
        "test",
        "日",
        "本",
        "語",
        "の",
        "##テ",
        "##キ",
        "##ス",
        "##ト",
      ]);
    expect(e.wordIds.slice(1, -1)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 7, 7, 7, 7]);
  });

  test("a word over 100 characters is one [UNK]", () => {
    expect(tokens("x".repeat(150) + " dog")).toEqual(["[UNK]", "dog"]);
    expect(tokens("x".repeat(100))).not.toContain("[UNK]");
  });

  test("control characters and U+FFFD are removed, exotic spaces split", () => {
    expect(tokens("a\u0000b\u0007c\u200bd\ufeffe\ufffd")).toEqual(["abc", "##de"]);
    expect(tokens("a\u00a0b\u2028c\u3000d\te\nf")).toEqual(["a", "b", "c", "d", "e", "f"]);
  });

  test("possessives split into three words (word ids as HF fast tokenizers)", () => {
    const e = tok.encode("a man's hat", { padToMax: false });
    expect(e.tokens).toEqual(["[CLS]", "a", "man", "'", "s", "hat", "[SEP]"]);
    expect(e.wordIds).toEqual([null, 0, 1, 2, 3, 4, null]);
    expect(Array.from(e.inputIds)).toEqual([101, 1037, 2158, 1005, 1055, 6045, 102]);
  });

  test("numbers, hyphens, ASCII symbols and emoji", () => {
    expect(tokens("t-shirt 3.5 1,000")).toEqual([
      "t",
      "-",
      "shirt",
      "3",
      ".",
      "5",
      "1",
      ",",
      "000",
    ]);
    expect(tokens("$100 + 50% ^_^ `x`"))
      .toEqual(["$", "100", "+", "50", "%", "^", "_", "^", "`", "x", "`"]);
    expect(tokens("a 😀 dog")).toEqual(["a", "[UNK]", "dog"]);
    expect(tokens("Ａｂｃ")).toEqual(["[UNK]"]); // no NFKC: full-width letters are unknown
  });

  test("offsets point into the raw text", () => {
    const text = "A Man's  HAT, café";
    const e = tok.encode(text, { padToMax: false });
    const pieces = e.offsets.slice(1, -1).map(([s, t]) => text.slice(s, t));
    expect(pieces).toEqual(["A", "Man", "'", "s", "HAT", ",", "café"]);
    expect(e.offsets[0]).toEqual([0, 0]);
  });

  test("truncation keeps [SEP] last", () => {
    const e = tok.encode("one two three four five six", { maxLength: 5 });
    expect(e.tokens).toEqual(["[CLS]", "one", "two", "three", "[SEP]"]);
    expect(e.length).toBe(5);
    expect(Array.from(e.attentionMask)).toEqual([1, 1, 1, 1, 1]);
    const padded = tok.encode("one", { maxLength: 5 });
    expect(padded.tokens).toEqual(["[CLS]", "one", "[SEP]", "[PAD]", "[PAD]"]);
    expect(Array.from(padded.attentionMask)).toEqual([1, 1, 1, 0, 0]);
  });

  test("bad input gives clear errors", () => {
    expect(() => tok.encode("")).toThrow(/no tokens/);
    expect(() => tok.encode("  \t\u0000 ")).toThrow(/no tokens/);
    expect(() => tok.encode("dog", { maxLength: 1 })).toThrow(/maxLength/);
    expect(() => tok.encode(42 as unknown as string)).toThrow(/string/);
    expect(() => tok.decode([40000])).toThrow(/outside vocabulary/);
  });
});

describe("decode", () => {
  test("joins continuations and cleans up spaces like HF", () => {
    const ids = tok.encode("a man's hat, isn't it? riverbank").inputIds;
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("a man's hat, isn't it? riverbank");
    expect(tok.decode([101, 3899, 102])).toBe("[CLS] dog [SEP]");
  });
});

describe("other vocabularies", () => {
  test("vocab.txt and tokenizer.json files load to the same tokenizer", async () => {
    const dir = await mkdtemp(join(tmpdir(), "text-tok-"));
    try {
      const vocabPath = join(dir, "vocab.txt");
      const jsonPath = join(dir, "tokenizer.json");
      await writeFile(vocabPath, vocabToText(tok.vocab));
      await writeFile(jsonPath, JSON.stringify(makeBertTokenizerJson(tok.vocab)));
      const fromTxt = await BertTokenizer.load({ vocabPath });
      const fromJson = await BertTokenizer.load({ tokenizerJsonPath: jsonPath });
      const text = "A brown dog's T-shirt 中文";
      const expected = Array.from(tok.encode(text).inputIds);
      expect(Array.from(fromTxt.encode(text).inputIds)).toEqual(expected);
      expect(Array.from(fromJson.encode(text).inputIds)).toEqual(expected);
    } finally {
      await rm(dir, { recursive: true });
    }
  });

  test("a cased WordPiece tokenizer.json keeps case and accents", () => {
    const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "Dog", "dog", "é", "##s"];
    const json = makeBertTokenizerJson(vocab);
    json.normalizer.lowercase = false;
    const cased = BertTokenizer.fromTokenizerJson(json);
    expect(cased.encode("Dogs dog é", { padToMax: false }).tokens)
      .toEqual(["[CLS]", "Dog", "##s", "dog", "é", "[SEP]"]);
  });

  test("BPE and unknown formats are rejected clearly", () => {
    expect(() => BertTokenizer.fromTokenizerJson({ model: { type: "BPE", vocab: {}, merges: [] } }))
      .toThrow('unsupported tokenizer model type "BPE"');
    expect(() => BertTokenizer.fromTokenizerJson({})).toThrow(/no model section/);
    expect(() => new BertTokenizer({ vocab: ["a", "b"] })).toThrow(/special token/);
  });
});

describe("agreement with tokenizers.js on the same tokenizer.json", () => {
  test("identical ids on tricky text", async () => {
    const { Tokenizer } = await importNpmModule(HF_TOKENIZERS);
    const hf = new Tokenizer(makeBertTokenizerJson(tok.vocab), {});
    const samples = [
      "a person in a red shirt riding a bike on the left",
      "Dr. Smith's 2nd-place finish (very) [good] «quoted» “smart” — dash… ellipsis",
      "don't can't won't o'clock",
      "한국어 日本語のテキスト 中文",
      "\uf900\uf901 ﬁ ligature ½ ² ß ẞ ǅ Ω K Å",
      "the zebra on the far right, second from the top!!",
      "naïve façade résumé coöperate",
    ];
    for (const s of samples) {
      expect(Array.from(tok.encode(s, { padToMax: false }).inputIds), s).toEqual(hf.encode(s).ids);
    }
  });
});

describe("cleanCaption", () => {
  test("lower-cases and collapses whitespace like ' '.join(s.lower().split())", () => {
    expect(cleanCaption("  A  Brown\tDog\n is RUNNING  ")).toBe("a brown dog is running");
    expect(cleanCaption("x\u00a0\u3000y\u001cz")).toBe("x y z");
    expect(cleanCaption("   ")).toBe("");
    expect(() => cleanCaption(undefined as unknown as string)).toThrow(/string/);
  });
});
