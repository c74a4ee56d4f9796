// npm packages src/io loads at run time. fflate.ts runs `deno cache` on this file when the
// package is not installed yet, so node_modules gets it (vitest's resolver does not understand
// `npm:` specifiers and only finds bare names in node_modules).
// deno-lint-ignore no-import-prefix
import "npm:fflate@0.8.2";
