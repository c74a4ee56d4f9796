export * from "./adamw.ts";
export * from "./schedule.ts";
export * from "./clip.ts";
