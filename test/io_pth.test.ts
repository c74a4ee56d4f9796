import { describe, expect, test } from "vitest";
import { extractStateDict, loadPth, readPth } from "../src/io/pth.ts";
import type { RawTensor } from "../src/io/raw_tensor.ts";
import { isRawTensor } from "../src/io/raw_tensor.ts";
import { loadSafetensors, saveSafetensors } from "../src/io/safetensors.ts";

const DATA = new URL("./data/pth/", import.meta.url).pathname;
const expected = JSON.parse(Deno.readTextFileSync(`${DATA}expected.json`));

const TORCH_TO_RAW: Record<string, string> = {
  float32: "f32",
  float16: "f32",
  bfloat16: "f32",
  float64: "f64",
  int64: "i32",
  int32: "i32",
  int16: "i32",
  int8: "i32",
  uint8: "u8",
  bool: "bool",
};

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Compares a loaded value against its expected.json description, value by value. */
function expectMatches(actual: unknown, want: Json, path: string): void {
  if (want !== null && typeof want === "object" && !Array.isArray(want)) {
    if ("values" in want && "dtype" in want && "shape" in want) {
      expect(isRawTensor(actual), path).toBe(true);
      const tensor = actual as RawTensor;
      expect(tensor.dtype, path).toBe(TORCH_TO_RAW[want.dtype as string]);
      expect(tensor.shape, path).toEqual(want.shape);
      expect(Array.from(tensor.data), path).toEqual(want.values);
      return;
    }
    if ("__namespace__" in want) {
      expect(actual, path).toEqual(want.__namespace__);
      return;
    }
    expect(actual, path).toBeInstanceOf(Map);
    const map = actual as Map<unknown, unknown>;
    expect([...map.keys()].map(String).sort(), path).toEqual(Object.keys(want).sort());
    for (const [key, value] of map) expectMatches(value, want[String(key)], `${path}.${key}`);
    return;
  }
  if (Array.isArray(want)) {
    expect(Array.isArray(actual), path).toBe(true);
    expect((actual as unknown[]).length, path).toBe(want.length);
    want.forEach((w, i) => expectMatches((actual as unknown[])[i], w, `${path}[${i}]`));
    return;
  }
  expect(actual, path).toBe(want);
}

const FIXTURES = ["dtypes", "shared", "strided", "checkpoint"];

describe("torch.save files (zip and legacy)", () => {
  test.each(FIXTURES.flatMap((name) => [[name, "zip"], [name, "legacy"]]))(
    "%s_%s.pth matches expected.json",
    async (name, format) => {
      const value = await loadPth(`${DATA}${name}_${format}.pth`);
      expectMatches(value, expected[name], name);
    },
  );

  test.each(FIXTURES)("%s: zip and legacy load identical values", async (name) => {
    const zip = await loadPth(`${DATA}${name}_zip.pth`);
    const legacy = await loadPth(`${DATA}${name}_legacy.pth`);
    expect(zip).toEqual(legacy);
  });

  test("shared storage with offsets gives independent contiguous tensors", async () => {
    const value = await loadPth(`${DATA}shared_legacy.pth`) as Map<string, RawTensor>;
    const a = value.get("a")!;
    const b = value.get("b")!;
    expect(a.shape).toEqual([2, 3]);
    expect(Array.from(a.data)).toEqual([1, 1.5, 2, 2.5, 3, 3.5]);
    expect(Array.from(b.data)).toEqual([2.5, 3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7]);
    expect(a.data.buffer).not.toBe(b.data.buffer);
    a.data[5] = -1;
    expect(b.data[2]).toBe(3.5);
  });

  test("non-contiguous strides are materialised in row-major order", async () => {
    const value = await loadPth(`${DATA}strided_zip.pth`) as Map<string, RawTensor>;
    const grid = Array.from({ length: 24 }, (_, i) => i - 3); // [4, 6] row-major
    const transposed = value.get("transposed")!;
    expect(transposed.shape).toEqual([6, 4]);
    const expectedT = Array.from({ length: 24 }, (_, i) => grid[(i % 4) * 6 + Math.floor(i / 4)]);
    expect(Array.from(transposed.data)).toEqual(expectedT);
    expect(Array.from(value.get("step_slice")!.data)).toEqual([3, 5, 7, 9, 11, 13, 15, 17, 19]);
    expect(Array.from(value.get("int_cols")!.data)).toEqual(
      [1, 4, 7, 10, 13, 16, 19, 22, 25, 28].map((v) => v * 1000),
    );
    expect(Array.from(value.get("expanded")!.data)).toEqual([1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3]);
  });

  test("checkpoint: Namespace args as a record, optimizer state, epoch", async () => {
    const ckpt = await loadPth(`${DATA}checkpoint_legacy.pth`) as Map<string, unknown>;
    expect(ckpt.get("epoch")).toBe(3);
    expect(ckpt.get("args")).toEqual({
      lr: 1e-4,
      backbone: "swin_t_p4w7",
      masks: true,
      num_frames: 5,
      lr_drop: [6, 8],
      dataset_file: "ytvos",
      resume: null,
    });
    const optimizer = ckpt.get("optimizer") as Map<string, unknown>;
    const state = optimizer.get("state") as Map<number, Map<string, RawTensor>>;
    expect([...state.keys()]).toEqual([0, 1, 2, 3]);
    const model = ckpt.get("model") as Map<string, RawTensor>;
    const params = ["proj.weight", "proj.bias", "norm.weight", "norm.bias"];
    params.forEach((name, id) => {
      expect(state.get(id)!.get("exp_avg")!.shape).toEqual(model.get(name)!.shape);
      expect(Array.from(state.get(id)!.get("step")!.data)).toEqual([1]);
    });
    const group = (optimizer.get("param_groups") as Map<string, unknown>[])[0];
    expect(group.get("lr")).toBe(1e-4);
    expect(group.get("betas")).toEqual([0.9, 0.999]);
    expect(group.get("params")).toEqual([0, 1, 2, 3]);
  });

  test.each(["misc_zip", "misc_legacy", "misc_protocol4_zip"])(
    "%s: plain Python values",
    async (name) => {
      const misc = await loadPth(`${DATA}${name}.pth`) as Map<string, unknown>;
      expect(misc.get("int_small")).toBe(5);
      expect(misc.get("int_neg")).toBe(-7);
      expect(misc.get("int_big")).toBe(2 ** 40);
      expect(misc.get("int_huge")).toBe(2n ** 70n);
      expect(misc.get("float")).toBe(1.5);
      expect(misc.get("str")).toBe("h\u00e9llo \u2713");
      expect(misc.get("bytes")).toEqual(new Uint8Array([0, 255, 97, 98]));
      expect(misc.get("tuple")).toEqual([1, "a"]);
      expect(misc.get("nested")).toEqual([1, [2, 3]]);
      expect(misc.get("set")).toEqual(new Set([1, 2, 3]));
      expect(misc.get("none")).toBe(null);
      expect(misc.get("true")).toBe(true);
      expect(misc.get("false")).toBe(false);
      expect(misc.get("int_keys")).toEqual(new Map([[1, "a"], [2, "b"]]));
      expect(misc.get("tensor")).toEqual({
        dtype: "f32",
        shape: [2],
        data: new Float32Array([1, 2]),
      });
    },
  );
});

describe("bad .pth input", () => {
  test.each(["malicious_raw", "malicious_zip"])("%s: os.system is refused", async (name) => {
    await expect(loadPth(`${DATA}${name}.pth`)).rejects.toThrow(
      /pickle: refusing global os\.system \(not in the allow-list\)/,
    );
  });

  test.each(["zip", "legacy"])("%s: int64 overflow names the tensor", async (format) => {
    await expect(loadPth(`${DATA}overflow_${format}.pth`)).rejects.toThrow(
      /tensor "ids" \(I64\): value 1099511627776 at index 1 does not fit in int32/,
    );
  });

  test("truncated zip checkpoint", () => {
    const bytes = Deno.readFileSync(`${DATA}checkpoint_zip.pth`);
    expect(() => readPth(bytes.subarray(0, bytes.length - 100), "cut.pth")).toThrow(
      /cut\.pth: not a readable zip archive \(truncated\?\)/,
    );
  });

  test("truncated legacy checkpoint, in the storage data and in the pickle", () => {
    const bytes = Deno.readFileSync(`${DATA}checkpoint_legacy.pth`);
    expect(() => readPth(bytes.subarray(0, bytes.length - 3), "cut.pth")).toThrow(
      /cut\.pth: storage "\d+" needs bytes \d+\.\.\d+ but the file has \d+ \(truncated\?\)/,
    );
    expect(() => readPth(bytes.subarray(0, 400), "cut.pth")).toThrow(
      /pickle: unexpected end of data: needed \d+ more bytes \(truncated file\?\) \(offset \d+ of cut\.pth\)/,
    );
  });

  test("non-checkpoint bytes and the pre-0.4 tar format are refused", () => {
    expect(() => readPth(new Uint8Array(0), "empty.pth")).toThrow(
      /empty\.pth: not a PyTorch checkpoint/,
    );
    const tar = new Uint8Array(1024);
    tar.set(new TextEncoder().encode("ustar"), 257);
    expect(() => readPth(tar, "old.pth")).toThrow(
      /tar checkpoint format of PyTorch < 0\.4 is not supported/,
    );
    const notTorch = new Uint8Array([0x80, 0x02, 0x4b, 0x05, 0x2e]); // pickle of the int 5
    expect(() => readPth(notTorch, "five.pth")).toThrow(/invalid legacy magic number/);
  });
});

describe("extractStateDict", () => {
  const t = (v: number): RawTensor => ({ dtype: "f32", shape: [1], data: new Float32Array([v]) });

  test("uses the checkpoint's model entry", async () => {
    const sd = extractStateDict(await loadPth(`${DATA}checkpoint_zip.pth`));
    expect([...sd.keys()]).toEqual([
      "counts",
      "proj.weight",
      "proj.bias",
      "norm.weight",
      "norm.bias",
    ]);
    expect(Array.from(sd.get("counts")!.data)).toEqual([1, 2]);
  });

  test("bare dicts, state_dict entries and module. prefixes", () => {
    const bare = extractStateDict(new Map([["module.a.weight", t(1)], ["b", t(2)]]));
    expect([...bare.keys()]).toEqual(["a.weight", "b"]);
    const nested = extractStateDict(
      new Map<string, unknown>([
        ["state_dict", { "module.x": t(3) }],
        ["epoch", 1],
      ]),
    );
    expect(nested.get("x")!.data[0]).toBe(3);
  });

  test("a dict of non-tensors is rejected with its keys", async () => {
    const misc = await loadPth(`${DATA}misc_zip.pth`);
    expect(() => extractStateDict(misc)).toThrow(/not a state dict \("int_small" is not a tensor/);
    expect(() => extractStateDict([1, 2])).toThrow(/checkpoint is not a dict/);
  });
});

describe("tools/convert_checkpoint.ts", () => {
  const run = async (...args: string[]) => {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "tools/convert_checkpoint.ts", ...args],
      cwd: new URL("..", import.meta.url).pathname,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b);
    return { code, stdout: decode(stdout), stderr: decode(stderr) };
  };

  test("pth -> safetensors round trip, GLIP family renaming and errors", async () => {
    const dir = await Deno.makeTempDir();
    try {
      const out = `${dir}/model.safetensors`;
      const result = await run(`${DATA}checkpoint_zip.pth`, out);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const bytes = (await Deno.stat(out)).size;
      expect(result.stdout.trim()).toBe(`wrote 5 tensors (${bytes} bytes) to ${out}`);
      const { tensors, metadata } = await loadSafetensors(out);
      expect(metadata).toEqual({ format: "pt", source: "checkpoint_zip.pth" });
      expectMatches(new Map(tensors), expected.checkpoint.model, "converted");

      const glipIn = `${dir}/glip.safetensors`;
      await saveSafetensors(glipIn, {
        "module.backbone.body.layers.0.weight": {
          dtype: "f32",
          shape: [1],
          data: new Float32Array([1]),
        },
        "module.language_backbone.body.model.embeddings.weight": {
          dtype: "f32",
          shape: [1],
          data: new Float32Array([2]),
        },
        "module.rpn.head.weight": { dtype: "f32", shape: [1], data: new Float32Array([3]) },
      });
      const glipOut = `${dir}/glip_out.safetensors`;
      const glip = await run(glipIn, glipOut, "--family", "glip", "--prefix", "backbone.0.");
      expect(glip.code).toBe(0);
      const converted = (await loadSafetensors(glipOut)).tensors;
      expect([...converted.keys()]).toEqual(["body.layers.0.weight"]);

      const missing = await run(`${dir}/nope.pth`, `${dir}/x.safetensors`);
      expect(missing.code).toBe(1);
      expect(missing.stderr.trim()).toBe(
        `convert_checkpoint: input file not found: ${dir}/nope.pth`,
      );
      const bad = await run(`${DATA}malicious_zip.pth`, `${dir}/x.safetensors`);
      expect(bad.code).toBe(1);
      expect(bad.stderr).toMatch(/^convert_checkpoint: pickle: refusing global os\.system/);
      expect([...Deno.readDirSync(dir)].map((e) => e.name).sort()).toEqual(
        ["glip.safetensors", "glip_out.safetensors", "model.safetensors"],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});
