// Short tier of chaos scenario 5 (silent worker, killed worker, poison task); the long tier is
// test/chaos/worker-faults.test.ts. Tests: test/chaos/lib/worker-suite.ts.

import { defineWorkerTests } from "../chaos/lib/worker-suite.ts";

defineWorkerTests("short");
