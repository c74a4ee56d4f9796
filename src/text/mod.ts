export {
  BertTokenizer,
  type BertTokenizerConfig,
  cleanUpTokenization,
  type DecodeOptions,
  type EncodeOptions,
  type Encoding,
} from "./bert_tokenizer.ts";
export {
  type AlignedChar,
  type BertNormalizerOptions,
  normalizeBert,
  UNCASED_NORMALIZER,
} from "./bert_normalizer.ts";
export { preTokenizeBert, type Word } from "./bert_pretokenizer.ts";
export { BERT_WORDPIECE, type Piece, wordPiece, type WordPieceOptions } from "./wordpiece.ts";
export {
  loadBertBaseUncasedVocab,
  parseVocabText,
  rebuildBertVocab,
  vocabToText,
} from "./vocab.ts";
export { makeBertTokenizerJson, parseTokenizerJson } from "./tokenizer_json.ts";
export { cleanCaption } from "./caption.ts";
export { spacyTokenize, type WordToken } from "./spacy_tokenizer.ts";
export { type TaggedToken, type Upos } from "./pos_tagger.ts";
export { chunkSpans, type NounChunk, NounChunker, nounChunks } from "./noun_chunks.ts";
export { type PositiveMap, positiveMap, subjectLabels } from "./positive_map.ts";
