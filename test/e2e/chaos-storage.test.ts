// Short tier of chaos scenario 4 (disk full on a tmpfs, corrupt database, unusable data dir);
// the same tests run from test/chaos/storage-faults.test.ts. Tests: test/chaos/lib/storage-suite.ts.

import { defineStorageTests } from "../chaos/lib/storage-suite.ts";

defineStorageTests();
