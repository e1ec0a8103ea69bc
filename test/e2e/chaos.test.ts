// The short tier of the reliability suite, in `npm test`: every scenario of
// test/chaos/lib/scenarios.ts with its short numbers (docs/guarantees.md, "How each promise is tested").

import { defineChaosSuite } from "../chaos/lib/scenarios.ts";

defineChaosSuite("short");
