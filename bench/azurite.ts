import { join } from 'node:path';
import { freePort, waitForPort } from '../sim/ports';
import { spawnChild, type Child } from './children';

/**
 * Azurite from node_modules, in memory, as sim/azurite.ts starts it, but as a registered
 * child whose pid the bench knows (its CPU time is measured).
 */

export const ACCOUNT = 'devstoreaccount1';
export const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export interface BenchAzurite {
  child: Child;
  ports: { blob: number; queue: number; table: number };
  connectionString: string;
}

export async function startBenchAzurite(): Promise<BenchAzurite> {
  let last: Error | null = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
    const bin = join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'azurite.js');
    const child = spawnChild('azurite', [
      bin,
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--silent',
      '--skipApiVersionCheck',
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      String(blob),
      '--queueHost',
      '127.0.0.1',
      '--queuePort',
      String(queue),
      '--tableHost',
      '127.0.0.1',
      '--tablePort',
      String(table),
    ]);
    try {
      await Promise.all([blob, queue, table].map((p) => waitForPort(p, 20_000, child.exited)));
      await new Promise((r) => setTimeout(r, 100));
      const dead = child.exited();
      if (dead) throw new Error(`${dead}: ${child.tail.join(' | ')}`);
    } catch (err) {
      last = err as Error;
      await child.stop();
      continue;
    }
    return {
      child,
      ports: { blob, queue, table },
      connectionString:
        `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT};AccountKey=${KEY};` +
        `BlobEndpoint=http://127.0.0.1:${blob}/${ACCOUNT};QueueEndpoint=http://127.0.0.1:${queue}/${ACCOUNT};` +
        `TableEndpoint=http://127.0.0.1:${table}/${ACCOUNT};`,
    };
  }
  throw new Error(`Azurite did not start: ${last?.message ?? 'unknown'}`);
}
