import type { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/autograd.ts";
import { keep, tidy } from "../tensor/memory.ts";
import { mul, sqrt } from "../ops/elementwise.ts";
import { sum } from "../ops/reduce.ts";
import { stack } from "../ops/shape_ops.ts";

/**
 * Scales gradients so their global L2 norm is at most maxNorm (torch's clip_grad_norm_,
 * coefficient maxNorm / (norm + 1e-6) clamped to 1). Returns the norm before clipping.
 * Reads one scalar back, so it awaits.
 */
export async function clipGradNorm(params: Tensor[], maxNorm: number): Promise<number> {
  const withGrad = params.filter((p) => p.grad);
  if (withGrad.length === 0) return 0;
  const normT = noGrad(() =>
    tidy(() => sqrt(sum(stack(withGrad.map((p) => sum(mul(p.grad!, p.grad!)))))))
  );
  const norm = await normT.item();
  normT.dispose();
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1 && maxNorm > 0) {
    noGrad(() => {
      for (const p of withGrad) {
        const g = p.grad!;
        p.grad = keep(mul(g, coef));
        g.dispose();
      }
    });
  }
  return norm;
}
