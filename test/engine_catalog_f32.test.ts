/**
 * The catalog suite on a float32-only clone of the CPU backend: exercises the path other
 * backends (WebGPU, CUDA) take, where gradients are compared with the CPU reference's
 * instead of finite differences, and f64-only checks are skipped.
 */
import { type Backend, getBackend, registerBackend } from "../mod.ts";
import { runCatalogSuite } from "./helpers/catalog.ts";

const cpu = getBackend("cpu");
const f32Only: Backend = { ...cpu, name: "cpu-f32", dtypes: ["f32", "i32", "u8", "bool"] };
registerBackend(f32Only);

runCatalogSuite("cpu-f32");
