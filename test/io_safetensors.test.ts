import { describe, expect, test } from "vitest";
import type { RawTensor } from "../src/io/raw_tensor.ts";
import {
  encodeSafetensors,
  loadSafetensors,
  readSafetensors,
  SafetensorsFile,
  saveSafetensors,
} from "../src/io/safetensors.ts";

const FIXTURES = "/work/shared/fixtures";

/** Builds a safetensors file from a raw header object and data bytes (no validation). */
function craft(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  if (pad && json.length % 8 !== 0) {
    const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
    padded.set(json);
    json = padded;
  }
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

const SAMPLE: Record<string, RawTensor> = {
  weight: { dtype: "f32", shape: [2, 3], data: new Float32Array([1.5, -2, 3.25, 0, 1e-20, -7e10]) },
  double: { dtype: "f64", shape: [2], data: new Float64Array([1 / 3, -1e300]) },
  index: { dtype: "i32", shape: [3], data: new Int32Array([-2147483648, 0, 2147483647]) },
  pixels: { dtype: "u8", shape: [2, 2], data: new Uint8Array([0, 17, 128, 255]) },
  mask: { dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) },
  scalar: { dtype: "f32", shape: [], data: new Float32Array([42.5]) },
  empty: { dtype: "i32", shape: [0, 4], data: new Int32Array(0) },
};

function expectSameTensors(actual: Map<string, RawTensor>, expected: Record<string, RawTensor>) {
  expect([...actual.keys()].sort()).toEqual(Object.keys(expected).sort());
  for (const [key, tensor] of Object.entries(expected)) {
    const got = actual.get(key)!;
    expect(got.dtype).toBe(tensor.dtype);
    expect(got.shape).toEqual(tensor.shape);
    expect(got.data.constructor).toBe(tensor.data.constructor);
    expect(Array.from(got.data)).toEqual(Array.from(tensor.data));
  }
}

describe("safetensors round trip", () => {
  test("every RawDType survives encode/read with metadata", () => {
    const bytes = encodeSafetensors(SAMPLE, { note: "hello", n: "3" });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    expect(bytes[8 + headerLength - 1]).toBe(0x20);
    const { tensors, metadata } = readSafetensors(bytes);
    expect(metadata).toEqual({ note: "hello", n: "3" });
    expectSameTensors(tensors, SAMPLE);
  });

  test("header records the file dtype names and aligned offsets", () => {
    const bytes = encodeSafetensors(new Map(Object.entries(SAMPLE)));
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.mask.dtype).toBe("BOOL");
    expect(header.index.dtype).toBe("I32");
    expect(header.double.dtype).toBe("F64");
    expect(header.double.data_offsets).toEqual([0, 16]);
    expect(header.__metadata__).toBeUndefined();
  });

  test("save is atomic and loadSafetensors / lazy file read agree", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/sample.safetensors`;
      await saveSafetensors(path, SAMPLE, { kind: "sample" });
      expect([...Deno.readDirSync(dir)].map((e) => e.name)).toEqual(["sample.safetensors"]);
      const loaded = await loadSafetensors(path);
      expectSameTensors(loaded.tensors, SAMPLE);
      using file = await SafetensorsFile.open(path);
      expect(file.metadata).toEqual({ kind: "sample" });
      expect(file.keys().sort()).toEqual(Object.keys(SAMPLE).sort());
      expect(file.info("weight")).toEqual({
        fileDType: "F32",
        dtype: "f32",
        shape: [2, 3],
        byteLength: 24,
      });
      const mask = await file.read("mask");
      expect(Array.from(mask.data)).toEqual([1, 0, 1]);
      await expect(file.read("missing")).rejects.toThrow(/no tensor named "missing"/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });

  test("bool data is normalised to 0/1 and invalid tensors are rejected on write", () => {
    const bytes = encodeSafetensors({
      m: { dtype: "bool", shape: [2], data: new Uint8Array([0, 7]) },
    });
    expect(Array.from(readSafetensors(bytes).tensors.get("m")!.data)).toEqual([0, 1]);
    expect(() => encodeSafetensors({ w: { dtype: "f32", shape: [3], data: new Float32Array(2) } }))
      .toThrow(/tensor "w": shape \[3\] needs 3 values but data has 2/);
    expect(() => encodeSafetensors({ w: { dtype: "f64", shape: [1], data: new Float32Array(1) } }))
      .toThrow(/tensor "w": dtype f64 does not match data Float32Array/);
  });
});

describe("safetensors file dtypes converted on read", () => {
  test("F16 and BF16 widen to f32", () => {
    const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff, 0xfc00]);
    const bf16 = new Uint16Array([0x3f80, 0xc049, 0x0001]);
    const data = new Uint8Array([...bytesOf(f16), ...bytesOf(bf16)]);
    const { tensors } = readSafetensors(craft({
      h: { dtype: "F16", shape: [5], data_offsets: [0, 10] },
      b: { dtype: "BF16", shape: [3], data_offsets: [10, 16] },
    }, data));
    expect(tensors.get("h")!.dtype).toBe("f32");
    expect(Array.from(tensors.get("h")!.data)).toEqual([1, -2, 2 ** -24, 65504, -Infinity]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([
      1,
      -3.140625,
      new Float32Array(new Uint32Array([0x00010000]).buffer)[0],
    ]);
  });

  test("f32 written as F16 on request: rounded to nearest even, other dtypes untouched", () => {
    const values = [
      1,
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -25,
      -65504,
      0.1,
    ];
    const bytes = encodeSafetensors(
      {
        w: { dtype: "f32", shape: [8], data: new Float32Array(values) },
        i: { dtype: "i32", shape: [2], data: new Int32Array([7, -7]) },
      },
      undefined,
      { halfFloats: true },
    );
    const { tensors } = readSafetensors(bytes);
    const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + n)));
    expect(header.w.dtype).toBe("F16");
    expect(header.w.data_offsets[1] - header.w.data_offsets[0]).toBe(16);
    expect(header.i.dtype).toBe("I32");
    expect(Array.from(tensors.get("w")!.data)).toEqual(
      [1, 1, 1 + 2 ** -9, 2 ** -24, 0, 2 ** -23, -65504, 0.0999755859375],
    );
    expect(Array.from(tensors.get("i")!.data)).toEqual([7, -7]);
    expect(() =>
      encodeSafetensors(
        { big: { dtype: "f32", shape: [2], data: new Float32Array([1, 7e4]) } },
        {},
        {
          halfFloats: true,
        },
      )
    ).toThrow(/"big".*70000.*index 1.*float16/);
  });

  test("every half value survives decode then encode, and random floats round as f16round", () => {
    const every = new Uint16Array(65536).map((_, i) => i);
    const decoded = readSafetensors(
      craft({ h: { dtype: "F16", shape: [65536], data_offsets: [0, 131072] } }, bytesOf(every)),
    ).tensors.get("h")!.data as Float32Array;
    const finite = decoded.filter((v) => !Number.isNaN(v));
    const again = readSafetensors(encodeSafetensors(
      { h: { dtype: "f32", shape: [finite.length], data: finite } },
      undefined,
      { halfFloats: true },
    )).tensors.get("h")!.data as Float32Array;
    expect(Object.is(again[0], finite[0]) && Object.is(again[32768], finite[32768])).toBe(true);
    expect(Array.from(again)).toEqual(Array.from(finite));
    const f16round = (Math as { f16round?: (x: number) => number }).f16round;
    if (!f16round) return;
    let seed = 12345;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const xs = Float32Array.from(
      { length: 5000 },
      () => (random() - 0.5) * 2 ** (random() * 38 - 24),
    );
    const rounded = readSafetensors(encodeSafetensors(
      { x: { dtype: "f32", shape: [xs.length], data: xs } },
      undefined,
      { halfFloats: true },
    )).tensors.get("x")!.data;
    expect(Array.from(rounded)).toEqual(Array.from(xs, (x) => f16round(x)));
  });

  test("I64 narrows to i32 and errors naming the key when out of range", () => {
    const ok = new BigInt64Array([-2147483648n, 5n, 2147483647n]);
    const { tensors } = readSafetensors(
      craft({ ids: { dtype: "I64", shape: [3], data_offsets: [0, 24] } }, bytesOf(ok)),
    );
    expect(tensors.get("ids")!.dtype).toBe("i32");
    expect(Array.from(tensors.get("ids")!.data)).toEqual([-2147483648, 5, 2147483647]);
    const bad = new BigInt64Array([1n, 2147483648n]);
    expect(() =>
      readSafetensors(
        craft({ big_ids: { dtype: "I64", shape: [2], data_offsets: [0, 16] } }, bytesOf(bad)),
      )
    ).toThrow(/tensor "big_ids" \(I64\): value 2147483648 at index 1 does not fit in int32/);
  });

  test("I8, I16, U16 widen to i32", () => {
    const data = new Uint8Array([
      ...bytesOf(new Int8Array([-128, 127])),
      ...bytesOf(new Int16Array([-32768, 300])),
      ...bytesOf(new Uint16Array([65535, 1])),
    ]);
    const { tensors } = readSafetensors(craft({
      a: { dtype: "I8", shape: [2], data_offsets: [0, 2] },
      b: { dtype: "I16", shape: [2], data_offsets: [2, 6] },
      c: { dtype: "U16", shape: [2], data_offsets: [6, 10] },
    }, data));
    expect(Array.from(tensors.get("a")!.data)).toEqual([-128, 127]);
    expect(Array.from(tensors.get("b")!.data)).toEqual([-32768, 300]);
    expect(Array.from(tensors.get("c")!.data)).toEqual([65535, 1]);
    expect(tensors.get("c")!.data).toBeInstanceOf(Int32Array);
  });
});

describe("safetensors header validation", () => {
  const f32 = (offsets: number[], shape = [2]) => ({ dtype: "F32", shape, data_offsets: offsets });

  test.each([
    [
      "file shorter than 8 bytes",
      new Uint8Array([1, 2, 3]),
      /3 bytes, too short for the 8-byte header length/,
    ],
    [
      "header length past the end",
      craft({ x: f32([0, 8]) }, new Uint8Array(8)).subarray(0, 20),
      /runs past the end of the 20-byte file \(truncated\?\)/,
    ],
    [
      "huge header length",
      (() => {
        const b = new Uint8Array(16);
        new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
        return b;
      })(),
      /exceeds the 100000000-byte limit/,
    ],
    [
      "truncated data",
      craft({ x: f32([0, 8]) }, new Uint8Array(5)),
      /tensor "x": data_offsets \[0, 8\] are out of range \(data section is 5 bytes\)/,
    ],
    ["bad JSON", craft('{"x": {"dtype": "F32",'), /header is not valid JSON/],
    ["JSON that is not an object", craft("[1, 2]"), /header must be a JSON object/],
    [
      "overlapping offsets",
      craft({ a: f32([0, 8]), b: f32([4, 12]) }, new Uint8Array(12)),
      /tensor "b" data_offsets \[4, 12\] overlap tensor "a"/,
    ],
    [
      "out-of-range offset",
      craft({ a: f32([0, 8]), b: f32([8, 16]) }, new Uint8Array(8)),
      /tensor "b": data_offsets \[8, 16\] are out of range/,
    ],
    [
      "unknown dtype",
      craft({ a: { dtype: "F128", shape: [1], data_offsets: [0, 16] } }, new Uint8Array(16)),
      /tensor "a": unknown or unsupported dtype "F128"/,
    ],
    [
      "dtype size mismatch",
      craft({ a: f32([0, 12], [2]) }, new Uint8Array(12)),
      /tensor "a": data_offsets span 12 bytes but F32 \[2\] needs 8/,
    ],
    [
      "gap between tensors",
      craft({ a: f32([0, 8]), b: f32([12, 20]) }, new Uint8Array(20)),
      /bytes 8\.\.12 before tensor "b" are not covered/,
    ],
    [
      "trailing bytes not covered",
      craft({ a: f32([0, 8]) }, new Uint8Array(10)),
      /tensors cover 8 bytes but the data section is 10 bytes/,
    ],
    [
      "non-string metadata",
      craft({ __metadata__: { epoch: 3 } }),
      /__metadata__ key "epoch" must be a string/,
    ],
    [
      "negative shape",
      craft({ a: f32([0, 8], [-2]) }, new Uint8Array(8)),
      /tensor "a": "shape" must be an array of non-negative integers/,
    ],
    [
      "missing offsets",
      craft({ a: { dtype: "F32", shape: [1] } }, new Uint8Array(4)),
      /tensor "a": "data_offsets" must be \[begin, end\]/,
    ],
  ])("%s", (_name, bytes, message) => {
    expect(() => readSafetensors(bytes as Uint8Array, "bad.safetensors")).toThrow(
      message as RegExp,
    );
  });

  test("lazy open reports the path and truncation", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const path = `${dir}/cut.safetensors`;
      await Deno.writeFile(path, encodeSafetensors(SAMPLE).subarray(0, 30));
      await expect(SafetensorsFile.open(path)).rejects.toThrow(
        new RegExp(`${path}: header length \\d+ runs past the end of the 30-byte file`),
      );
      await expect(SafetensorsFile.open(`${dir}/none.safetensors`)).rejects.toThrow(/cannot open/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

describe("golden fixtures", () => {
  test("pos_sine loads with metadata, shapes and converted dtypes", async () => {
    const { tensors, metadata } = await loadSafetensors(`${FIXTURES}/pos_sine.safetensors`);
    expect(JSON.parse(metadata.seed)).toBeTypeOf("number");
    expect(Object.keys(metadata)).toEqual(
      expect.arrayContaining(["description", "tolerances", "config"]),
    );
    const shapes = Object.fromEntries([...tensors].map(([k, t]) => [k, [t.dtype, t.shape]]));
    expect(shapes).toEqual({
      "in.mask1d_bool_pad": ["bool", [2, 11]],
      "in.mask1d_int64_valid": ["i32", [2, 11]],
      "in.mask2d": ["bool", [2, 9, 13]],
      "in.x1d": ["f32", [2, 11, 256]],
      "in.x2d": ["f32", [2, 4, 9, 13]],
      "out.pos1d_bool": ["f32", [2, 256, 11]],
      "out.pos1d_int64": ["f32", [2, 256, 11]],
      "out.pos2d_128": ["f32", [2, 256, 9, 13]],
      "out.pos2d_32": ["f32", [2, 64, 9, 13]],
    });
    const valid = tensors.get("in.mask1d_int64_valid")!.data;
    const pad = tensors.get("in.mask1d_bool_pad")!.data;
    expect(valid.every((v) => v === 0 || v === 1)).toBe(true);
    // The int64 "valid" mask and the bool "padding" mask describe complementary positions.
    expect(Array.from(valid).map((v) => 1 - v)).toEqual(Array.from(pad));
    const pos = tensors.get("out.pos2d_128")!.data;
    expect(pos.every((v) => Math.abs(v) <= 1)).toBe(true);
  });

  test("every fixture parses, and lazy reads equal whole-file reads", async () => {
    const names = [...Deno.readDirSync(FIXTURES)].map((e) => e.name).filter((n) =>
      n.endsWith(".safetensors")
    );
    expect(names.length).toBeGreaterThanOrEqual(15);
    for (const name of names) {
      const path = `${FIXTURES}/${name}`;
      const whole = await loadSafetensors(path);
      using file = await SafetensorsFile.open(path);
      expect(file.keys().length).toBe(whole.tensors.size);
      expect(file.metadata).toEqual(whole.metadata);
      const last = file.keys().at(-1)!;
      const lazy = await file.read(last);
      expect(lazy.shape).toEqual(file.info(last).shape);
      expect(Array.from(lazy.data)).toEqual(Array.from(whole.tensors.get(last)!.data));
    }
  });
});
