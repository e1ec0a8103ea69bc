// Lease references as the database knows them: a token (what a worker holds) turned back into
// the serial stored on the row, found by id AND serial (never by status: see the planner trap in
// docs/storage-postgres.md), and the error a reference that matches nothing deserves.

import type { SQL } from "bun";
import { BrokerError, ErrorCode } from "../../protocol/errors.ts";
import { isUuid } from "../../protocol/uuid.ts";
import type { LeaseRef } from "../../rules/task.ts";
import type { TokenCipher } from "../token-cipher.ts";

/** A reference whose id is a UUID, with the serial its token stands for. */
export interface SerialRef {
  id: string;
  serial: number;
  token: number;
}

/** The serial behind a token, or null when the id cannot name a task (NotFound without asking the database). */
export function toSerialRef(ref: LeaseRef, cipher: TokenCipher): SerialRef | null {
  const id = ref.id.toLowerCase();
  if (!isUuid(id)) return null;
  return { id, serial: cipher.serial(ref.token >>> 0), token: ref.token };
}

export function notFound(id: string): BrokerError {
  return new BrokerError(ErrorCode.NotFound, `no task with id ${JSON.stringify(id)}`, { field: "id" });
}

/**
 * Why each of `refs` matched no live lease: NotFound (no such task) or LeaseLost (a stale token),
 * from one read. `tooBig` names refs whose lease is current but whose result was refused.
 */
export async function whyNot(tx: SQL, refs: readonly { id: string; token: number }[]): Promise<Map<string, BrokerError>> {
  const ids = [...new Set(refs.filter((r) => isUuid(r.id.toLowerCase())).map((r) => r.id.toLowerCase()))];
  const rows =
    ids.length === 0
      ? []
      : ((await tx`SELECT id, status, lease_serial IS NOT NULL AS leased FROM tasks WHERE id = ANY(${ids}::uuid[])`) as {
          id: string;
          status: string;
          leased: boolean;
        }[]);
  const byId = new Map(rows.map((r) => [r.id, r]));
  const out = new Map<string, BrokerError>();
  for (const ref of refs) {
    const row = byId.get(ref.id.toLowerCase());
    out.set(
      refKey(ref),
      row === undefined
        ? notFound(ref.id)
        : new BrokerError(
            ErrorCode.LeaseLost,
            `lease token ${ref.token} on task ${ref.id} is not current (task is ${row.status}${row.leased ? ", leased under a newer token" : ""}); the task may be running elsewhere`,
            { field: "token" },
          ),
    );
  }
  return out;
}

export function refKey(ref: { id: string; token: number }): string {
  return `${ref.id.toLowerCase()}/${ref.token >>> 0}`;
}
