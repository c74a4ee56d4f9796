/**
 * Load test of the segmentation service on loopback: `deno task bench:serve [options]`.
 *
 * Sends a fixed number of POST /segment requests (a synthetic mp4 made here) from a few
 * concurrent clients and reports latency percentiles and throughput. By default it starts the
 * service in-process with the tiny configuration and random weights (so the numbers measure
 * the service and a small model, not the paper's model); --url benchmarks a running server.
 * In-process, client and server share one event loop: the model's forward pass blocks the
 * clients too, so latency is end to end including that.
 */
import { parseArgs } from "node:util";
import { loadModel, type SegmentationModel } from "../src/api/mod.ts";
import { startServer } from "../src/service/server.ts";
import { encodeVideoBytes, type RgbImage } from "../src/media/mod.ts";

const HELP = `deno task bench:serve [options]

  --url <http://host:port>   benchmark a running server (default: start one in-process)
  --requests <n>             requests to send (default 40)
  --warmup <n>               requests before measuring (default 2)
  --clients <n>              concurrent clients (default 2)
  --frames <n>               frames of the synthetic video (default 8)
  --size <WxH>               frame size of the synthetic video (default 64x48)
  --format <json|zip|mp4>    response format (default json)
  --config <name|file>       in-process model config (default tiny + BERT vocabulary)
  --checkpoint <path>        in-process model weights (default random)
  --backend <name>           in-process backend (default cpu)
  --input-size <n>           in-process short side fed to the model (default: frame size)
  --json                     print the result as one JSON line
`;

function frame(i: number, w: number, h: number): RgbImage {
  const data = new Uint8Array(w * h * 3);
  for (let p = 0; p < w * h; p++) data.set([40, 60, 90], p * 3);
  const side = Math.max(4, Math.floor(Math.min(w, h) / 3));
  const x0 = Math.floor((i * 3) % Math.max(1, w - side)), y0 = Math.floor((h - side) / 2);
  for (let y = y0; y < y0 + side; y++) {
    for (let x = x0; x < x0 + side; x++) data.set([220, 40, 30], (y * w + x) * 3);
  }
  return { width: w, height: h, data };
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank];
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    strict: true,
    options: {
      url: { type: "string" },
      requests: { type: "string", default: "40" },
      warmup: { type: "string", default: "2" },
      clients: { type: "string", default: "2" },
      frames: { type: "string", default: "8" },
      size: { type: "string", default: "64x48" },
      format: { type: "string", default: "json" },
      config: { type: "string" },
      checkpoint: { type: "string" },
      backend: { type: "string", default: "cpu" },
      "input-size": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h" },
    },
  });
  if (values.help) return console.log(HELP);
  const count = (name: string, v: string, min = 1) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min}`);
    return n;
  };
  const requests = count("requests", values.requests!);
  const warmup = count("warmup", values.warmup!, 0);
  const clients = count("clients", values.clients!);
  const nFrames = count("frames", values.frames!);
  const size = /^(\d+)x(\d+)$/.exec(values.size!);
  if (!size) throw new Error("--size must look like 64x48");
  const [w, h] = [Number(size[1]), Number(size[2])];
  const video = await encodeVideoBytes(
    Array.from({ length: nFrames }, (_, i) => frame(i, w, h)),
    { fps: 10, format: "mp4" },
  );

  let model: SegmentationModel | undefined;
  let server: Awaited<ReturnType<typeof startServer>> | undefined;
  let url = values.url;
  if (!url) {
    model = await loadModel({
      config: values.config ?? { base: "tiny", text: { vocabSize: 30522 } },
      checkpoint: values.checkpoint,
      backend: values.backend as "cpu",
    });
    server = await startServer({
      model,
      port: 0,
      log: null,
      maxWaiting: clients,
      inputSize: values["input-size"] ? count("input-size", values["input-size"]) : null,
    });
    url = server.url;
  }

  const send = async (): Promise<{ ms: number; status: number }> => {
    const body = new FormData();
    body.append("video", new Blob([video as Uint8Array<ArrayBuffer>]), "bench.mp4");
    body.append("sentence", "the red square moving to the right");
    body.append("format", values.format!);
    const t0 = performance.now();
    const res = await fetch(`${url}/segment`, { method: "POST", body });
    await res.arrayBuffer();
    return { ms: performance.now() - t0, status: res.status };
  };

  try {
    for (let i = 0; i < warmup; i++) await send();
    const latencies: number[] = [];
    const statuses: Record<string, number> = {};
    let issued = 0;
    const t0 = performance.now();
    const client = async () => {
      while (issued < requests) {
        issued++;
        const { ms, status } = await send();
        statuses[status] = (statuses[status] ?? 0) + 1;
        if (status === 200) latencies.push(ms);
      }
    };
    await Promise.all(Array.from({ length: clients }, client));
    const seconds = (performance.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    const ok = latencies.length;
    const result = {
      target: values.url ?? `in-process ${model!.backend}, ${values.config ?? "tiny"} model`,
      requests,
      clients,
      video: `${nFrames} frames ${w}x${h} mp4 (${video.length} bytes)`,
      format: values.format,
      statuses,
      latencyMs: {
        p50: Math.round(percentile(latencies, 50)),
        p90: Math.round(percentile(latencies, 90)),
        p99: Math.round(percentile(latencies, 99)),
        min: Math.round(latencies[0]),
        max: Math.round(latencies[ok - 1]),
      },
      throughput: {
        requestsPerSec: Number((ok / seconds).toFixed(3)),
        framesPerSec: Number(((ok * nFrames) / seconds).toFixed(2)),
      },
      seconds: Number(seconds.toFixed(2)),
    };
    if (values.json) console.log(JSON.stringify(result));
    else {
      console.log(`target      ${result.target}`);
      console.log(
        `load        ${requests} requests, ${clients} clients, ${result.video}, ${result.format}`,
      );
      console.log(`statuses    ${JSON.stringify(statuses)}`);
      const l = result.latencyMs;
      console.log(
        `latency ms  p50 ${l.p50}  p90 ${l.p90}  p99 ${l.p99}  (min ${l.min}, max ${l.max})`,
      );
      console.log(
        `throughput  ${result.throughput.requestsPerSec} req/s, ${result.throughput.framesPerSec} frames/s over ${result.seconds} s`,
      );
    }
  } finally {
    await server?.shutdown(5000);
    model?.dispose();
  }
}

if (import.meta.main) {
  try {
    await main();
  } catch (error) {
    console.error(
      `bench:serve: ${(error instanceof Error ? error.message : String(error)).split("\n")[0]}`,
    );
    Deno.exit(1);
  }
}
