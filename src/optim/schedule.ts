import type { AdamW } from "./adamw.ts";

/** torch.optim.lr_scheduler.MultiStepLR: lr = initial · gamma^(milestones passed). */
export class MultiStepLR {
  epoch = 0;

  constructor(readonly optimizer: AdamW, readonly milestones: number[], readonly gamma = 0.1) {}

  /** Advances one epoch and updates every group's lr. */
  step(): void {
    this.epoch++;
    const passed = this.milestones.filter((m) => m <= this.epoch).length;
    for (const g of this.optimizer.groups) g.lr = g.initialLr * this.gamma ** passed;
  }
}
