import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startBotHarness, REPO, type BotHarness } from '../support/botHarness';

/**
 * Every notification example on the five Graph API pages the product starts from
 * (../shared/seeds), posted signed to the bot: each is accepted, and each incoming call
 * gets exactly one Graph request that conforms to the CSDL.
 */

const SEEDS = join(REPO, '..', 'shared', 'seeds');

/** The JSON bodies that follow "POST https://bot.contoso.com/..." on the pages (the parseable ones). */
function seedNotifications(): Array<{ page: string; body: { value: Array<Record<string, unknown>> } }> {
  const out: Array<{ page: string; body: { value: Array<Record<string, unknown>> } }> = [];
  for (const page of readdirSync(SEEDS).sort()) {
    const text = readFileSync(join(SEEDS, page), 'utf8');
    for (const m of text.matchAll(/POST https:\/\/bot\.contoso\.com\/\S*/g)) {
      const start = text.indexOf('{', m.index);
      let depth = 0;
      let inString = false;
      let escaped = false;
      let end = start;
      for (; end < text.length; end++) {
        const c = text[end];
        if (inString) {
          if (escaped) escaped = false;
          else if (c === '\\') escaped = true;
          else if (c === '"') inString = false;
        } else if (c === '"') inString = true;
        else if (c === '{') depth++;
        else if (c === '}' && --depth === 0) break;
      }
      try {
        out.push({ page, body: JSON.parse(text.slice(start, end + 1)) });
      } catch {
        // A few examples are abridged with comments; they are not JSON.
      }
    }
  }
  return out;
}

const available = existsSync(SEEDS);
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
