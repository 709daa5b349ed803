import { startBotHarness, type BotHarness } from '../support/botHarness';
import { seedNotifications, seedsAvailable } from '../support/seeds';

/**
 * Every notification example on the five Graph API pages the product starts from
 * (../shared/seeds), posted signed to the bot: each is accepted, and each incoming call
 * gets exactly one Graph request that conforms to the CSDL.
 */

const available = seedsAvailable;
let bot: BotHarness;
beforeAll(async () => {
  if (available) bot = await startBotHarness();
}, 60_000);
afterAll(() => bot?.stop());

(available ? test : test.skip)(
  'every seed notification is accepted; each incoming call gets one valid request',
  async () => {
    const examples = seedNotifications();
    expect(examples.length).toBeGreaterThanOrEqual(15);
    // The same call ids recur across examples: run each incoming call once, as Graph would.
    const incoming = new Set<string>();
    for (const { page, body } of examples) {
      const res = await bot.notify(body);
      expect([page, res.status]).toEqual([page, 202]);
      const n = body.value[0]!;
      const data = n.resourceData as { state?: string } | undefined;
      if (n.changeType === 'created' && data?.state === 'incoming') {
        incoming.add(String(n.resourceUrl).split('/').pop()!);
      }
    }
    expect(incoming.size).toBeGreaterThanOrEqual(3);
    for (const callId of incoming) {
      const sent = bot.graph.requests.filter(
        (r) => r.callId === callId && ['answer', 'reject', 'redirect'].includes(r.action ?? ''),
      );
      expect([callId, sent.length]).toEqual([callId, 1]);
      expect(sent[0]!.issues).toEqual([]);
    }
  },
);

(available ? test : test.skip)(
  'all the examples as one batch, with codes as strings, are accepted; each incoming call gets one valid request',
  async () => {
    // Fresh call ids, so this does not depend on what the test above left in storage.
    const text = JSON.stringify(seedNotifications().flatMap((e) => e.body.value))
      .replace(/"(code|subcode|sequenceId)":\s*(\d+)/g, '"$1":"$2"')
      .replace(/\/calls\/([0-9A-Za-z-]+)/g, '/calls/$1-batch');
    expect(text).toContain('"subcode":"8515"');
    const value = JSON.parse(text) as Array<Record<string, unknown>>;
    const res = await bot.notify({ value });
    expect(res.status).toBe(202);
    const incoming = new Set(
      value
        .filter(
          (n) =>
            n.changeType === 'created' &&
            (n.resourceData as { state?: string } | undefined)?.state === 'incoming',
        )
        .map((n) => String(n.resourceUrl).split('/').pop()!),
    );
    expect(incoming.size).toBeGreaterThanOrEqual(3);
    for (const callId of incoming) {
      const sent = bot.graph.requests.filter(
        (r) => r.callId === callId && ['answer', 'reject', 'redirect'].includes(r.action ?? ''),
      );
      expect([callId, sent.length]).toEqual([callId, 1]);
      expect(sent[0]!.issues).toEqual([]);
    }
  },
);
