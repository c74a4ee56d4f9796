/**
 * Python globals the restricted unpickler may resolve. Nothing is ever imported or run:
 * each allowed global is a small JS stand-in that builds plain data.
 */

export interface PyGlobalBehaviour {
  /** REDUCE / NEWOBJ / INST / OBJ with positional arguments. */
  call?: (args: unknown[]) => unknown;
  /** BUILD on an object this global created (`__setstate__`). */
  build?: (target: object, state: unknown) => void;
}

export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly behaviour: PyGlobalBehaviour = {},
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/** Maps "module.name" to a PyGlobal or to a constant value. */
export type GlobalTable = ReadonlyMap<string, unknown>;

export function defineGlobals(
  definitions: Record<string, PyGlobalBehaviour | { value: unknown }>,
): Map<string, unknown> {
  const table = new Map<string, unknown>();
  for (const [qualified, definition] of Object.entries(definitions)) {
    if ("value" in definition) {
      table.set(qualified, definition.value);
      continue;
    }
    const dot = qualified.lastIndexOf(".");
    table.set(
      qualified,
      new PyGlobal(qualified.slice(0, dot), qualified.slice(dot + 1), definition),
    );
  }
  return table;
}

function iterableArgument(args: unknown[], what: string): Iterable<unknown> {
  if (args.length === 0) return [];
  const [items] = args;
  if (Array.isArray(items) || items instanceof Set) return items;
  if (items instanceof Map) return items.keys();
  throw new Error(`pickle: ${what} expects an iterable argument`);
}

function encodeString(args: unknown[]): Uint8Array {
  const [text, encoding = "latin1"] = args;
  if (typeof text !== "string") {
    throw new Error("pickle: _codecs.encode expects a string argument");
  }
  const normalized = String(encoding).toLowerCase().replace(/[-_]/g, "");
  if (normalized === "utf8") return new TextEncoder().encode(text);
  if (normalized !== "latin1" && normalized !== "iso88591") {
    throw new Error(`pickle: _codecs.encode with unsupported encoding ${String(encoding)}`);
  }
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code > 255) throw new Error("pickle: _codecs.encode latin1 value out of range");
    out[i] = code;
  }
  return out;
}

const makeSet = (args: unknown[]) => new Set(iterableArgument(args, "set"));

function orderedDict(args: unknown[]): Map<unknown, unknown> {
  const map = new Map<unknown, unknown>();
  for (const pair of iterableArgument(args, "OrderedDict")) {
    if (!Array.isArray(pair) || pair.length !== 2) {
      throw new Error("pickle: OrderedDict expects (key, value) pairs");
    }
    map.set(pair[0], pair[1]);
  }
  return map;
}

/** argparse.Namespace and similar attribute bags become plain records. */
function assignAttributes(target: object, state: unknown): void {
  const attributes = Array.isArray(state) ? state[0] : state;
  if (attributes === null || attributes === undefined) return;
  if (!(attributes instanceof Map)) throw new Error("pickle: Namespace state must be a dict");
  for (const [key, value] of attributes) {
    if (typeof key !== "string") throw new Error("pickle: Namespace attribute names must be str");
    Object.defineProperty(target, key, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
}

function bytearray(args: unknown[]): Uint8Array {
  if (args.length === 0) return new Uint8Array(0);
  if (args[0] instanceof Uint8Array) return args[0].slice();
  return encodeString(args);
}

/** Python-only globals (no torch) accepted by default. */
export const BASE_GLOBALS: GlobalTable = defineGlobals({
  "collections.OrderedDict": { call: orderedDict, build: () => {} },
  "builtins.set": { call: makeSet },
  "builtins.frozenset": { call: makeSet },
  "builtins.bytearray": { call: bytearray },
  "__builtin__.set": { call: makeSet },
  "__builtin__.frozenset": { call: makeSet },
  "__builtin__.bytearray": { call: bytearray },
  "_codecs.encode": { call: encodeString },
  "argparse.Namespace": { call: () => ({}), build: assignAttributes },
});
