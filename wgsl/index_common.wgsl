// Shared by index.wgsl and scatter.wgsl: the source, index and status bindings, and
// wrap_index, which maps a negative index t to t + size and flags an out-of-range one by
// setting `code` in the status buffer (reported when the result is read back), returning -1.
@group(0) @binding(2) var<storage, read> src: array<u32>;
@group(0) @binding(3) var<storage, read> index: array<i32>;
@group(0) @binding(4) var<storage, read_write> status: array<atomic<u32>>;

fn wrap_index(t: i32, size: u32, code: u32) -> i32 {
  let j = select(t, t + i32(size), t < 0);
  if (j < 0 || j >= i32(size)) {
    atomicOr(&status[0], code);
    return -1;
  }
  return j;
}
