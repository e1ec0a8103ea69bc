// Chaos scenario 3 for `bun run test:chaos`: abusive connections; TQ_CHAOS_TIER=long runs the
// slow-loris at a byte a second and larger floods.

import { defineConnectionTests } from "./lib/connection-suite.ts";
import { TIER } from "./lib/tier.ts";

defineConnectionTests(TIER);
