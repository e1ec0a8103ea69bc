// Short tier of chaos scenario 3 (slow-loris, half-open, non-reader, flood, fd exhaustion); the
// long tier is test/chaos/connections.test.ts. Tests: test/chaos/lib/connection-suite.ts.

import { defineConnectionTests } from "../chaos/lib/connection-suite.ts";

defineConnectionTests("short");
