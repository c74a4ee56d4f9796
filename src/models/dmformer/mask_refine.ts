import type { Tensor } from "../../tensor/tensor.ts";
import { zeros } from "../../ops/creation.ts";
import { add, mul, relu, tanh } from "../../ops/elementwise.ts";
import { narrow, pad, reshape } from "../../ops/shape_ops.ts";
import { conv2d } from "../../ops/conv.ts";
import { Module, param } from "../../nn/module.ts";
import { Conv2d } from "../../nn/layers.ts";

/** Channels of the refinement's two hidden 3x3 convs. */
export const MASK_REFINE_CHANNELS = 16;

/** Logits enter the convs as tanh(logit / 4): bounded, and still steep around the 0.5 threshold. */
const LOGIT_SCALE = 0.25;

/**
 * Not in the reference (a recipe option, off by default): a small image-guided refinement of the
 * full-resolution mask logits. The reference predicts masks on the stride-4 grid and upsamples
 * them, so an object a few cells wide gets a boundary that is off by a pixel or two everywhere,
 * which costs much of J on small objects. Three 3x3 convs (7x7 pixels of context) read each
 * query's upsampled logits beside the frame's normalised RGB (conv1's input channels: logit, r,
 * g, b) and add a correction to the logits. The last conv starts at zero, so the refinement starts as the identity and a model trained
 * without it loads unchanged.
 */
export class MaskRefine extends Module {
  conv1: Conv2d;
  conv2: Conv2d;
  conv3: Conv2d;

  constructor(readonly channels = MASK_REFINE_CHANNELS) {
    super();
    this.conv1 = new Conv2d(4, channels, 3, { padding: 1 });
    this.conv2 = new Conv2d(channels, channels, 3, { padding: 1 });
    this.conv3 = new Conv2d(channels, 1, 3, { padding: 1 });
    this.conv3.weight = param(zeros([1, channels, 3, 3]));
    this.conv3.bias = param(zeros([1]));
  }

  /**
   * masks [b, t, q, H, W] logits on the input grid; frames [b, t, 3, h, w] the normalised input.
   * The head's grid may overhang the input by less than one stride-4 cell (inputs whose sides
   * are not multiples of 4): the frames are zero-padded to it, like the model's padding.
   * Returns refined logits of the masks' shape.
   */
  forward(masks: Tensor, frames: Tensor): Tensor {
    const [b, t, q, H, W] = masks.shape;
    const [fb, ft, fc, fh, fw] = frames.shape;
    const overhang = [H - fh, W - fw];
    if (fb !== b || ft !== t || fc !== 3 || overhang.some((o) => o < 0 || o >= 4)) {
      throw new Error(
        `mask refine: masks [${masks.shape}] need frames [${b}, ${t}, 3, ${H}, ${W}], ` +
          `got [${frames.shape}] (the refinement needs maskOutStride 1)`,
      );
    }
    const padded = overhang.some((o) => o > 0)
      ? pad(frames, [0, overhang[1], 0, overhang[0]])
      : frames;
    // conv1 is linear in its input channels: the RGB part runs once per frame and is shared by the
    // frame's q queries, so the frames are never copied q times
    const n = b * t * q, c = this.channels;
    const w1 = this.conv1.weight;
    const logits = reshape(tanh(mul(masks, LOGIT_SCALE)), [n, 1, H, W]);
    const fromLogits = conv2d(logits, narrow(w1, 1, 0, 1), this.conv1.bias, this.conv1.opts);
    const pixels = reshape(padded, [b * t, 3, H, W]);
    const fromPixels = conv2d(pixels, narrow(w1, 1, 1, 3), null, this.conv1.opts);
    const first = add(
      reshape(fromLogits, [b, t, q, c, H, W]),
      reshape(fromPixels, [b, t, 1, c, H, W]),
    );
    const hidden = relu(this.conv2.forward(relu(reshape(first, [n, c, H, W]))));
    const correction = this.conv3.forward(hidden);
    return add(masks, reshape(correction, [b, t, q, H, W]));
  }
}
