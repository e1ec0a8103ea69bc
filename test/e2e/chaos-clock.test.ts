// Short tier of chaos scenario 6 (lease, delay and retry under clock jumps, injected clock); the
// long tier is test/chaos/clock-jumps.test.ts. Tests: test/chaos/lib/clock-suite.ts.

import { defineClockTests } from "../chaos/lib/clock-suite.ts";

defineClockTests("short");
