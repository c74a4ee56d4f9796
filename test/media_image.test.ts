import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  decodeImage,
  decodeJpeg,
  decodePngRgb,
  encodeJpeg,
  jpegBackend,
  readImage,
  type RgbImage,
  setJpegBackend,
  writeJpeg,
} from "../src/media/mod.ts";

const DATA = new URL("./data/media/", import.meta.url).pathname;

function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      data.set([(x * 255) / (width - 1), (y * 255) / (height - 1), 128], (y * width + x) * 3);
    }
  }
  return { width, height, data };
}

function diffStats(a: Uint8Array, b: Uint8Array) {
  let max = 0, sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    max = Math.max(max, d);
    sum += d;
  }
  return { max, mean: sum / a.length };
}

async function fixture(name: string) {
  const bytes = await Deno.readFile(DATA + name);
  const expected = await Deno.readFile(DATA + name + ".rgb");
  return { bytes, expected };
}

describe("jpeg codec", () => {
  test("sharp loads and is the default backend", async () => {
    expect(await jpegBackend()).toBe("sharp");
  });

  test("encode then decode keeps size and values", async () => {
    const image = gradient(40, 30);
    const jpeg = await encodeJpeg(image, 95);
    expect([...jpeg.subarray(0, 3)]).toEqual([0xff, 0xd8, 0xff]);
    const back = await decodeJpeg(jpeg);
    expect([back.width, back.height]).toEqual([40, 30]);
    const { max, mean } = diffStats(back.data, image.data);
    expect(mean).toBeLessThan(1.5);
    expect(max).toBeLessThan(12);
  });

  test("lower quality gives a smaller file", async () => {
    const image = gradient(64, 64);
    expect((await encodeJpeg(image, 30)).length).toBeLessThan((await encodeJpeg(image, 95)).length);
  });

  for (const name of ["pil_420.jpg", "pil_gray.jpg", "pil_cmyk.jpg"]) {
    test(`${name} decodes bit-exactly like PIL`, async () => {
      const { bytes, expected } = await fixture(name);
      const image = await decodeImage(bytes);
      expect([image.width, image.height]).toEqual([61, 43]);
      expect(image.data.length).toBe(expected.length);
      expect(diffStats(image.data, expected).max).toBe(0);
    });
  }

  test("writeJpeg writes atomically and readImage reads it back", async () => {
    const dir = await Deno.makeTempDir();
    const path = `${dir}/frame.jpg`;
    await writeJpeg(path, gradient(20, 10), 90);
    expect(await Array.fromAsync(Deno.readDir(dir), (e) => e.name)).toEqual(["frame.jpg"]);
    const image = await readImage(path);
    expect([image.width, image.height]).toEqual([20, 10]);
    await expect(writeJpeg(`${dir}/missing/x.jpg`, gradient(4, 4))).rejects.toThrow(
      /cannot write .*missing\/x\.jpg/,
    );
    await Deno.remove(dir, { recursive: true });
  });

  test("rejects bad quality and mis-sized images", async () => {
    await expect(encodeJpeg(gradient(4, 4), 0)).rejects.toThrow("quality 0 not in 1..100");
    const bad = { width: 4, height: 4, data: new Uint8Array(10) };
    await expect(encodeJpeg(bad)).rejects.toThrow("data has 10 bytes, expected 48");
  });
});

describe("jpeg-js fallback", () => {
  beforeAll(async () => {
    expect(await setJpegBackend("jpeg-js")).toBe("jpeg-js");
  });
  afterAll(async () => {
    await setJpegBackend("sharp");
  });

  test("decodes PIL's JPEG closely (plain chroma upsampling)", async () => {
    const { bytes, expected } = await fixture("pil_420.jpg");
    const image = await decodeJpeg(bytes);
    expect(await jpegBackend()).toBe("jpeg-js");
    expect([image.width, image.height]).toEqual([61, 43]);
    // The fixture's blue channel is a sawtooth, the worst case for non-fancy chroma upsampling.
    expect(diffStats(image.data, expected).mean).toBeLessThan(8);
  });

  test("matches sharp closely on smooth content", async () => {
    await setJpegBackend("sharp");
    const jpeg = await encodeJpeg(gradient(48, 32), 90);
    const reference = await decodeJpeg(jpeg);
    await setJpegBackend("jpeg-js");
    const { max, mean } = diffStats((await decodeJpeg(jpeg)).data, reference.data);
    expect(mean).toBeLessThan(3);
    expect(max).toBeLessThan(16);
  });

  test("round trip", async () => {
    const image = gradient(24, 16);
    const back = await decodeJpeg(await encodeJpeg(image, 95));
    expect(diffStats(back.data, image.data).mean).toBeLessThan(2);
  });
});

describe("png to rgb", () => {
  for (const name of ["pil_rgba.png", "pil_palette.png", "pil_1bit.png", "pil_gray.png"]) {
    test(`${name} matches PIL's convert("RGB")`, async () => {
      const { bytes, expected } = await fixture(name);
      const image = await decodePngRgb(bytes);
      expect([image.width, image.height]).toEqual([17, 11]);
      expect([...image.data]).toEqual([...expected]);
    });
  }
});

describe("bad input", () => {
  test("corrupt JPEG", async () => {
    const { bytes } = await fixture("pil_420.jpg");
    const truncated = bytes.slice(0, 300);
    await expect(decodeImage(truncated, "cut.jpg")).rejects.toThrow(
      /^image: cannot decode cut\.jpg: /,
    );
  });

  test("corrupt PNG", async () => {
    const { bytes } = await fixture("pil_rgba.png");
    const broken = bytes.slice();
    broken.fill(7, 40, 90);
    await expect(decodeImage(broken, "x.png")).rejects.toThrow(/^image: cannot decode x\.png: /);
  });

  test("empty, unsupported and missing files", async () => {
    await expect(decodeImage(new Uint8Array(0), "e.jpg")).rejects.toThrow(
      "image: cannot decode e.jpg: file is empty",
    );
    await expect(decodeImage(new TextEncoder().encode("GIF89a...."), "a.gif")).rejects.toThrow(
      "image: cannot decode a.gif: unsupported format (expected JPEG or PNG)",
    );
    await expect(readImage("/nonexistent/f.jpg")).rejects.toThrow(
      "image: cannot read /nonexistent/f.jpg: no such file",
    );
  });
});
