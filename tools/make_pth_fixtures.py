#!/usr/bin/python3
"""Generate the tiny .pth test files in test/data/pth/ and their expected values.

Run with Debian's python3-torch (apt-get install -y python3-torch):
    /usr/bin/python3 tools/make_pth_fixtures.py
Every tensor fixture is written twice: `<name>_zip.pth` (default zip format) and
`<name>_legacy.pth` (_use_new_zipfile_serialization=False).  expected.json holds,
for every tensor, its dtype, shape and row-major values (float64 of the stored value).
"""

import argparse
import collections
import io
import json
import os
import tempfile
import zipfile

import torch

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "test", "data", "pth")


def dtypes_fixture():
    return collections.OrderedDict(
        [
            ("f32", torch.tensor([[1.5, -2.25, 3.0], [0.1, 1e-8, -7e5]], dtype=torch.float32)),
            ("f64", torch.tensor([1.0 / 3.0, -2.5e-300, 1e300], dtype=torch.float64)),
            ("f16", torch.tensor([0.5, -65504.0, 6.1e-5, 5.96e-8], dtype=torch.float16)),
            ("bf16", torch.tensor([[1.0, -3.140625], [1e30, 2.0 ** -130]], dtype=torch.bfloat16)),
            ("i64", torch.tensor([0, -1, 2147483647, -2147483648, 123456], dtype=torch.int64)),
            ("i32", torch.tensor([7, -8, 2000000000], dtype=torch.int32)),
            ("i16", torch.tensor([-32768, 32767, 5], dtype=torch.int16)),
            ("i8", torch.tensor([-128, 127, -3], dtype=torch.int8)),
            ("u8", torch.tensor([0, 1, 200, 255], dtype=torch.uint8)),
            ("bool", torch.tensor([True, False, True], dtype=torch.bool)),
            ("scalar", torch.tensor(2.75, dtype=torch.float32)),
            ("empty", torch.zeros(0, 3, dtype=torch.float32)),
        ]
    )


def shared_fixture():
    base = torch.arange(20, dtype=torch.float32) * 0.5
    return {
        "a": base[2:8].view(2, 3),  # storage offset 2
        "b": base[5:15],  # overlaps a, storage offset 5
        "base": base,
    }


def strided_fixture():
    grid = torch.arange(24, dtype=torch.float32).view(4, 6) - 3.0
    ints = torch.arange(30, dtype=torch.int64).view(5, 6) * 1000
    return {
        "transposed": grid.t(),
        "step_slice": grid[1:, ::2],
        "permuted": torch.arange(24, dtype=torch.float64).view(2, 3, 4).permute(2, 0, 1),
        "int_cols": ints[:, 1::3],
        "expanded": torch.tensor([1.0, 2.0, 3.0]).view(3, 1).expand(3, 4),
    }


class TinyModel(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        self.norm = torch.nn.LayerNorm(2)
        self.register_buffer("counts", torch.tensor([1, 2], dtype=torch.int64))


def checkpoint_fixture():
    torch.manual_seed(0)
    model = TinyModel()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=5e-4)
    loss = model.norm(model.proj(torch.randn(4, 3))).pow(2).sum()
    loss.backward()
    optimizer.step()
    args = argparse.Namespace(
        lr=1e-4,
        backbone="swin_t_p4w7",
        masks=True,
        num_frames=5,
        lr_drop=[6, 8],
        dataset_file="ytvos",
        resume=None,
    )
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "epoch": 3,
        "args": args,
    }


def misc_object():
    return {
        "int_small": 5,
        "int_neg": -7,
        "int_big": 2 ** 40,
        "int_huge": 2 ** 70,
        "float": 1.5,
        "str": "h\u00e9llo \u2713",
        "bytes": b"\x00\xffab",
        "tuple": (1, "a"),
        "nested": [1, [2, 3]],
        "set": {1, 2, 3},
        "none": None,
        "true": True,
        "false": False,
        "int_keys": {1: "a", 2: "b"},
        "tensor": torch.tensor([1.0, 2.0]),
    }


def describe(value):
    if isinstance(value, torch.Tensor):
        return {
            "dtype": str(value.dtype).replace("torch.", ""),
            "shape": list(value.shape),
            "values": value.double().flatten().tolist(),
        }
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    if isinstance(value, argparse.Namespace):
        return {"__namespace__": vars(value)}
    if isinstance(value, (list, tuple)):
        return [describe(v) for v in value]
    return value


# A protocol-2 pickle equivalent to `os.system("echo pwned")`, assembled by hand so that
# generating it never imports or calls anything.
MALICIOUS_PICKLE = (
    b"\x80\x02"
    + b"cos\nsystem\n"
    + b"X\x0a\x00\x00\x00echo pwned"
    + b"\x85"  # TUPLE1
    + b"R"  # REDUCE
    + b"."
)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def save_both(name, obj):
    for suffix, use_zip in (("zip", True), ("legacy", False)):
        file_name = f"{name}_{suffix}.pth"
        # Saved through a path (not a buffer) so the zip's archive folder is the file stem.
        with tempfile.TemporaryDirectory(dir=OUT_DIR) as tmp_dir:
            tmp_path = os.path.join(tmp_dir, file_name)
            torch.save(obj, tmp_path, _use_new_zipfile_serialization=use_zip)
            os.replace(tmp_path, os.path.join(OUT_DIR, file_name))


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    fixtures = {
        "dtypes": dtypes_fixture(),
        "shared": shared_fixture(),
        "strided": strided_fixture(),
        "checkpoint": checkpoint_fixture(),
    }
    expected = {}
    for name, obj in fixtures.items():
        save_both(name, obj)
        expected[name] = describe(obj)

    # Plain Python values: protocol 2 (bytes via _codecs.encode, sets via REDUCE) in both
    # formats, and protocol 4 (FRAME, MEMOIZE, STACK_GLOBAL, BINBYTES, EMPTY_SET).
    save_both("misc", misc_object())
    buf = io.BytesIO()
    torch.save(misc_object(), buf, pickle_protocol=4)
    write_atomic(os.path.join(OUT_DIR, "misc_protocol4_zip.pth"), buf.getvalue())

    # int64 values that do not fit the i32 the reader narrows to.
    save_both("overflow", {"ids": torch.tensor([1, 2 ** 40], dtype=torch.int64)})

    write_atomic(os.path.join(OUT_DIR, "malicious_raw.pth"), MALICIOUS_PICKLE)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("malicious/data.pkl", MALICIOUS_PICKLE)
        z.writestr("malicious/version", "3\n")
    write_atomic(os.path.join(OUT_DIR, "malicious_zip.pth"), buf.getvalue())

    text = json.dumps(expected, indent=1, sort_keys=True, allow_nan=False) + "\n"
    write_atomic(os.path.join(OUT_DIR, "expected.json"), text.encode())


if __name__ == "__main__":
    main()
