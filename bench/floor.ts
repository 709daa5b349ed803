import { createServer, type IncomingMessage } from 'node:http';
import { floorSettings, startFloorWork } from './floorWork';

/**
 * The floor: the least work any bot must do for one incoming-call notification (floorWork.ts),
 * as its own small Node process with a bare node:http server, measured in the same run and on
 * the same machine as the bot. Settings: FLOOR_PORT and those of floorWork.ts.
 * NODE_EXTRA_CA_CERTS trusts the bench's Graph stand-in.
 */

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 1024 * 1024) throw new Error('body over 1 MiB');
    chunks.push(c);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function main(): Promise<void> {
  const port = Number(process.env.FLOOR_PORT);
  if (!port) throw new Error('FLOOR_PORT is not set');
  const work = await startFloorWork(floorSettings());
  const server = createServer((req, res) => {
    const status =
      req.method === 'POST'
        ? work.handle(req.headers.authorization, () => readBody(req))
        : Promise.resolve(401);
    status.then(
      (s) => res.writeHead(s).end(),
      () => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      },
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(port, '127.0.0.1', () => ok());
  });
  process.stdout.write(`floor ready on ${port}\n`);
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  });
}

main().catch((err: Error) => {
  process.stderr.write(`floor failed: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
