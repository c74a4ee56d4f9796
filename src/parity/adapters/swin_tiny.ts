import { registerParityAdapter } from "../registry.ts";
import { runSwinFixture } from "./swin_shared.ts";

registerParityAdapter({ fixture: "swin_tiny", run: runSwinFixture });
