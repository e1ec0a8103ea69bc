// Chaos scenario 4 for `bun run test:chaos`: storage faults (one tier: the faults are the same).

import { defineStorageTests } from "./lib/storage-suite.ts";

defineStorageTests();
