import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../host/projectRoot';

/** The Graph API doc pages the product starts from (fr/ru/zh), with their example notifications. */
export const SEEDS = join(projectRoot(__dirname), '..', 'shared', 'seeds');
export const seedsAvailable = existsSync(SEEDS);

export interface SeedNotification {
  page: string;
  body: { value: Array<Record<string, unknown>> };
}

/** The JSON bodies that follow "POST https://bot.contoso.com/..." on the pages (the parseable ones). */
export function seedNotifications(): SeedNotification[] {
  const out: SeedNotification[] = [];
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
