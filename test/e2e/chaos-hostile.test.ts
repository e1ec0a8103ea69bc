// Short tier of the hostile-clients scenario (non-readers, floods beside a healthy client, slot
// holders); the long tier is test/chaos/hostile.test.ts. Tests: test/chaos/lib/hostile-suite.ts.

import { defineHostileTests } from "../chaos/lib/hostile-suite.ts";

defineHostileTests("short");
