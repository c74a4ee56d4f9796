import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphPixel } from "./font5x7.ts";
import { assertRgbImage, cloneRgbImage, type Rgb, type RgbImage } from "./frame.ts";

/** Colour of object `index` in the DAVIS / PASCAL VOC palette (index 0 is black). */
export function paletteColor(index: number): Rgb {
  let r = 0, g = 0, b = 0;
  for (let bit = 7, c = index; c > 0; bit--, c >>= 3) {
    r |= (c & 1) << bit;
    g |= ((c >> 1) & 1) << bit;
    b |= ((c >> 2) & 1) << bit;
  }
  return [r, g, b];
}

/**
 * Tints every pixel where `mask` is non-zero and outlines each object with its solid colour.
 * `mask` holds one byte per pixel: 0/1, or palette indices for several objects. With no
 * `color`, each index gets its palette colour. Pixels where the mask is 0 are never changed.
 */
export function overlayMask(frame: RgbImage, mask: Uint8Array, color?: Rgb, alpha = 0.5): RgbImage {
  assertRgbImage(frame, "overlay");
  const { width, height } = frame;
  if (mask.length !== width * height) {
    throw new Error(
      `overlay: mask has ${mask.length} values, expected ${width * height} (${width}x${height})`,
    );
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`overlay: alpha ${alpha} not in [0, 1]`);
  const out = cloneRgbImage(frame);
  const colorOf = color ? () => color : paletteColor;
  const colors = new Map<number, Rgb>();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      const label = mask[p];
      if (label === 0) continue;
      let rgb = colors.get(label);
      if (!rgb) colors.set(label, rgb = colorOf(label));
      const edge = (x > 0 && mask[p - 1] !== label) || (x + 1 < width && mask[p + 1] !== label) ||
        (y > 0 && mask[p - width] !== label) || (y + 1 < height && mask[p + width] !== label);
      const weight = edge ? 1 : alpha;
      for (let c = 0; c < 3; c++) {
        const i = p * 3 + c;
        out.data[i] = Math.round(frame.data[i] * (1 - weight) + rgb[c] * weight);
      }
    }
  }
  return out;
}

export interface CaptionOptions {
  /** Pixel size of one font dot; by default 1 per 240 rows of frame height, at least 1. */
  scale?: number;
  color?: Rgb;
  /** Darkening of the band behind the text, 0..1. */
  backgroundAlpha?: number;
  position?: "top" | "bottom";
}

/** Writes `text` (ASCII; other characters show as "?") on a dark band, wrapping at word boundaries. */
export function drawCaption(frame: RgbImage, text: string, options: CaptionOptions = {}): RgbImage {
  assertRgbImage(frame, "caption");
  const { width, height } = frame;
  const scale = options.scale ?? Math.max(1, Math.round(height / 240));
  const { color = [255, 255, 255], backgroundAlpha = 0.6, position = "top" } = options;
  const advance = (GLYPH_WIDTH + 1) * scale;
  const lineHeight = (GLYPH_HEIGHT + 3) * scale;
  const margin = 2 * scale;
  const lines = wrapText(text, Math.max(1, Math.floor((width - 2 * margin) / advance)));
  const out = cloneRgbImage(frame);
  if (lines.length === 0) return out;
  const bandHeight = Math.min(height, lines.length * lineHeight + 2 * margin);
  const bandTop = position === "top" ? 0 : height - bandHeight;
  for (let y = bandTop; y < bandTop + bandHeight; y++) {
    for (let i = y * width * 3; i < (y + 1) * width * 3; i++) {
      out.data[i] = Math.round(out.data[i] * (1 - backgroundAlpha));
    }
  }
  lines.forEach((line, row) => {
    const top = bandTop + margin + row * lineHeight + scale;
    [...line].forEach((char, column) => {
      drawGlyph(out, char, margin + column * advance, top, scale, color);
    });
  });
  return out;
}

function drawGlyph(
  image: RgbImage,
  char: string,
  left: number,
  top: number,
  scale: number,
  color: Rgb,
) {
  for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
    for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
      if (!glyphPixel(char, gx, gy)) continue;
      for (let dy = 0; dy < scale; dy++) {
        const y = top + gy * scale + dy;
        if (y < 0 || y >= image.height) continue;
        for (let dx = 0; dx < scale; dx++) {
          const x = left + gx * scale + dx;
          if (x >= 0 && x < image.width) image.data.set(color, (y * image.width + x) * 3);
        }
      }
    }
  }
}

/** Greedy word wrap to `columns` characters; words longer than a line are split. */
export function wrapText(text: string, columns: number): string[] {
  const lines: string[] = [];
  for (const paragraph of text.split("\n")) {
    let line = "";
    for (let word of paragraph.split(/\s+/).filter(Boolean)) {
      while (word.length > columns) {
        if (line) lines.push(line);
        lines.push(word.slice(0, columns));
        word = word.slice(columns);
        line = "";
      }
      if (!line) line = word;
      else if (line.length + 1 + word.length <= columns) line += ` ${word}`;
      else {
        lines.push(line);
        line = word;
      }
    }
    if (line) lines.push(line);
  }
  return lines;
}
