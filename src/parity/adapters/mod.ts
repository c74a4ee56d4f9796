// Each adapter registers itself on import; one line per fixture family.
import "./losses.ts";
import "./swin_tiny.ts";
import "./swin_t_stage1.ts";
import "./text_encoder.ts";
import "./bert_encoder_layer.ts";
import "./msda_core.ts";
import "./msdeform_attn_module.ts";
import "./deform_encoder_layer.ts";
import "./deform_decoder_layer.ts";
import "./pos_sine.ts";
import "./vl_fusion.ts";
import "./feature_resizer.ts";
import "./fpn_decoder.ts";
import "./mask_head.ts";
import "./dmmi_tiny.ts";
