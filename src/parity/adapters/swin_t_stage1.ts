import { registerParityAdapter } from "../registry.ts";
import { runSwinFixture } from "./swin_shared.ts";

registerParityAdapter({ fixture: "swin_t_stage1", run: runSwinFixture });
