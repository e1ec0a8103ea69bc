// Short tier of chaos scenario 7 (SIGTERM under load with workers, 3 times); the long tier is
// test/chaos/graceful-stop.test.ts. Test: test/chaos/lib/graceful-suite.ts.

import { defineGracefulTests } from "../chaos/lib/graceful-suite.ts";

defineGracefulTests("short");
