// The hostile-clients scenario for `bun run test:chaos`; TQ_CHAOS_TIER=long runs the full 1,000
// non-reading connections, longer floods and slower slot holders.

import { defineHostileTests } from "./lib/hostile-suite.ts";
import { TIER } from "./lib/tier.ts";

defineHostileTests(TIER);
