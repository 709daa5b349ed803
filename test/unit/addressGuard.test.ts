import type { LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import {
  addressProblem,
  classifyAddress,
  guardedLookup,
  UnsafeAddressError,
} from '../../shared/net/addressGuard';

test('public unicast addresses are allowed, at the edges of the ranges around them too', () => {
  for (const a of [
    '52.114.0.1',
    '20.190.128.1',
    '8.8.8.8',
    '9.255.255.255',
    '11.0.0.0',
    '100.63.255.255',
    '100.128.0.0',
    '172.15.255.255',
    '172.32.0.0',
    '192.167.255.255',
    '192.169.0.0',
    '169.253.255.255',
    '126.255.255.255',
    '128.0.0.0',
    '1.0.0.0',
    '2606:4700:4700::1111',
    '2a01:111:f400::1',
    '::ffff:52.114.0.1',
    '64:ff9b::808:808',
    '2002:808:808::1',
    'fbff:ffff::1',
  ])
    expect([a, classifyAddress(a)]).toEqual([a, { kind: 'public' }]);
});

test('private, shared, link-local, metadata, loopback and other special addresses are refused', () => {
  const cases: Array<[string, RegExp]> = [
    ['10.0.0.5', /private/],
    ['10.255.255.255', /private/],
    ['172.16.0.1', /private/],
    ['172.31.255.255', /private/],
    ['192.168.1.1', /private/],
    ['100.64.0.1', /CGNAT/],
    ['100.127.255.255', /CGNAT/],
    ['0.0.0.0', /unspecified/],
    ['0.1.2.3', /unspecified/],
    ['127.0.0.1', /loopback/],
    ['127.255.0.9', /loopback/],
    ['169.254.169.254', /metadata/],
    ['169.254.1.1', /link-local/],
    ['168.63.129.16', /Azure platform/],
    ['224.0.0.1', /multicast/],
    ['255.255.255.255', /reserved/],
    ['::', /unspecified/],
    ['::1', /loopback/],
    ['fe80::1', /link-local/],
    ['fe80::1%eth0', /link-local/],
    ['febf:ffff::1', /link-local/],
    ['fc00::1', /unique-local/],
    ['fdff:ffff::1', /unique-local/],
    ['fd00:ec2::254', /metadata/],
    ['ff02::1', /multicast/],
    ['::ffff:10.0.0.1', /private address \(IPv4-mapped\)/],
    ['::ffff:a00:1', /private address \(IPv4-mapped\)/],
    ['::ffff:127.0.0.1', /loopback address \(IPv4-mapped\)/],
    ['::ffff:169.254.169.254', /metadata address \(IPv4-mapped\)/],
    ['::ffff:0:0', /unspecified \("this network"\) address \(IPv4-mapped\)/],
    ['::10.0.0.1', /IPv4-compatible/],
    ['64:ff9b::a9fe:a9fe', /metadata address \(NAT64\)/],
    ['64:ff9b:1::1', /NAT64/],
    ['2002:a00:1::1', /private address \(6to4\)/],
    ['2001:0:4136:e378::1', /Teredo/],
    ['[::1]', /loopback/],
    ['not-an-ip', /not an IP address/],
    ['', /not an IP address/],
  ];
  for (const [address, reason] of cases) {
    const problem = addressProblem(address, false);
    expect([address, problem]).toEqual([address, expect.stringMatching(reason)]);
  }
});

test('loopback is allowed only when asked for, and nothing else private with it', () => {
  for (const a of ['127.0.0.1', '127.1.2.3', '::1', '::ffff:127.0.0.1'])
    expect(addressProblem(a, true)).toBeNull();
  for (const a of ['10.0.0.5', '169.254.169.254', 'fe80::1', '0.0.0.0', '::', 'fd00::1'])
    expect([a, addressProblem(a, true)]).toEqual([a, expect.any(String)]);
});

/** A resolver giving fixed answers, asynchronously as a real one does. */
function resolverOf(answers: Record<string, string[]>): LookupFunction & { calls: string[] } {
  const calls: string[] = [];
  const fn: LookupFunction = (hostname, _options, callback) => {
    calls.push(hostname);
    const list = answers[hostname];
    setImmediate(() =>
      list
        ? callback(
            null,
            list.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })),
          )
        : callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []),
    );
  };
  return Object.assign(fn, { calls });
}

function lookupWith(
  lookup: LookupFunction,
  hostname: string,
  all: boolean,
): Promise<{ err: NodeJS.ErrnoException | null; address: string | LookupAddress[]; family?: number }> {
  return new Promise((resolve) =>
    lookup(hostname, { all }, (err, address, family) => resolve({ err, address, family })),
  );
}

test('the guarded lookup hands over exactly the checked addresses, in both answer shapes', async () => {
  const resolver = resolverOf({ 'recordings.example.com': ['52.114.0.1', '2603:1037::1'] });
  const lookup = guardedLookup(resolver);
  expect(await lookupWith(lookup, 'recordings.example.com', true)).toEqual({
    err: null,
    address: [
      { address: '52.114.0.1', family: 4 },
      { address: '2603:1037::1', family: 6 },
    ],
    family: undefined,
  });
  expect(await lookupWith(lookup, 'recordings.example.com', false)).toEqual({
    err: null,
    address: '52.114.0.1',
    family: 4,
  });
  expect(resolver.calls).toEqual(['recordings.example.com', 'recordings.example.com']);
});

test('a name with any address that is not allowed is refused as a whole', async () => {
  const lookup = guardedLookup(
    resolverOf({
      mixed: ['52.114.0.1', '10.0.0.5'],
      meta: ['169.254.169.254'],
      local: ['127.0.0.1'],
      empty: [],
    }),
  );
  const mixed = await lookupWith(lookup, 'mixed', true);
  expect(mixed.err).toBeInstanceOf(UnsafeAddressError);
  expect(mixed.err?.message).toBe('mixed resolves to 10.0.0.5, a private address');
  expect((await lookupWith(lookup, 'meta', false)).err?.message).toBe(
    'meta resolves to 169.254.169.254, a cloud metadata address',
  );
  expect((await lookupWith(lookup, 'local', true)).err).toBeInstanceOf(UnsafeAddressError);
  expect((await lookupWith(lookup, 'empty', true)).err?.code).toBe('ENOTFOUND');
  expect((await lookupWith(lookup, 'unknown', true)).err?.code).toBe('ENOTFOUND');
  expect(
    (await lookupWith(guardedLookup(resolverOf({ local: ['127.0.0.1'] }), true), 'local', true)).err,
  ).toBeNull();
});

test('a resolver that answers with a single address, throws, or answers twice is handled', async () => {
  const single: LookupFunction = (_h, _o, cb) => cb(null, '192.168.0.10', 4);
  expect((await lookupWith(guardedLookup(single), 'x', true)).err?.message).toMatch(
    /192\.168\.0\.10, a private/,
  );
  const throwing: LookupFunction = () => {
    throw new Error('resolver broke');
  };
  expect((await lookupWith(guardedLookup(throwing), 'x', true)).err?.message).toBe('resolver broke');
  const answers: unknown[] = [];
  const twice: LookupFunction = (_h, _o, cb) => {
    cb(null, [{ address: '52.114.0.1', family: 4 }]);
    cb(null, [{ address: '10.0.0.1', family: 4 }]);
  };
  guardedLookup(twice)('x', { all: true }, (err, address) => answers.push([err, address]));
  expect(answers).toEqual([[null, [{ address: '52.114.0.1', family: 4 }]]]);
});
