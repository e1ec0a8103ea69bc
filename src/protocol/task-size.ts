// The rule that every stored task fits one reply: what a task's own data (payload, result, error)
// weighs against MAX_TASK_DATA_BYTES, cutting text at a character boundary, and how a task that
// breaks the rule (stored by an earlier build) is still sent. Pure: no storage, no sockets.

import { MAX_TASK_DATA_BYTES } from "./limits.ts";
import type { TaskInfo } from "./messages.ts";

const encoder = new TextEncoder();

/** UTF-8 bytes of `s`, without encoding ASCII-only strings. */
export function utf8Bytes(s: string): number {
  let n = s.length;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) >= 0x80) {
      n = encoder.encode(s).byteLength;
      break;
    }
  }
  return n;
}

/** `s` cut to at most `maxBytes` of UTF-8, at a character boundary. */
export function clipUtf8(s: string, maxBytes: number): string {
  if (s.length * 3 <= maxBytes) return s;
  const bytes = encoder.encode(s);
  if (bytes.byteLength <= maxBytes) return s;
  let cut = Math.max(0, maxBytes);
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return new TextDecoder().decode(bytes.subarray(0, cut));
}

interface TaskData {
  payload: Uint8Array;
  result: Uint8Array | null;
  error: string | null;
}

/** Payload + result + error bytes: what counts against MAX_TASK_DATA_BYTES. */
export function taskDataBytes(task: TaskData): number {
  return task.payload.byteLength + (task.result?.byteLength ?? 0) + (task.error === null ? 0 : utf8Bytes(task.error));
}

/**
 * The task as one reply can carry it. A stored task keeps the rule, so it comes back as it is;
 * one stored by an earlier build that passes the limit loses its error's tail first, then its
 * result, with the error saying so (the REST API, which has no frame limit, shows it whole).
 */
export function fitOneReply(task: TaskInfo): TaskInfo {
  if (taskDataBytes(task) <= MAX_TASK_DATA_BYTES) return task;
  const room = MAX_TASK_DATA_BYTES - task.payload.byteLength;
  if (task.result === null) return { ...task, error: clipUtf8(task.error ?? "", room) };
  const note = `the result (${task.result.byteLength} bytes) is left out: with the payload it is over the ${MAX_TASK_DATA_BYTES} bytes one reply carries (stored by an earlier build); read the task over the REST API`;
  return { ...task, result: null, resultIsJson: false, error: clipUtf8(note, room) };
}
