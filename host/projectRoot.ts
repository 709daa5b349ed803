import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The folder holding graph-ivr's package.json, found by walking up from a file's folder, so
 * it is right both from the TypeScript sources (Jest) and from the compiled files in dist/.
 */
export function projectRoot(from = __dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: string };
      if (pkg.name === 'graph-ivr') return dir;
    } catch {
      // no package.json here: keep walking up
    }
    if (dirname(dir) === dir) throw new Error(`no graph-ivr package.json above ${from}`);
  }
}
