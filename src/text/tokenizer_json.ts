import type { BertTokenizerConfig } from "./bert_tokenizer.ts";
import type { BertNormalizerOptions } from "./bert_normalizer.ts";

// deno-lint-ignore no-explicit-any
type Json = any;

/** Reads the parts of an HF tokenizer.json a BERT WordPiece tokenizer needs. */
export function parseTokenizerJson(json: Json): BertTokenizerConfig {
  if (typeof json !== "object" || json === null || typeof json.model !== "object") {
    throw new Error("not a tokenizer.json: no model section");
  }
  const model = json.model;
  if (model.type !== "WordPiece") {
    throw new Error(`unsupported tokenizer model type ${JSON.stringify(model.type)}`);
  }
  return {
    vocab: vocabById(model.vocab, json.added_tokens ?? []),
    normalizer: normalizerOptions(json.normalizer),
    wordPiece: {
      unkToken: model.unk_token ?? "[UNK]",
      continuingSubwordPrefix: model.continuing_subword_prefix ?? "##",
      maxInputCharsPerWord: model.max_input_chars_per_word ?? 100,
    },
    ...specialTokens(json.post_processor),
    padToken: json.padding?.pad_token ?? "[PAD]",
  };
  function vocabById(vocab: Json, added: Json[]): string[] {
    if (typeof vocab !== "object" || vocab === null) throw new Error("model.vocab missing");
    const byId: string[] = [];
    for (const [token, id] of Object.entries(vocab)) byId[id as number] = token;
    for (const t of added) byId[t.id] ??= t.content;
    for (let id = 0; id < byId.length; id++) {
      if (byId[id] === undefined) throw new Error(`tokenizer.json vocab has no token for id ${id}`);
    }
    return byId;
  }
}

function normalizerOptions(normalizer: Json): BertNormalizerOptions {
  if (normalizer?.type !== "BertNormalizer") {
    throw new Error(`unsupported normalizer ${JSON.stringify(normalizer?.type ?? null)}`);
  }
  const lowercase = normalizer.lowercase ?? true;
  return {
    cleanText: normalizer.clean_text ?? true,
    handleChineseChars: normalizer.handle_chinese_chars ?? true,
    stripAccents: normalizer.strip_accents ?? lowercase,
    lowercase,
  };
}

function specialTokens(post: Json): { clsToken: string; sepToken: string } {
  if (!post) return { clsToken: "[CLS]", sepToken: "[SEP]" };
  if (post.type === "BertProcessing") return { clsToken: post.cls[0], sepToken: post.sep[0] };
  if (post.type === "TemplateProcessing") {
    const single: Json[] = post.single ?? [];
    const first = single[0]?.SpecialToken?.id;
    const last = single[single.length - 1]?.SpecialToken?.id;
    if (single.length === 3 && first && last && single[1]?.Sequence) {
      return {
        clsToken: post.special_tokens?.[first]?.tokens?.[0] ?? first,
        sepToken: post.special_tokens?.[last]?.tokens?.[0] ?? last,
      };
    }
  }
  throw new Error(`unsupported post_processor ${JSON.stringify(post.type)}`);
}

/** An HF tokenizer.json equivalent to bert-base-uncased's, for the given vocabulary. */
export function makeBertTokenizerJson(vocab: readonly string[]): Json {
  const id = (token: string) => {
    const i = vocab.indexOf(token);
    if (i < 0) throw new Error(`vocabulary has no ${token}`);
    return i;
  };
  const specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];
  const seq = (type_id: number) => ({ Sequence: { id: type_id === 0 ? "A" : "B", type_id } });
  const special = (token: string, type_id: number) => ({ SpecialToken: { id: token, type_id } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: specials.map((content) => ({
      id: id(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special("[CLS]", 0), seq(0), special("[SEP]", 0)],
      pair: [special("[CLS]", 0), seq(0), special("[SEP]", 0), seq(1), special("[SEP]", 1)],
      special_tokens: Object.fromEntries(
        ["[CLS]", "[SEP]"].map((t) => [t, { id: t, ids: [id(t)], tokens: [t] }]),
      ),
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((token, i) => [token, i])),
    },
  };
}
