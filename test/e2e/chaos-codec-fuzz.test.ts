// Short tier of chaos scenario 2 (100,000 hostile frames against a live broker with a canary);
// the long tier is test/chaos/codec-fuzz.test.ts. Tests: test/chaos/lib/fuzz-suite.ts.

import { defineFuzzTests } from "../chaos/lib/fuzz-suite.ts";

defineFuzzTests("short");
