export * from "./module.ts";
export * from "./init.ts";
export * from "./layers.ts";
export * from "./attention.ts";
