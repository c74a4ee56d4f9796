#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for tools/gpu_check.sh on a lent GPU machine, which has no Deno,
# no npm registry and takes at most 64 MiB of working tree per call. Run from the repository root:
#
#   bash tools/gpu_prepare.sh
#
# Writes .device/deno.xz (this Deno, xz-compressed), .device/libdmf_cuda.so.xz (built here with
# nvcc), .device/npm_cache.tar.xz (the npm packages the engine loads eagerly), the golden fixtures
# xz-compressed and split into .device/fx1, .device/fx2, ... so that each set fits one call beside
# the rest, and .gl/*.deb (the Vulkan / EGL loaders, for the webgpu stage, when apt-get can fetch
# them). Prints the `carry` list for each fixture set.
set -euo pipefail
LIMIT=$((64 * 1024 * 1024))
FIXTURES=${FIXTURES:-../shared/fixtures}
mkdir -p .device .gl
for p in /.device/ /.gl/; do grep -qx "$p" .git/info/exclude || echo "$p" >>.git/info/exclude; done

deno_bin=$(readlink -f "$(command -v deno)")
if [ ! -f .device/deno.xz ] || [ "$deno_bin" -nt .device/deno.xz ]; then
  echo "compressing $deno_bin (a minute or two)"
  xz -9 -T0 -c "$deno_bin" >.device/deno.xz.tmp && mv .device/deno.xz.tmp .device/deno.xz
fi

deno task build:cuda --strict
lib=$(deno eval 'const j = JSON.parse(Deno.readTextFileSync(".cache/cuda/current.json")); console.log(j.library)')
xz -9 -T0 -c "$lib" >.device/libdmf_cuda.so.xz

cache=$(deno info --json | deno eval 'const j = JSON.parse(await new Response(Deno.stdin.readable).text()); console.log(j.npmCache)')
(cd "$cache/.." && tar -cJf "$OLDPWD/.device/npm_cache.tar.xz" npm/registry.npmjs.org/fflate)

rm -rf .device/fx*
mkdir -p .device/fx_all
for f in "$FIXTURES"/*.safetensors; do xz -6 -T0 -c "$f" >".device/fx_all/$(basename "$f").xz"; done

tree=$(git ls-files -z --cached --others --exclude-standard | du -cb --files0-from=- | tail -1 | cut -f1)
fixed=$(du -cb .device/deno.xz .device/libdmf_cuda.so.xz .device/npm_cache.tar.xz .gl | tail -1 | cut -f1)
room=$((LIMIT - tree - fixed - 512 * 1024))
echo "tree $((tree >> 20)) MiB, Deno + library + cache + .gl $((fixed >> 20)) MiB: $((room >> 20)) MiB per call for fixtures"
set_no=1 used=0
mkdir -p .device/fx1
for f in $(ls -S .device/fx_all/*.xz); do
  size=$(stat -c %s "$f")
  if [ $((used + size)) -gt $room ]; then
    set_no=$((set_no + 1)) used=0
    mkdir -p ".device/fx$set_no"
  fi
  mv "$f" ".device/fx$set_no/"
  used=$((used + size))
done
rmdir .device/fx_all

if command -v apt-get >/dev/null && ! ls .gl/libvulkan1_*.deb >/dev/null 2>&1; then
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64"
  mkdir -p /tmp/amd64/partial
  (apt-get $o update >/dev/null && cd .gl &&
    apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2) ||
    echo "could not fetch the Vulkan / EGL loaders: the webgpu stage will find no adapter"
fi

for d in .device/fx[0-9]*; do
  echo "carry for $d: [\".device/deno.xz\", \".device/libdmf_cuda.so.xz\", \".device/npm_cache.tar.xz\", \"$d\", \".gl\"]  (FX_DIR=$d)"
done
