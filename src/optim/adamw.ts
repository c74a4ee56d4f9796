import type { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/autograd.ts";
import { keep, tidy } from "../tensor/memory.ts";
import { add, div, mul, sqrt } from "../ops/elementwise.ts";
import { zerosLike } from "../ops/creation.ts";

export interface ParamGroup {
  params: Tensor[];
  lr: number;
  weightDecay?: number;
  /** Optional label (backbone, text_encoder, linear_proj, rest) for logs. */
  name?: string;
  /** Parameter names, same order as params (for state save/restore). */
  names?: string[];
}

export interface AdamWOptions {
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

interface Moments {
  step: number;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * AdamW as torch.optim.AdamW (decoupled weight decay, bias-corrected moments):
 * p ← p(1 − lr·wd); m ← β1 m + (1−β1) g; v ← β2 v + (1−β2) g²;
 * p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε).
 */
export class AdamW {
  readonly groups: (ParamGroup & { initialLr: number })[];
  readonly betas: [number, number];
  readonly eps: number;
  readonly state = new Map<Tensor, Moments>();

  constructor(groups: ParamGroup[], opts: AdamWOptions = {}) {
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    this.groups = groups.map((g) => ({
      ...g,
      weightDecay: g.weightDecay ?? opts.weightDecay ?? 1e-2,
      initialLr: g.lr,
    }));
  }

  /** Sets every parameter's gradient to null (disposing it). */
  zeroGrad(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    const [b1, b2] = this.betas;
    noGrad(() => {
      for (const group of this.groups) {
        for (const p of group.params) {
          const g = p.grad;
          if (!g) continue;
          let s = this.state.get(p);
          if (!s) {
            s = { step: 0, expAvg: keep(zerosLike(p)), expAvgSq: keep(zerosLike(p)) };
            this.state.set(p, s);
          }
          s.step++;
          const st = s;
          const bc1 = 1 - b1 ** st.step;
          const bc2 = 1 - b2 ** st.step;
          const lr = group.lr;
          tidy(() => {
            const m = add(mul(st.expAvg, b1), mul(g, 1 - b1));
            const v = add(mul(st.expAvgSq, b2), mul(mul(g, g), 1 - b2));
            const decayed = mul(p, 1 - lr * (group.weightDecay ?? 0));
            const denom = add(div(sqrt(v), Math.sqrt(bc2)), this.eps);
            const next = add(decayed, mul(div(m, denom), -lr / bc1));
            st.expAvg.assign(keep(m));
            st.expAvgSq.assign(keep(v));
            p.assign(keep(next));
          });
        }
      }
    });
  }

  /** Optimizer state for checkpoints: tensors by "<param name>.exp_avg" and JSON meta. */
  stateTensors(): { tensors: Map<string, Tensor>; meta: Record<string, unknown> } {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const group of this.groups) {
      group.params.forEach((p, i) => {
        const s = this.state.get(p);
        const name = group.names?.[i] ?? p.name ?? `${group.name ?? "group"}.${i}`;
        if (!s) return;
        tensors.set(`${name}.exp_avg`, s.expAvg);
        tensors.set(`${name}.exp_avg_sq`, s.expAvgSq);
        steps[name] = s.step;
      });
    }
    const lrs = this.groups.map((g) => ({ name: g.name, lr: g.lr, initialLr: g.initialLr }));
    return { tensors, meta: { betas: this.betas, eps: this.eps, steps, groups: lrs } };
  }

  /** Restores what stateTensors() produced (tensors already on the params' backend). */
  loadStateTensors(tensors: Map<string, Tensor>, meta: Record<string, unknown>): void {
    const steps = meta.steps as Record<string, number>;
    const groups = meta.groups as { lr: number; initialLr: number }[];
    this.groups.forEach((group, gi) => {
      if (groups?.[gi]) {
        group.lr = groups[gi].lr;
        group.initialLr = groups[gi].initialLr;
      }
      group.params.forEach((p, i) => {
        const name = group.names?.[i] ?? p.name ?? `${group.name ?? "group"}.${i}`;
        const m = tensors.get(`${name}.exp_avg`);
        const v = tensors.get(`${name}.exp_avg_sq`);
        if (!m || !v) return;
        this.state.set(p, { step: steps[name] ?? 0, expAvg: keep(m), expAvgSq: keep(v) });
      });
    });
  }
}
