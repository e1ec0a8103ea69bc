// Open connections per client address, for broker.max_connections_per_address. An IPv6 client
// is counted by its /64 (one host usually holds a whole /64, so counting single addresses would
// limit nothing) and an IPv4-mapped IPv6 address as the IPv4 one. Loopback is never limited.

import { isLoopback } from "../broker/auth.ts";

/** The key a client address is counted under; null = not limited (loopback, or unknown). */
export function addressKey(address: string): string | null {
  if (address === "" || isLoopback(address)) return null;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(":")) return address;
  return `${ipv6Prefix64(address)}::/64`;
}

/** The first four groups of an IPv6 address, expanded ("2001:db8::1" -> "2001:db8:0:0"). */
function ipv6Prefix64(address: string): string {
  const bare = address.split("%")[0]!.toLowerCase();
  const [head, tail] = bare.includes("::") ? bare.split("::") : [bare, null];
  const front = head === "" ? [] : head!.split(":");
  const back = tail === null || tail === "" ? [] : tail.split(":");
  // An embedded IPv4 tail ("::1.2.3.4") counts as two groups; it only matters past group 4.
  const missing = tail === null ? 0 : 8 - front.length - back.length;
  const groups = [...front, ...Array<string>(Math.max(0, missing)).fill("0"), ...back];
  return groups
    .slice(0, 4)
    .map((g) => (g.includes(".") ? g : Number.parseInt(g, 16).toString(16)))
    .join(":");
}

export class AddressLimit {
  private readonly counts = new Map<string, number>();

  /** `max` 0 turns the limit off. */
  constructor(private readonly max: number) {}

  /** Counts a new connection from `address` and returns its key, or returns false when the address is at its limit. */
  admit(address: string): { key: string | null } | false {
    const key = this.max === 0 ? null : addressKey(address);
    if (key === null) return { key };
    const n = this.counts.get(key) ?? 0;
    if (n >= this.max) return false;
    this.counts.set(key, n + 1);
    return { key };
  }

  /** A connection counted under `key` closed. */
  release(key: string | null): void {
    if (key === null) return;
    const n = (this.counts.get(key) ?? 1) - 1;
    if (n <= 0) this.counts.delete(key);
    else this.counts.set(key, n);
  }

  /** Addresses with at least one connection counted (for tests and stats). */
  get size(): number {
    return this.counts.size;
  }
}
