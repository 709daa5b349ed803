import { azuriteArgs, azuriteEndpoints } from '../sim/azurite';
import { freePort, waitForPort } from '../sim/ports';
import { spawnChild, type Child } from './children';

/**
 * Azurite from node_modules, in memory, as sim/azurite.ts starts it, but as a registered
 * child whose pid the bench knows (its CPU time is measured).
 */

export { ACCOUNT, KEY } from '../sim/azurite';

export interface BenchAzurite {
  child: Child;
  ports: { blob: number; queue: number; table: number };
  connectionString: string;
}

export async function startBenchAzurite(): Promise<BenchAzurite> {
  let last: Error | null = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
    const child = spawnChild('azurite', azuriteArgs({ blob, queue, table }));
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
      connectionString: azuriteEndpoints({ blob, queue, table }).connectionString,
    };
  }
  throw new Error(`Azurite did not start: ${last?.message ?? 'unknown'}`);
}
