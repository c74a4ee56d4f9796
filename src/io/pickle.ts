/**
 * Restricted pickle virtual machine (protocols 0-5 subset used by torch.save and plain Python
 * containers). Globals resolve only through an allow-list of JS stand-ins; no code is executed.
 * Python values map to: dict -> Map, list/tuple -> Array, set -> Set, str -> string,
 * bytes -> Uint8Array, int -> number (bigint beyond 2^53), float -> number, None -> null.
 */
import { BASE_GLOBALS, type GlobalTable, PyGlobal } from "./pickle_globals.ts";
import { narrowInteger, PickleReader } from "./pickle_reader.ts";

export { BASE_GLOBALS, defineGlobals, type GlobalTable, PyGlobal } from "./pickle_globals.ts";
export type { PyGlobalBehaviour } from "./pickle_globals.ts";

export interface UnpickleOptions {
  /** Allowed globals, keyed "module.name"; defaults to BASE_GLOBALS. */
  globals?: GlobalTable;
  /** Resolves PERSID / BINPERSID ids (torch storages). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Names the input in error messages. */
  source?: string;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode, where a following pickle would start. */
  end: number;
}

/** Opcode names, used only for error messages. */
const OPCODE_NAMES: Record<number, string> = {
  0x80: "PROTO",
  0x95: "FRAME",
  0x82: "EXT1",
  0x83: "EXT2",
  0x84: "EXT4",
  0x97: "NEXT_BUFFER",
  0x98: "READONLY_BUFFER",
  0x53: "STRING",
};

class PickleMachine {
  private readonly stack: unknown[] = [];
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly creators = new WeakMap<object, PyGlobal>();
  private readonly globals: GlobalTable;
  private opcodeStart = 0;

  constructor(private readonly reader: PickleReader, private readonly options: UnpickleOptions) {
    this.globals = options.globals ?? BASE_GLOBALS;
  }

  private fail(message: string): Error {
    return this.reader.error(message, this.opcodeStart);
  }

  private pop(): unknown {
    if (this.stack.length === 0 || this.stack.length <= (this.marks.at(-1) ?? -1)) {
      throw this.fail("stack underflow (corrupt pickle)");
    }
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) throw this.fail("stack underflow (corrupt pickle)");
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const start = this.marks.pop();
    if (start === undefined) throw this.fail("MARK expected but missing (corrupt pickle)");
    return this.stack.splice(start);
  }

  private resolveGlobal(module: string, name: string): unknown {
    const qualified = `${module}.${name}`;
    if (!this.globals.has(qualified)) {
      const shown = qualified.length > 120 ? `${qualified.slice(0, 117)}...` : qualified;
      // deno-lint-ignore no-control-regex
      const printable = shown.replace(/[\x00-\x1f\x7f]/g, "?");
      throw this.fail(`refusing global ${printable} (not in the allow-list)`);
    }
    return this.globals.get(qualified);
  }

  private invoke(callable: unknown, args: unknown, opcode: string): unknown {
    if (!(callable instanceof PyGlobal) || !callable.behaviour.call) {
      const what = callable instanceof PyGlobal ? callable.qualifiedName : typeof callable;
      throw this.fail(`${opcode} on non-callable ${what}`);
    }
    if (!Array.isArray(args)) throw this.fail(`${opcode} arguments must be a tuple`);
    let result: unknown;
    try {
      result = callable.behaviour.call(args);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw this.fail(`${callable.qualifiedName}(...) failed: ${reason}`);
    }
    if (typeof result === "object" && result !== null) this.creators.set(result, callable);
    return result;
  }

  private build(target: unknown, state: unknown): void {
    const creator = typeof target === "object" && target !== null
      ? this.creators.get(target)
      : undefined;
    if (creator?.behaviour.build) {
      creator.behaviour.build(target as object, state);
      return;
    }
    const what = creator?.qualifiedName ?? (target as object)?.constructor?.name ?? typeof target;
    throw this.fail(`BUILD (__setstate__) is not supported for ${what}`);
  }

  private setItems(items: unknown[]): void {
    const dict = this.top();
    if (!(dict instanceof Map)) throw this.fail("SETITEM(S) target is not a dict");
    if (items.length % 2 !== 0) throw this.fail("SETITEMS needs key/value pairs");
    for (let i = 0; i < items.length; i += 2) dict.set(items[i], items[i + 1]);
  }

  private appendItems(items: unknown[]): void {
    const list = this.top();
    if (!Array.isArray(list)) throw this.fail("APPEND(S) target is not a list");
    for (const item of items) list.push(item);
  }

  private addItems(items: unknown[]): void {
    const set = this.top();
    if (!(set instanceof Set)) throw this.fail("ADDITEMS target is not a set");
    for (const item of items) set.add(item);
  }

  private persistent(pid: unknown): unknown {
    if (!this.options.persistentLoad) {
      throw this.fail("persistent id found but no persistent_load handler is available");
    }
    return this.options.persistentLoad(pid);
  }

  private get(index: number): unknown {
    if (!this.memo.has(index)) throw this.fail(`memo key ${index} is missing (corrupt pickle)`);
    return this.memo.get(index);
  }

  private put(index: number): void {
    this.memo.set(index, this.top());
  }

  private textInteger(line: string): number | bigint | boolean {
    if (line === "01") return true;
    if (line === "00") return false;
    const digits = line.endsWith("L") ? line.slice(0, -1) : line;
    if (!/^[+-]?\d+$/.test(digits)) throw this.fail(`invalid integer literal ${line}`);
    return narrowInteger(BigInt(digits));
  }

  run(): unknown {
    const r = this.reader;
    const s = this.stack;
    for (;;) {
      this.opcodeStart = r.position;
      const op = r.u8();
      switch (op) {
        case 0x80: // PROTO
          if (r.u8() > 5) throw this.fail("unsupported pickle protocol");
          break;
        case 0x95: // FRAME: framing is only a buffering hint
          r.u64();
          break;
        case 0x2e: // STOP
          return this.pop();
        case 0x28: // MARK
          this.marks.push(s.length);
          break;
        case 0x30: // POP
          if (s.length === this.marks.at(-1)) this.popMark();
          else this.pop();
          break;
        case 0x31: // POP_MARK
          this.popMark();
          break;
        case 0x32: // DUP
          s.push(this.top());
          break;
        case 0x4e: // NONE
          s.push(null);
          break;
        case 0x88: // NEWTRUE
          s.push(true);
          break;
        case 0x89: // NEWFALSE
          s.push(false);
          break;
        case 0x4a: // BININT
          s.push(r.i32());
          break;
        case 0x4b: // BININT1
          s.push(r.u8());
          break;
        case 0x4d: // BININT2
          s.push(r.u16());
          break;
        case 0x8a: // LONG1
          s.push(r.signedInteger(r.u8()));
          break;
        case 0x8b: { // LONG4
          const n = r.i32();
          if (n < 0) throw this.fail("negative LONG4 length");
          s.push(r.signedInteger(n));
          break;
        }
        case 0x49: // INT
        case 0x4c: // LONG
          s.push(this.textInteger(r.line()));
          break;
        case 0x47: // BINFLOAT
          s.push(r.f64BigEndian());
          break;
        case 0x46: // FLOAT
          s.push(Number.parseFloat(r.line()));
          break;
        case 0x8c: // SHORT_BINUNICODE
          s.push(r.utf8(r.u8()));
          break;
        case 0x58: // BINUNICODE
          s.push(r.utf8(r.u32()));
          break;
        case 0x8d: // BINUNICODE8
          s.push(r.utf8(r.u64()));
          break;
        case 0x56: // UNICODE (raw-unicode-escape)
          s.push(
            r.line("latin1").replace(
              /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
              (_, short, long) => String.fromCodePoint(Number.parseInt(short ?? long, 16)),
            ),
          );
          break;
        case 0x55: // SHORT_BINSTRING (Python 2 str)
          s.push(r.latin1(r.u8()));
          break;
        case 0x54: { // BINSTRING
          const n = r.i32();
          if (n < 0) throw this.fail("negative BINSTRING length");
          s.push(r.latin1(n));
          break;
        }
        case 0x43: // SHORT_BINBYTES
          s.push(r.bytesOf(r.u8()));
          break;
        case 0x42: // BINBYTES
          s.push(r.bytesOf(r.u32()));
          break;
        case 0x8e: // BINBYTES8
        case 0x96: // BYTEARRAY8
          s.push(r.bytesOf(r.u64()));
          break;
        case 0x7d: // EMPTY_DICT
          s.push(new Map());
          break;
        case 0x5d: // EMPTY_LIST
        case 0x29: // EMPTY_TUPLE
          s.push([]);
          break;
        case 0x8f: // EMPTY_SET
          s.push(new Set());
          break;
        case 0x64: { // DICT
          const items = this.popMark();
          const dict = new Map();
          for (let i = 0; i + 1 < items.length; i += 2) dict.set(items[i], items[i + 1]);
          s.push(dict);
          break;
        }
        case 0x6c: // LIST
        case 0x74: // TUPLE
          s.push(this.popMark());
          break;
        case 0x91: // FROZENSET
          s.push(new Set(this.popMark()));
          break;
        case 0x85: // TUPLE1
          s.push([this.pop()]);
          break;
        case 0x86: { // TUPLE2
          const b = this.pop();
          s.push([this.pop(), b]);
          break;
        }
        case 0x87: { // TUPLE3
          const c = this.pop();
          const b = this.pop();
          s.push([this.pop(), b, c]);
          break;
        }
        case 0x73: { // SETITEM
          const value = this.pop();
          const key = this.pop();
          this.setItems([key, value]);
          break;
        }
        case 0x75: // SETITEMS
          this.setItems(this.popMark());
          break;
        case 0x61: // APPEND
          this.appendItems([this.pop()]);
          break;
        case 0x65: // APPENDS
          this.appendItems(this.popMark());
          break;
        case 0x90: // ADDITEMS
          this.addItems(this.popMark());
          break;
        case 0x70: // PUT
          this.put(Number(this.textInteger(r.line())));
          break;
        case 0x71: // BINPUT
          this.put(r.u8());
          break;
        case 0x72: // LONG_BINPUT
          this.put(r.u32());
          break;
        case 0x94: // MEMOIZE
          this.put(this.memo.size);
          break;
        case 0x67: // GET
          s.push(this.get(Number(this.textInteger(r.line()))));
          break;
        case 0x68: // BINGET
          s.push(this.get(r.u8()));
          break;
        case 0x6a: // LONG_BINGET
          s.push(this.get(r.u32()));
          break;
        case 0x63: { // GLOBAL
          const module = r.line();
          s.push(this.resolveGlobal(module, r.line()));
          break;
        }
        case 0x93: { // STACK_GLOBAL
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== "string" || typeof name !== "string") {
            throw this.fail("STACK_GLOBAL needs str module and name");
          }
          s.push(this.resolveGlobal(module, name));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop();
          s.push(this.invoke(this.pop(), args, "REDUCE"));
          break;
        }
        case 0x81: { // NEWOBJ
          const args = this.pop();
          s.push(this.invoke(this.pop(), args, "NEWOBJ"));
          break;
        }
        case 0x92: { // NEWOBJ_EX
          const kwargs = this.pop();
          const args = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0) {
            throw this.fail("NEWOBJ_EX with keyword arguments is not supported");
          }
          s.push(this.invoke(this.pop(), args, "NEWOBJ_EX"));
          break;
        }
        case 0x69: { // INST
          const module = r.line();
          const callable = this.resolveGlobal(module, r.line());
          s.push(this.invoke(callable, this.popMark(), "INST"));
          break;
        }
        case 0x6f: { // OBJ
          const [callable, ...args] = this.popMark();
          s.push(this.invoke(callable, args, "OBJ"));
          break;
        }
        case 0x62: { // BUILD
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case 0x50: // PERSID
          s.push(this.persistent(r.line()));
          break;
        case 0x51: // BINPERSID
          s.push(this.persistent(this.pop()));
          break;
        default: {
          const name = OPCODE_NAMES[op];
          const hex = `0x${op.toString(16).padStart(2, "0")}`;
          throw this.fail(
            name
              ? `opcode ${name} (${hex}) is not supported`
              : `unknown opcode ${hex} (corrupt pickle?)`,
          );
        }
      }
    }
  }
}

/** Runs one pickle starting at `start` and returns its value and end offset. */
export function unpickle(
  bytes: Uint8Array,
  options: UnpickleOptions = {},
  start = 0,
): UnpickleResult {
  const reader = new PickleReader(bytes, start, options.source ?? "pickle data");
  const value = new PickleMachine(reader, options).run();
  return { value, end: reader.position };
}
