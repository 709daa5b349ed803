import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { isIP, isIPv4, type LookupFunction } from 'node:net';

/**
 * Which addresses an outgoing request with a secret (a recording token) may reach: public
 * unicast only. Checked on the resolved addresses, and the socket connects to exactly the
 * addresses checked, so a name cannot point the request at the metadata service or an
 * internal host, before or after the check.
 */

export class UnsafeAddressError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnsafeAddressError';
  }
}

export type AddressClass =
  { kind: 'public' } | { kind: 'loopback'; reason: string } | { kind: 'blocked'; reason: string };

type Range = readonly [prefix: string, bits: number, reason: string];

// More specific entries first: the first match names the reason.
const V4_RANGES: readonly Range[] = [
  ['169.254.169.254', 32, 'a cloud metadata address'],
  // Azure's host endpoint (WireServer, platform DNS): reachable from every Azure VM and app.
  ['168.63.129.16', 32, 'an Azure platform address'],
  ['0.0.0.0', 8, 'an unspecified ("this network") address'],
  ['10.0.0.0', 8, 'a private address'],
  ['100.64.0.0', 10, 'a shared (CGNAT) address'],
  ['127.0.0.0', 8, 'a loopback address'],
  ['169.254.0.0', 16, 'a link-local address'],
  ['172.16.0.0', 12, 'a private address'],
  ['192.0.0.0', 24, 'an IETF protocol address'],
  ['192.168.0.0', 16, 'a private address'],
  ['198.18.0.0', 15, 'a benchmarking address'],
  ['224.0.0.0', 4, 'a multicast address'],
  ['240.0.0.0', 4, 'a reserved address'],
];

const V6_RANGES: readonly Range[] = [
  ['::', 128, 'an unspecified address'],
  ['::1', 128, 'a loopback address'],
  ['::', 96, 'an IPv4-compatible address'],
  ['64:ff9b:1::', 48, 'a local NAT64 address'],
  ['100::', 64, 'a discard-only address'],
  // Teredo hides an arbitrary IPv4 address behind a relay.
  ['2001::', 32, 'a Teredo address'],
  ['fd00:ec2::254', 128, 'a cloud metadata address'],
  ['fc00::', 7, 'a unique-local address'],
  ['fe80::', 10, 'a link-local address'],
  ['fec0::', 10, 'a site-local address'],
  ['ff00::', 8, 'a multicast address'],
];

/** IPv6 prefixes that carry an IPv4 address, which is then what the packets reach. */
const V6_EMBEDDING: ReadonlyArray<readonly [prefix: string, bits: number, v4Offset: number, label: string]> =
  [
    ['::ffff:0:0', 96, 12, 'IPv4-mapped'],
    ['64:ff9b::', 96, 12, 'NAT64'],
    ['2002::', 16, 2, '6to4'],
  ];

function v4Bytes(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}

/** 16 bytes of an IPv6 address already accepted by `isIP` (zone id removed). */
function v6Bytes(address: string): Uint8Array {
  // A dotted IPv4 tail (::ffff:10.0.0.1) becomes its two hex groups.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a, b, c, d) =>
    [(Number(a) << 8) | Number(b), (Number(c) << 8) | Number(d)].map((w) => w.toString(16)).join(':'),
  );
  const groups = (s: string) => (s === '' ? [] : s.split(':').map((g) => parseInt(g, 16)));
  const [head = '', rest] = text.split('::');
  const left = groups(head);
  const right = rest === undefined ? [] : groups(rest);
  const zeros = new Array<number>(8 - left.length - right.length).fill(0);
  const out = new Uint8Array(16);
  [...left, ...zeros, ...right].forEach((w, i) => {
    out[i * 2] = w >> 8;
    out[i * 2 + 1] = w & 0xff;
  });
  return out;
}

function inPrefix(bytes: Uint8Array, prefix: Uint8Array, bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const byte = i >> 3;
    const mask = 0x80 >> (i & 7);
    if ((bytes[byte]! & mask) !== (prefix[byte]! & mask)) return false;
  }
  return true;
}

function classifyV4(bytes: Uint8Array): AddressClass {
  for (const [prefix, bits, reason] of V4_RANGES) {
    if (!inPrefix(bytes, v4Bytes(prefix), bits)) continue;
    return prefix === '127.0.0.0' ? { kind: 'loopback', reason } : { kind: 'blocked', reason };
  }
  return { kind: 'public' };
}

/** Where an IP address leads: public unicast, loopback, or somewhere a request must never go. */
export function classifyAddress(address: string): AddressClass {
  const bare = address.replace(/^\[(.*)\]$/, '$1').replace(/%.*$/, '');
  const family = isIP(bare);
  if (family === 4) return classifyV4(v4Bytes(bare));
  if (family !== 6) return { kind: 'blocked', reason: 'not an IP address' };
  const bytes = v6Bytes(bare);
  for (const [prefix, bits, offset, label] of V6_EMBEDDING) {
    if (!inPrefix(bytes, v6Bytes(prefix), bits)) continue;
    const inner = classifyV4(bytes.subarray(offset, offset + 4));
    return inner.kind === 'public' ? inner : { ...inner, reason: `${inner.reason} (${label})` };
  }
  for (const [prefix, bits, reason] of V6_RANGES) {
    if (!inPrefix(bytes, v6Bytes(prefix), bits)) continue;
    return prefix === '::1' ? { kind: 'loopback', reason } : { kind: 'blocked', reason };
  }
  return { kind: 'public' };
}

/** Why a request may not connect to this address, or null when it may. */
export function addressProblem(address: string, allowLoopback: boolean): string | null {
  const c = classifyAddress(address);
  if (c.kind === 'public' || (c.kind === 'loopback' && allowLoopback)) return null;
  return c.reason;
}

const systemLookup: LookupFunction = (hostname, options, callback) =>
  dnsLookup(hostname, { ...options, all: true }, (err, addresses) => callback(err, addresses));

/**
 * A `lookup` for `net`/`https` that resolves once, refuses the name when any address it has
 * is not allowed, and hands the socket only the addresses checked. `resolve` defaults to the
 * system resolver (what Node uses itself).
 */
export function guardedLookup(resolve: LookupFunction = systemLookup, allowLoopback = false): LookupFunction {
  return (hostname, options, callback) => {
    let answered = false;
    const answer: typeof callback = (err, address, family) => {
      if (answered) return;
      answered = true;
      callback(err, address, family);
    };
    const onResolved = (
      err: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ): void => {
      if (err) return answer(err, []);
      const list: LookupAddress[] =
        typeof address === 'string' ? [{ address, family: family ?? isIP(address) }] : address;
      if (list.length === 0)
        return answer(Object.assign(new Error(`${hostname} has no addresses`), { code: 'ENOTFOUND' }), []);
      for (const entry of list) {
        const problem = addressProblem(entry.address, allowLoopback);
        if (problem)
          return answer(new UnsafeAddressError(`${hostname} resolves to ${entry.address}, ${problem}`), []);
      }
      const first = list[0]!;
      if (options.all) answer(null, list);
      else answer(null, first.address, isIPv4(first.address) ? 4 : 6);
    };
    try {
      resolve(hostname, { family: options.family, hints: options.hints, all: true }, onResolved);
    } catch (err) {
      answer(err as NodeJS.ErrnoException, []);
    }
  };
}
