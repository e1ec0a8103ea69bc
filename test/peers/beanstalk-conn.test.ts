// The peer bench's beanstalkd client and server handling against a real beanstalkd (installed from
// Debian's package when missing, skipped loudly when it cannot be): put/reserve/delete/release and
// tube commands as the server answers them, pipelining, a private server on loopback with its
// binlog in a temp dir, found by its own pid and stopped by it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { BeanstalkConn, BeanstalkReplyError } from "../../bench/peers/beanstalk-conn.ts";
import { encodePut, encodeReserve } from "../../bench/peers/beanstalk-protocol.ts";
import { startBeanstalkd, type RunningBeanstalkd } from "../../bench/peers/beanstalkd-server.ts";
import { findBeanstalkd, warnSkipped } from "../helpers/beanstalkd.ts";
import { processIsAlive } from "../../src/store/data-dir.ts";

const found = await findBeanstalkd();
warnSkipped("the beanstalkd client tests", found);
const PUT = { pri: 10, delaySecs: 0, ttrSecs: 30 };
const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe.skipIf(found.path === null)("against a real beanstalkd", () => {
  let server: RunningBeanstalkd;
  let conn: BeanstalkConn;

  beforeAll(async () => {
    server = await startBeanstalkd(found.path!, { binlog: null, maxJobBytes: 100 });
    conn = await BeanstalkConn.open(server.host, server.port);
  });

  afterAll(async () => {
    conn.close();
    await server.stop();
  });

  test("put, reserve, release, reserve again, delete: the job's bytes come back exactly, CRLF inside included", async () => {
    await conn.use("life");
    expect(await conn.watch("life")).toBe(2);
    expect(await conn.ignore("default")).toBe(1);
    const body = bytes("a\r\nb\0c");
    const id = await conn.put(body, PUT);
    const first = await conn.reserve(0);
    expect(first).toEqual({ id, body });
    await conn.release(id, PUT.pri, 0);
    const again = await conn.reserve(0);
    expect(again?.id).toBe(id);
    await conn.delete(id);
    expect(await conn.reserve(0)).toBeNull();
    const stats = await conn.stats();
    expect(Number(stats["cmd-put"])).toBeGreaterThanOrEqual(1);
    expect(Number(stats.pid)).toBe(server.pid);
  });

  test("an answer other than the command's success is a BeanstalkReplyError carrying the server's word", async () => {
    const err = await conn.delete(999_999).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BeanstalkReplyError);
    expect((err as BeanstalkReplyError).reply.word).toBe("NOT_FOUND");
    expect(String(err)).toContain("delete with NOT_FOUND");
    const other = await BeanstalkConn.open(server.host, server.port);
    try {
      // The server refuses a body over its -z (65,535 by default): the client says so instead of hanging.
      const tooBig = await other.put(new Uint8Array(65_536), PUT).catch((e: unknown) => e);
      expect((tooBig as BeanstalkReplyError).reply.word).toBe("JOB_TOO_BIG");
      // The connection stays usable after it.
      expect(await other.put(new Uint8Array(65_535), PUT)).toBeGreaterThan(0);
    } finally {
      other.close();
    }
  });

  test("1,000 puts pipelined in one send are answered in order with ids the server counts", async () => {
    await conn.use("pipe");
    const replies = await conn.send(Array.from({ length: 1000 }, (_, i) => encodePut(bytes(`job ${i}`), PUT)));
    expect(replies.map((r) => r.word)).toEqual(new Array(1000).fill("INSERTED"));
    const ids = replies.map((r) => Number(r.args[0]));
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    const worker = await BeanstalkConn.open(server.host, server.port);
    try {
      await worker.watch("pipe");
      await worker.ignore("default");
      // Reserves pipelined too; FIFO within one priority, so the bodies come back in put order.
      const got = await worker.send(Array.from({ length: 1001 }, () => encodeReserve(0)));
      expect(got.slice(0, 1000).map((r) => new TextDecoder().decode(r.body!))).toEqual(Array.from({ length: 1000 }, (_, i) => `job ${i}`));
      expect(got[1000]!.word).toBe("TIMED_OUT");
      const stats = await worker.stats();
      expect(Number(stats["current-jobs-reserved"])).toBe(1000);
    } finally {
      worker.close();
    }
    // Closing the worker's connection gave its reserved jobs back.
    await Bun.sleep(50);
    expect(Number((await conn.stats())["current-jobs-ready"])).toBeGreaterThanOrEqual(1000);
  });

  test("a lost server fails what is owed and every later send, instead of hanging", async () => {
    const own = await startBeanstalkd(found.path!, { binlog: null, maxJobBytes: 100 });
    const c = await BeanstalkConn.open(own.host, own.port);
    await c.watch("nothing");
    const parked = c.reserve(30).catch((e: unknown) => e);
    await own.stop();
    expect(String(await parked)).toContain("closed");
    expect(c.failed).toBe(true);
    expect(String(await c.stats().catch((e: unknown) => e))).toContain("closed");
  });
});

describe.skipIf(found.path === null)("startBeanstalkd", () => {
  test("with a binlog: loopback only, -b in a fresh dir with -f as given, which holds the log while it runs and is gone after stop, as is the process", async () => {
    const server = await startBeanstalkd(found.path!, { binlog: { fsync: { everyMs: 50 } }, maxJobBytes: 100 });
    const dir = server.argv[server.argv.indexOf("-b") + 1]!;
    expect(server.argv.slice(1)).toEqual(["-l", "127.0.0.1", "-p", String(server.port), "-b", dir, "-f", "50"]);
    const conn = await BeanstalkConn.open(server.host, server.port);
    await conn.put(bytes("kept"), PUT);
    conn.close();
    expect(readdirSync(dir).some((f) => f.startsWith("binlog."))).toBe(true);
    await server.stop();
    expect(processIsAlive(server.pid)).toBe(false);
    expect(existsSync(dir)).toBe(false);
  });

  test("-F for a binlog never fsynced, none without a binlog, -z only for jobs over beanstalkd's 65,535-byte default", async () => {
    const never = await startBeanstalkd(found.path!, { binlog: { fsync: "never" }, maxJobBytes: 200_000 });
    const plain = await startBeanstalkd(found.path!, { binlog: null, maxJobBytes: 100 });
    try {
      expect(never.argv).toContain("-F");
      expect(never.argv.slice(never.argv.indexOf("-z"), never.argv.indexOf("-z") + 2)).toEqual(["-z", "200000"]);
      const big = await BeanstalkConn.open(never.host, never.port);
      expect(await big.put(new Uint8Array(200_000), PUT)).toBeGreaterThan(0);
      big.close();
      expect(plain.argv.slice(1)).toEqual(["-l", "127.0.0.1", "-p", String(plain.port)]);
      expect(plain.port).not.toBe(never.port);
    } finally {
      await never.stop();
      await plain.stop();
    }
  });
});
