#!/usr/bin/env bash
# The CUDA backend's checks on a lent GPU machine that has no npm registry and no Deno:
# catalog + CUDA kernel tests (through tools/offline_tests, no vitest needed), the parity
# fixtures, and the benchmark against PyTorch CUDA. Run from the repository root:
#
#   OUT=/some/dir bash tools/gpu_check.sh [stages]     (default stages: info tests parity bench)
#
# Inputs, prepared on the developer machine in .device/ by tools/gpu_prepare.sh (git-ignored):
#   .device/deno.xz               the Deno binary, xz-compressed (the machine has none)
#   .device/libdmf_cuda.so.xz     optional prebuilt library (else `deno task build:cuda` runs)
#   .device/fx1/*.safetensors.xz  the golden fixtures that travel this time ($FX_DIR: fx2, ...)
#   .device/npm_cache.tar.xz      Deno's npm cache for the packages the engine loads eagerly (fflate)
#   .device/msda_ref/cuda/ms_deform_im2col_cuda.cuh  for the msda_ref stage: the original
#                                 Deformable-DETR kernels (not in this repository; $MSDA_REF_SRC)
#   .gl/*.deb                     for the webgpu stage: the Vulkan loader and GL/EGL dispatch
#                                 libraries (apt-get download libvulkan1 libegl1 libglvnd0 ...)
# Stages: info, build, tests, parity, bench, msda_ref, profile, webgpu. Logs and results go to $OUT.
set -u
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
STAGES=${*:-info tests parity bench}
BENCH_ARGS=${BENCH_ARGS:---repeat 3 --budget 3}
BENCH_BACKENDS=${BENCH_BACKENDS:-cuda}

unxz_to() { python3 -c 'import lzma,shutil,sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }

DENO=/tmp/dmf/deno
mkdir -p /tmp/dmf/fx
if [ ! -x $DENO ]; then unxz_to .device/deno.xz $DENO && chmod +x $DENO; fi
if [ -f .device/libdmf_cuda.so.xz ]; then
  unxz_to .device/libdmf_cuda.so.xz /tmp/dmf/libdmf_cuda.so && export DMF_CUDA_LIB=/tmp/dmf/libdmf_cuda.so
fi
for f in ${FX_DIR:-.device/fx1}/*.safetensors.xz; do
  [ -f "$f" ] && unxz_to "$f" "/tmp/dmf/fx/$(basename "${f%.xz}")"
done
export DMF_FIXTURES=/tmp/dmf/fx
export DENO_DIR=/tmp/dmf/deno_dir
mkdir -p $DENO_DIR && tar -xJf .device/npm_cache.tar.xz -C $DENO_DIR
OFFLINE="--config tools/offline_tests/deno.json"

# Vulkan loader from .gl/*.deb (apt-get download libvulkan1 on the developer machine), pointed at
# the NVIDIA driver's ICD, for Deno's WebGPU.
vulkan_env() {
  [ -n "${VULKAN_READY:-}" ] && return
  for f in .gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  icd=$(ls /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json \
    /usr/share/vulkan/icd.d/nvidia_icd*.json 2>/dev/null | head -1)
  echo "vulkan ICD: ${icd:-none found}; loader: $(ldconfig -p | grep -c libvulkan.so.1) entries"
  [ -n "$icd" ] && export VK_DRIVER_FILES=$icd
  export LD_LIBRARY_PATH=/usr/local/nvidia/lib64:/usr/local/nvidia/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
  egl=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
  [ -f $egl ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$egl
  VULKAN_READY=1
}

for stage in $STAGES; do
  echo "== $stage ($(date -u +%T))"
  case $stage in
    info)
      {
        nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
        nvcc --version | tail -2
        $DENO --version | head -1
        python3 -c 'import torch; print("torch", torch.__version__, torch.cuda.get_device_name())'
        ls /tmp/dmf/fx
      } >"$OUT/info.log" 2>&1
      cat "$OUT/info.log"
      ;;
    build)
      unset DMF_CUDA_LIB
      timeout 300 $DENO run -A $OFFLINE tools/build_cuda.ts --strict --jobs 16 2>&1 | tee "$OUT/build.log"
      ;;
    tests)
      DMF_TEST_BACKENDS=cuda timeout ${TESTS_TIMEOUT:-240} $DENO run -A $OFFLINE \
        tools/offline_tests/run.ts --timeout 120 --log "$OUT/tests.log" ${TEST_FILTER:+--filter "$TEST_FILTER"} \
        ${TEST_FILES:-test/cuda_abi.test.ts test/cuda_catalog.test.ts test/cuda_kernels.test.ts \
          test/parity_losses.test.ts test/parity_model.test.ts test/mask_head.test.ts \
          test/parity_fpn.test.ts test/parity_deformable.test.ts} 2>&1 | tail -60
      ;;
    parity)
      timeout ${PARITY_TIMEOUT:-180} $DENO run -A $OFFLINE tools/parity.ts /tmp/dmf/fx/*.safetensors \
        --backend cuda 2>&1 | tee "$OUT/parity.log" | tail -40
      ;;
    bench)
      case ",$BENCH_BACKENDS," in *,webgpu,*) vulkan_env ;; esac
      timeout ${BENCH_TIMEOUT:-300} $DENO run -A $OFFLINE tools/bench.ts --backend "$BENCH_BACKENDS" \
        --compare torch --torch-device cuda --python "$(command -v python3)" $BENCH_ARGS \
        --json "$OUT/bench.json" --markdown "$OUT/bench.md" >"$OUT/bench.log" 2>&1
      tail -80 "$OUT/bench.log"
      ;;
    msda_ref)
      # the original Deformable-DETR kernels (sources in $MSDA_REF_SRC, not in this repository)
      timeout ${MSDA_REF_TIMEOUT:-240} python3 tools/bench_msda_reference.py \
        --src "${MSDA_REF_SRC:-.device/msda_ref}" --json "$OUT/msda_ref.json" 2>&1 | tail -40
      ;;
    profile)
      # wall time and per-kernel time of the bench's swin-t inference, then a V8 CPU profile
      timeout ${PROFILE_TIMEOUT:-120} $DENO run -A $OFFLINE tools/profile_model.ts --backend cuda \
        --runs 2 --sync ${PROFILE_ARGS:-} 2>&1 | tee "$OUT/profile.log" | tail -50
      mkdir -p /tmp/dmf/prof && rm -f /tmp/dmf/prof/*
      timeout 120 $DENO run -A $OFFLINE --cpu-prof --cpu-prof-dir /tmp/dmf/prof \
        tools/profile_model.ts --backend cuda --runs 3 2>&1 | grep "^run" | tee -a "$OUT/profile.log"
      cp /tmp/dmf/prof/*.cpuprofile "$OUT/model.cpuprofile" 2>/dev/null
      ;;
    webgpu)
      vulkan_env
      cat >/tmp/dmf/adapter.ts <<'TS'
const a = await navigator.gpu?.requestAdapter({ powerPreference: "high-performance" });
console.log("adapter:", a ? JSON.stringify({ ...a.info, vendor: a.info.vendor, architecture: a.info.architecture, device: a.info.device, description: a.info.description }) : "none");
TS
      VK_LOADER_DEBUG=error,warn timeout 60 $DENO run -A --no-config /tmp/dmf/adapter.ts 2>&1 | tail -12
      timeout ${WEBGPU_TESTS_TIMEOUT:-150} $DENO run -A $OFFLINE tools/offline_tests/run.ts \
        --timeout 100 --log "$OUT/webgpu_tests.log" \
        ${WEBGPU_TEST_FILES:-test/webgpu_catalog.test.ts test/webgpu_matmul.test.ts} 2>&1 | tail -30
      [ "${WEBGPU_BENCH:-1}" = 1 ] || continue
      timeout ${WEBGPU_BENCH_TIMEOUT:-200} $DENO run -A $OFFLINE tools/bench.ts --backend webgpu \
        $BENCH_ARGS --json "$OUT/bench_webgpu.json" >"$OUT/bench_webgpu.log" 2>&1
      tail -45 "$OUT/bench_webgpu.log"
      ;;
    *) echo "unknown stage $stage" ;;
  esac
done
echo "== done ($(date -u +%T))"
