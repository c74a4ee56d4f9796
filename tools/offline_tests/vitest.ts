/**
 * The subset of vitest's API our test files use (describe/test/beforeAll/expect and the
 * matchers in test/), for running them with nothing but the Deno binary: lent GPU machines
 * cannot reach an npm registry. Tests only register here; tools/offline_tests/run.ts runs them.
 */

/** What a test receives: `ctx.skip()` ends it as skipped. */
export interface TestContext {
  skip(note?: string): never;
}

/** Thrown by `ctx.skip()`. */
export class SkipSignal extends Error {}

export const testContext: TestContext = {
  skip: (note?: string) => {
    throw new SkipSignal(note ?? "skipped");
  },
};

export type TestFn = (ctx: TestContext) => unknown | Promise<unknown>;

export interface Block {
  name: string;
  skip: boolean;
  beforeAll: TestFn[];
  afterAll: TestFn[];
  children: (Block | TestEntry)[];
}

export interface TestEntry {
  name: string;
  fn: TestFn;
  skip: boolean;
}

export const root: Block = {
  name: "",
  skip: false,
  beforeAll: [],
  afterAll: [],
  children: [],
};
let current = root;

function addBlock(name: string, fn: () => void, skip: boolean): void {
  const block: Block = {
    name,
    skip: skip || current.skip,
    beforeAll: [],
    afterAll: [],
    children: [],
  };
  current.children.push(block);
  const parent = current;
  current = block;
  try {
    fn();
  } finally {
    current = parent;
  }
}

function addTest(name: string, fn: TestFn, skip: boolean): void {
  current.children.push({ name, fn, skip: skip || current.skip });
}

type DescribeFn = ((name: string, fn: () => void) => void) & {
  skip: (name: string, fn: () => void) => void;
  skipIf: (cond: unknown) => (name: string, fn: () => void) => void;
  runIf: (cond: unknown) => (name: string, fn: () => void) => void;
};

type TestApi = ((name: string, fn: TestFn, timeout?: number) => void) & {
  skip: (name: string, fn: TestFn, timeout?: number) => void;
  skipIf: (
    cond: unknown,
  ) => (name: string, fn: TestFn, timeout?: number) => void;
  runIf: (
    cond: unknown,
  ) => (name: string, fn: TestFn, timeout?: number) => void;
};

export const describe: DescribeFn = Object.assign(
  (name: string, fn: () => void) => addBlock(name, fn, false),
  {
    skip: (name: string, fn: () => void) => addBlock(name, fn, true),
    skipIf: (cond: unknown) => (name: string, fn: () => void) => addBlock(name, fn, !!cond),
    runIf: (cond: unknown) => (name: string, fn: () => void) => addBlock(name, fn, !cond),
  },
);

export const test: TestApi = Object.assign(
  (name: string, fn: TestFn) => addTest(name, fn, false),
  {
    skip: (name: string, fn: TestFn) => addTest(name, fn, true),
    skipIf: (cond: unknown) => (name: string, fn: TestFn) => addTest(name, fn, !!cond),
    runIf: (cond: unknown) => (name: string, fn: TestFn) => addTest(name, fn, !cond),
  },
);
export const it = test;

export function beforeAll(fn: TestFn): void {
  current.beforeAll.push(fn);
}

export function afterAll(fn: TestFn): void {
  current.afterAll.push(fn);
}

function show(v: unknown): string {
  try {
    const s = typeof v === "bigint" ? `${v}n` : JSON.stringify(v, (_k, x) => {
      if (ArrayBuffer.isView(x) && !(x instanceof DataView)) {
        return Array.from(x as never);
      }
      return typeof x === "bigint" ? `${x}n` : x;
    });
    return s === undefined ? String(v) : s.length > 300 ? `${s.slice(0, 300)}...` : s;
  } catch {
    return String(v);
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) return false;
  if (ArrayBuffer.isView(a) || ArrayBuffer.isView(b)) {
    if (a.constructor !== b.constructor) return false;
    const x = a as unknown as ArrayLike<unknown>,
      y = b as unknown as ArrayLike<unknown>;
    if (x.length !== y.length) return false;
    for (let i = 0; i < x.length; i++) if (!Object.is(x[i], y[i])) return false;
    return true;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (a instanceof Map && b instanceof Map) {
    return a.size === b.size &&
      [...a].every(([k, v]) => b.has(k) && deepEqual(v, b.get(k)));
  }
  if (a instanceof Set && b instanceof Set) {
    return a.size === b.size && [...a].every((v) => b.has(v));
  }
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) =>
    deepEqual(
      (a as Record<string, unknown>)[k],
      (b as Record<string, unknown>)[k],
    )
  );
}

function errorMatches(
  e: unknown,
  want?: string | RegExp | (new (...a: never[]) => unknown),
) {
  if (want === undefined) return true;
  const message = e instanceof Error ? e.message : String(e);
  if (typeof want === "string") return message.includes(want);
  if (want instanceof RegExp) return want.test(message);
  return e instanceof want;
}

type Matchers = {
  toBe(want: unknown): void;
  toEqual(want: unknown): void;
  toStrictEqual(want: unknown): void;
  toBeCloseTo(want: number, digits?: number): void;
  toBeGreaterThan(n: number): void;
  toBeGreaterThanOrEqual(n: number): void;
  toBeLessThan(n: number): void;
  toBeLessThanOrEqual(n: number): void;
  toBeTruthy(): void;
  toBeFalsy(): void;
  toBeNull(): void;
  toBeUndefined(): void;
  toBeDefined(): void;
  toContain(item: unknown): void;
  toMatch(re: RegExp | string): void;
  toHaveLength(n: number): void;
  toThrow(want?: string | RegExp | (new (...a: never[]) => unknown)): void;
};

function matchers(actual: unknown, negate: boolean): Matchers {
  const check = (ok: boolean, what: string) => {
    if (ok === negate) {
      throw new Error(
        `expected ${show(actual)} ${negate ? "not " : ""}${what}`,
      );
    }
  };
  const num = actual as number;
  return {
    toBe: (want) => check(Object.is(actual, want), `to be ${show(want)}`),
    toEqual: (want) => check(deepEqual(actual, want), `to equal ${show(want)}`),
    toStrictEqual: (want) => check(deepEqual(actual, want), `to strictly equal ${show(want)}`),
    toBeCloseTo: (want, digits = 2) =>
      check(
        Math.abs(num - want) < 10 ** -digits / 2 || num === want,
        `to be close to ${want} (${digits} digits)`,
      ),
    toBeGreaterThan: (n) => check(num > n, `to be > ${n}`),
    toBeGreaterThanOrEqual: (n) => check(num >= n, `to be >= ${n}`),
    toBeLessThan: (n) => check(num < n, `to be < ${n}`),
    toBeLessThanOrEqual: (n) => check(num <= n, `to be <= ${n}`),
    toBeTruthy: () => check(!!actual, "to be truthy"),
    toBeFalsy: () => check(!actual, "to be falsy"),
    toBeNull: () => check(actual === null, "to be null"),
    toBeUndefined: () => check(actual === undefined, "to be undefined"),
    toBeDefined: () => check(actual !== undefined, "to be defined"),
    toContain: (item) =>
      check(
        typeof actual === "string"
          ? actual.includes(item as string)
          : Array.from(actual as Iterable<unknown>).includes(item),
        `to contain ${show(item)}`,
      ),
    toMatch: (re) =>
      check(
        typeof re === "string" ? String(actual).includes(re) : re.test(String(actual)),
        `to match ${re}`,
      ),
    toHaveLength: (n) => check((actual as { length: number }).length === n, `to have length ${n}`),
    toThrow: (want) => {
      let thrown = false, error: unknown;
      try {
        (actual as () => unknown)();
      } catch (e) {
        thrown = true;
        error = e;
      }
      const ok = thrown && errorMatches(error, want);
      if (ok === negate) {
        throw new Error(
          thrown
            ? `expected the error ${negate ? "not " : ""}to match ${String(want)}, got: ${
              error instanceof Error ? error.message : String(error)
            }`
            : `expected a throw${want ? ` matching ${String(want)}` : ""}`,
        );
      }
    },
  };
}

type AsyncMatchers = {
  [K in keyof Matchers]: (...a: Parameters<Matchers[K]>) => Promise<void>;
};

function settled(
  promise: unknown,
  wantReject: boolean,
  negate: boolean,
): AsyncMatchers {
  const names = Object.keys(matchers(undefined, false)) as (keyof Matchers)[];
  const out = {} as Record<string, (...a: unknown[]) => Promise<void>>;
  for (const name of names) {
    out[name] = async (...args: unknown[]) => {
      let value: unknown, rejected = false;
      try {
        value = await promise;
      } catch (e) {
        value = e;
        rejected = true;
      }
      if (rejected !== wantReject) {
        throw new Error(
          wantReject ? `expected a rejection, got ${show(value)}` : `rejected: ${show(value)}`,
        );
      }
      const subject = name === "toThrow"
        ? () => {
          throw value;
        }
        : value;
      (matchers(subject, negate)[name] as (...a: unknown[]) => void)(...args);
    };
  }
  return out as unknown as AsyncMatchers;
}

export function expect(actual: unknown): Matchers & {
  not: Matchers;
  rejects: AsyncMatchers & { not: AsyncMatchers };
  resolves: AsyncMatchers & { not: AsyncMatchers };
} {
  return Object.assign(matchers(actual, false), {
    not: matchers(actual, true),
    rejects: Object.assign(settled(actual, true, false), {
      not: settled(actual, true, true),
    }),
    resolves: Object.assign(settled(actual, false, false), {
      not: settled(actual, false, true),
    }),
  });
}
