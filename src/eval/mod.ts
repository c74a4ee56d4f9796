export * from "./jf.ts";
export * from "./folders.ts";
