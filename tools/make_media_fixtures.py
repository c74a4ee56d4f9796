"""Writes test/data/media/: small JPEG/PNG files and the RGB bytes PIL decodes them to.

Run once with Debian's python3-pil: /usr/bin/python3 tools/make_media_fixtures.py
"""
import math
import os

from PIL import Image

OUT = os.path.join(os.path.dirname(__file__), "..", "test", "data", "media")
os.makedirs(OUT, exist_ok=True)


def pattern(w, h):
    im = Image.new("RGB", (w, h))
    px = im.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (
                int(127 + 127 * math.sin(x / 5.0)),
                int(255 * y / (h - 1)),
                (x * 7 + y * 13) % 256,
            )
    return im


def save(im, name, **kwargs):
    path = os.path.join(OUT, name)
    im.save(path, **kwargs)
    decoded = Image.open(path).convert("RGB")
    with open(path + ".rgb", "wb") as f:
        f.write(decoded.tobytes())


base = pattern(61, 43)
save(base, "pil_420.jpg", quality=85)
save(base.convert("L"), "pil_gray.jpg", quality=90)
save(base.convert("CMYK"), "pil_cmyk.jpg", quality=90)
small = pattern(17, 11)
rgba = small.convert("RGBA")
rgba.putalpha(Image.linear_gradient("L").resize((17, 11)))
save(rgba, "pil_rgba.png")
save(small.quantize(colors=6), "pil_palette.png")
save(small.convert("1"), "pil_1bit.png")
save(small.convert("L"), "pil_gray.png")
