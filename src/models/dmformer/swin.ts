/**
 * Swin Transformer backbone, GLIP copy ("SWINT-FPN-RETINANET", design doc §4.1-4.5).
 * State-dict keys follow the reference: patch_embed.*, layers.{s}.blocks.{k}.*,
 * layers.{s}.downsample.*, norm{s} (stage outputs). The `relative_position_index` buffers
 * of the reference are derived tables and are not part of this module's state dict
 * (checkpoint loaders should drop keys listed by `isDerivedSwinKey`).
 */
import type { Generator } from "../../tensor/random.ts";
import type { Tensor } from "../../tensor/tensor.ts";
import { permute, reshape } from "../../ops/shape_ops.ts";
import { LayerNorm } from "../../nn/layers.ts";
import { Module } from "../../nn/module.ts";
import { BasicLayer, PatchEmbed, type TokenMap } from "./swin_block.ts";
import { type LanguageMemory, RMHCA } from "./rmhca.ts";

export interface SwinConfig {
  patchSize: number;
  inChans: number;
  embedDim: number;
  depths: number[];
  numHeads: number[];
  windowSize: number;
  mlpRatio: number;
  qkvBias: boolean;
  /** Overrides head_dim^-0.5. */
  qkScale?: number;
  /** Stochastic depth, linear from 0 to this over all blocks. */
  dropPathRate: number;
  patchNorm: boolean;
  /** 0-based stages whose outputs are returned (reference out_features stage{i+2}). */
  outIndices: number[];
  /**
   * Stage-1 output norm. The RETINANET rule of the GLIP copy makes it the identity
   * (gotcha 16); true gives the plain Swin behaviour.
   */
  normFirstStage: boolean;
  /** Random stream of drop path (default: the engine's default generator). */
  generator?: Generator;
  /**
   * RMHCA before the listed stages (default [2, 3]: before stages 3 and 4). Absent = off,
   * which is what the reference computes (§4.6); keys rmhca.{i}.* exist only when on.
   */
  rmhca?: { stages?: number[]; interSize?: number; nhead?: number };
}

/** Swin-T as built by `--backbone swin_t_p4w7 --use_glip`. */
export const SWIN_T_GLIP: SwinConfig = {
  patchSize: 4,
  inChans: 3,
  embedDim: 96,
  depths: [2, 2, 6, 2],
  numHeads: [3, 6, 12, 24],
  windowSize: 7,
  mlpRatio: 4,
  qkvBias: true,
  dropPathRate: 0.2,
  patchNorm: true,
  outIndices: [0, 1, 2, 3],
  normFirstStage: false,
};

/** Checkpoint keys that hold derived tables this implementation recomputes. */
export function isDerivedSwinKey(key: string): boolean {
  return key.endsWith(".attn.relative_position_index");
}

/** Block k of n gets rate * k / (n - 1) (torch.linspace(0, rate, n)). */
export function dropPathRates(rate: number, total: number): number[] {
  return Array.from({ length: total }, (_, k) => (total > 1 ? (rate * k) / (total - 1) : 0));
}

export class SwinTransformer extends Module {
  patch_embed: PatchEmbed;
  layers: BasicLayer[];
  rmhca?: RMHCA[];
  /** Output norms by stage (null = identity or stage not returned); also stored as norm{s}. */
  readonly #outNorms: (LayerNorm | null)[] = [];
  readonly #rmhcaStages: number[] = [];

  constructor(readonly config: SwinConfig) {
    super();
    const c = config;
    if (c.depths.length !== c.numHeads.length) {
      throw new Error(`Swin: ${c.depths.length} depths but ${c.numHeads.length} head counts`);
    }
    this.patch_embed = new PatchEmbed(c.patchSize, c.inChans, c.embedDim, c.patchNorm);
    const rates = dropPathRates(c.dropPathRate, c.depths.reduce((a, b) => a + b, 0));
    let first = 0;
    this.layers = c.depths.map((depth, s) => {
      const layer = new BasicLayer({
        dim: this.stageDim(s),
        depth,
        numHeads: c.numHeads[s],
        windowSize: c.windowSize,
        mlpRatio: c.mlpRatio,
        qkvBias: c.qkvBias,
        qkScale: c.qkScale,
        dropPaths: rates.slice(first, first + depth),
        downsample: s < c.depths.length - 1,
        generator: c.generator,
      });
      first += depth;
      return layer;
    });
    if (c.rmhca) {
      const { stages = [2, 3], ...opts } = c.rmhca;
      this.#rmhcaStages = stages;
      this.rmhca = stages.map((s) => new RMHCA(this.stageDim(s), opts));
    }
    const self = this as unknown as Record<string, unknown>;
    for (let s = 0; s < c.depths.length; s++) {
      const norm = c.outIndices.includes(s) && (s > 0 || c.normFirstStage)
        ? new LayerNorm(this.stageDim(s))
        : null;
      this.#outNorms.push(norm);
      if (norm) self[`norm${s}`] = norm;
    }
  }

  stageDim(s: number): number {
    return this.config.embedDim * 2 ** s;
  }

  /**
   * images [B, C, H, W] (B = clips x frames, clip-major) -> one [B, C_s, H_s, W_s] map per
   * entry of `outIndices`. `lang` is required when RMHCA is on, ignored otherwise.
   */
  forward(images: Tensor, lang?: LanguageMemory): Tensor[] {
    const outs = new Map<number, Tensor>();
    let tokens: TokenMap | null = this.patch_embed.forward(images);
    for (let s = 0; s < this.layers.length && tokens; s++) {
      tokens = this.#crossModal(s, tokens, lang);
      const { out, next } = this.layers[s].forward(tokens);
      if (this.config.outIndices.includes(s)) outs.set(s, this.#toMap(out, this.#outNorms[s]));
      tokens = next;
    }
    return this.config.outIndices.map((s) => outs.get(s)!);
  }

  #crossModal(stage: number, tokens: TokenMap, lang?: LanguageMemory): TokenMap {
    const i = this.#rmhcaStages.indexOf(stage);
    if (!this.rmhca || i < 0) return tokens;
    if (!lang) throw new Error("Swin: RMHCA is on, so forward() needs the language memory");
    return { ...tokens, x: this.rmhca[i].forward(tokens.x, lang) };
  }

  #toMap({ x, h, w }: TokenMap, norm: LayerNorm | null): Tensor {
    const y = norm ? norm.forward(x) : x;
    return permute(reshape(y, [y.shape[0], h, w, y.shape[2]]), [0, 3, 1, 2]);
  }
}

/** Builds a config from the reference's snake_case kwargs (fixture metadata, checkpoints). */
export function swinConfigFromReference(cfg: Record<string, unknown>): SwinConfig {
  const depths = cfg.depths as number[];
  const arch = (cfg.backbone_arch as string | undefined) ?? "SWINT-FPN-RETINANET";
  return {
    patchSize: (cfg.patch_size as number | undefined) ?? 4,
    inChans: (cfg.in_chans as number | undefined) ?? 3,
    embedDim: cfg.embed_dim as number,
    depths,
    numHeads: cfg.num_heads as number[],
    windowSize: (cfg.window_size as number | undefined) ?? 7,
    mlpRatio: (cfg.mlp_ratio as number | undefined) ?? 4,
    qkvBias: (cfg.qkv_bias as boolean | undefined) ?? true,
    qkScale: (cfg.qk_scale as number | null | undefined) ?? undefined,
    dropPathRate: (cfg.drop_path_rate as number | undefined) ?? 0.2,
    patchNorm: (cfg.patch_norm as boolean | undefined) ?? true,
    outIndices: (cfg.out_indices as number[] | undefined) ?? depths.map((_, i) => i),
    normFirstStage: !arch.endsWith("RETINANET"),
  };
}
