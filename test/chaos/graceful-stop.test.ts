// Chaos scenario 7 for `bun run test:chaos`: graceful stop under load; TQ_CHAOS_TIER=long stops 20 times.

import { defineGracefulTests } from "./lib/graceful-suite.ts";
import { TIER } from "./lib/tier.ts";

defineGracefulTests(TIER);
