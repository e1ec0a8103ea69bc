// What a PostgresStore is opened with: where the database is, which schema, this broker's node
// id, the pool and commit settings, the rules and the listeners the broker wires to it. Types only.

import type { Clock } from "../../clock.ts";
import type { RetryPolicy } from "../../rules/transitions.ts";
import type { StoreEvents } from "../store.ts";

export interface PostgresStoreOptions {
  /** postgres://user:password@host:port/database (TLS and the like as URL parameters). */
  url: string;
  /** Schema holding the tables; created if missing. Several clusters may share a database, one schema each. */
  schema: string;
  /** This broker's id in the cluster (raft.node_id): stamped on the leases it issues and on the workers it serves. */
  nodeId: string;
  /** Connections in the pool (the LISTEN connection comes on top). */
  poolSize: number;
  /** synchronous_commit per session: on waits for the WAL flush before a commit is acknowledged. */
  synchronousCommit: boolean;
  /** The broker's clock: what the hand-back at open stamps on the rows. Default: the system's. */
  clock?: Pick<Clock, "now">;
  /** What a failure leads to (rules/transitions.ts). Tests pin the jitter here. */
  retry?: RetryPolicy;
  /** Ready, finished and due, after the commit that made them true, whichever broker committed it. */
  events?: Partial<StoreEvents>;
  /** Period of the safety-net poll (ready tasks announced even if a notification was lost), in ms. */
  pollIntervalMs?: number;
  /** Age past which pendingCount() is read again from the database, in ms (backpressure's lag). */
  pendingCountMaxAgeMs?: number;
  /** Seconds a connection attempt may take before the store answers StorageUnavailable. */
  connectTimeoutSecs?: number;
  /** Told after each commit with its operations and the time from BEGIN to COMMIT done (metrics). */
  onCommit?: (ops: number, commitMs: number) => void;
  /** What the store reports: warnings (a failed poll, a clock skew), and news at "info" (a schema migrated). */
  log?: (message: string, fields?: Record<string, unknown>, level?: "info" | "warn") => void;
}
