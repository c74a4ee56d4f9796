export * from "./jf.ts";
export * from "./folders.ts";
export * from "./query_slots.ts";
