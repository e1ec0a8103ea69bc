// Tells systemd how the service is doing (Type=notify): READY=1 once every listener is bound,
// STOPPING=1 when shutdown begins. One datagram to $NOTIFY_SOCKET, as sd_notify(3) sends it.
// Does nothing when NOTIFY_SOCKET is unset (not under systemd, or not Type=notify).

import type { Logger } from "./log.ts";

// Neither node:dgram nor Bun.udpSocket can open an AF_UNIX datagram socket, so the socket comes
// from libc through bun:ffi. Sending from the broker's own pid lets the unit keep
// NotifyAccess=main; a `systemd-notify` child would need NotifyAccess=all, and before systemd 246
// its message can be dropped when it exits before systemd reads it.
const AF_UNIX = 1;
// Linux values, the same on x86-64 and arm64.
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
/** sizeof(struct sockaddr_un): sa_family_t then a 108-byte path. */
const SOCKADDR_UN_BYTES = 110;

export type NotifyState = "READY=1" | "STOPPING=1";

/** Sends `state` to systemd if it asked for notifications; a failure is logged, never thrown. */
export function notifySystemd(state: NotifyState, env: Readonly<Record<string, string | undefined>>, log: Logger): void {
  const socketPath = env.NOTIFY_SOCKET;
  if (socketPath === undefined || socketPath === "") return;
  try {
    sendDatagram(socketPath, state);
  } catch (err) {
    log.warn("could not notify systemd", { state, notify_socket: socketPath, error: err instanceof Error ? err.message : String(err) });
  }
}

/** The struct sockaddr_un for a path, or for an abstract socket when it starts with "@". */
export function socketAddress(socketPath: string): { bytes: Uint8Array; length: number } {
  if (!socketPath.startsWith("/") && !socketPath.startsWith("@")) {
    throw new Error(`NOTIFY_SOCKET ${JSON.stringify(socketPath)}: only a unix socket path or @abstract name is supported`);
  }
  const name = Buffer.from(socketPath.startsWith("@") ? `\0${socketPath.slice(1)}` : socketPath, "utf8");
  // A path needs its terminating NUL inside sun_path; an abstract name is counted exactly.
  if (name.length > SOCKADDR_UN_BYTES - 2 - 1) throw new Error(`NOTIFY_SOCKET ${JSON.stringify(socketPath)}: longer than a unix socket address allows`);
  const bytes = new Uint8Array(SOCKADDR_UN_BYTES);
  bytes.set(new Uint8Array(new Uint16Array([AF_UNIX]).buffer), 0); // sa_family_t, native byte order
  bytes.set(name, 2);
  return { bytes, length: 2 + name.length + (socketPath.startsWith("@") ? 0 : 1) };
}

type Ffi = typeof import("bun:ffi");
type Libc = ReturnType<typeof openLibc>;
let libc: Libc | undefined;

/** Loaded on first use, so only a broker that systemd asked for notifications loads FFI at all. */
function ffi(): Ffi {
  return require("bun:ffi") as Ffi;
}

function openLibc() {
  const { dlopen, FFIType } = ffi();
  // glibc's soname; musl's loader answers any libc.* request with itself.
  return dlopen("libc.so.6", {
    socket: { args: [FFIType.i32, FFIType.i32, FFIType.i32], returns: FFIType.i32 },
    sendto: { args: [FFIType.i32, FFIType.ptr, FFIType.u64, FFIType.i32, FFIType.ptr, FFIType.u32], returns: FFIType.i64 },
    close: { args: [FFIType.i32], returns: FFIType.i32 },
  }).symbols;
}

function sendDatagram(socketPath: string, message: string): void {
  if (process.platform !== "linux") throw new Error(`NOTIFY_SOCKET is only supported on Linux, not ${process.platform}`);
  const address = socketAddress(socketPath);
  libc ??= openLibc();
  const fd = libc.socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw new Error("socket(AF_UNIX, SOCK_DGRAM) failed");
  try {
    const payload = Buffer.from(message, "utf8");
    const { ptr } = ffi();
    const sent = libc.sendto(fd, ptr(payload), payload.length, 0, ptr(address.bytes), address.length);
    if (Number(sent) !== payload.length) throw new Error(`sendto ${socketPath} failed`);
  } finally {
    libc.close(fd);
  }
}
