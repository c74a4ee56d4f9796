/**
 * The segmentation HTTP service: `deno task serve [options]`.
 *
 *   deno task serve --config swin-t --checkpoint dmformer_swin_t.safetensors
 *   curl -F video=@clip.mp4 -F "sentence=a dog jumping" http://127.0.0.1:8080/segment
 *
 * Permissions (`deno task serve`; docs/service.md explains each): --allow-net=127.0.0.1:<port>
 * to listen on loopback only; --allow-read for src (the ffmpeg worker thread loads its modules
 * by file), node_modules (ffmpeg-core.wasm), the checkpoint and config folders and the temp
 * folder; --allow-write for the temp folder only. No --allow-env, --allow-run or --allow-ffi
 * (the cpu backend needs none; --backend native needs --allow-ffi, and --allow-run to build).
 */
import { parseArgs } from "node:util";
import { BACKEND_NAMES, type BackendName, loadModel } from "../src/api/mod.ts";
import { startServer } from "../src/service/server.ts";
import { DEFAULT_LIMITS } from "../src/service/limits.ts";

const HELP = `deno task serve [options]

Serves POST /segment (multipart: video file + sentence; format=json|zip|mp4) and GET /health.

  --config <name|file.json>   model config: swin-t, tiny, a config .json or a run's config.json
                              (default: the run's config.json when --checkpoint is a training
                              run folder, else tiny with the BERT vocabulary and random weights)
  --checkpoint <path>         weights (.safetensors, .pth, checkpoint or run folder)
  --backend <name>            ${BACKEND_NAMES.join(" | ")} (default cpu)
  --host <addr>               listen address (default 127.0.0.1)
  --port <n>                  listen port (default 8080)
  --temp-dir <dir>            upload folder (default /tmp/dmformer-serve; one sub-folder per
                              request, removed when it ends)
  --concurrency <n>           requests processed at once (default 1)
  --max-waiting <n>           requests allowed to wait; more get 503 (default 4)
  --window <n>                frames per forward pass (default 36 or the config's inference)
  --input-size <n>            short side fed to the model (default 360 or the config's inference)
  --max-upload-mb <n>         upload limit in MiB (default ${
  DEFAULT_LIMITS.maxUploadBytes / 2 ** 20
})
  --max-frames <n>            frame limit (default ${DEFAULT_LIMITS.maxFrames})
  --max-pixels <n>            width*height limit (default ${DEFAULT_LIMITS.maxPixels})
  --max-sentence <n>          sentence length limit (default ${DEFAULT_LIMITS.maxSentenceChars})
  --timeout-s <n>             processing time limit in seconds (default ${
  DEFAULT_LIMITS.processingTimeoutMs / 1000
})
`;

function int(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer`);
  return n;
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      config: { type: "string" },
      checkpoint: { type: "string" },
      backend: { type: "string", default: "cpu" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8080" },
      "temp-dir": { type: "string", default: "/tmp/dmformer-serve" },
      concurrency: { type: "string" },
      "max-waiting": { type: "string" },
      window: { type: "string" },
      "input-size": { type: "string" },
      "max-upload-mb": { type: "string" },
      "max-frames": { type: "string" },
      "max-pixels": { type: "string" },
      "max-sentence": { type: "string" },
      "timeout-s": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const random = !values.config && !values.checkpoint;
  if (random) {
    console.log(
      "no --config: serving the tiny model with RANDOM weights (for trying the API only)",
    );
  }
  const model = await loadModel({
    config: random ? { base: "tiny", text: { vocabSize: 30522 } } : values.config,
    checkpoint: values.checkpoint,
    backend: values.backend as BackendName,
  });
  const mb = int(values["max-upload-mb"], "max-upload-mb");
  const timeout = int(values["timeout-s"], "timeout-s");
  const server = await startServer({
    model,
    hostname: values.host,
    port: int(values.port, "port"),
    tempDir: values["temp-dir"],
    concurrency: int(values.concurrency, "concurrency"),
    maxWaiting: int(values["max-waiting"], "max-waiting"),
    windowSize: int(values.window, "window"),
    inputSize: int(values["input-size"], "input-size"),
    limits: {
      maxUploadBytes: mb === undefined ? undefined : mb * 2 ** 20,
      maxFrames: int(values["max-frames"], "max-frames"),
      maxPixels: int(values["max-pixels"], "max-pixels"),
      maxSentenceChars: int(values["max-sentence"], "max-sentence"),
      processingTimeoutMs: timeout === undefined ? undefined : timeout * 1000,
    },
  });
  // graceful shutdown: stop accepting, finish admitted requests, clean up, exit
  const stop = () => {
    server.shutdown().then(() => {
      model.dispose();
      Deno.exit(0);
    });
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  await server.finished;
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(
      `serve: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`,
    );
    Deno.exit(1);
  }
}
