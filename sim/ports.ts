import { connect, createServer } from 'node:net';

/**
 * Free loopback ports for the servers the tests, the demo and the simulator start.
 * Ports come from below the kernel's ephemeral range (32768-60999 on Linux), so the
 * source port of some outgoing connection cannot take one between the check and the bind;
 * callers still retry on EADDRINUSE, as another process may bind the same port meanwhile.
 */

const LOW = 20000;
const HIGH = 32000;

export function tryBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (await tryBind(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH}`);
}

/** Resolves once something accepts connections on the port; rejects after the deadline or when `gaveUp` says so. */
export async function waitForPort(
  port: number,
  timeoutMs: number,
  gaveUp: () => string | null = () => null,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const reason = gaveUp();
    if (reason) throw new Error(reason);
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
