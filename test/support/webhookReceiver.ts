import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request a webhook receiver took, as it arrived. */
export interface ReceivedHook {
  headers: IncomingHttpHeaders;
  body: string;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:<port> (the bot reaches loopback only with IVR_LOCAL_DEV_HTTP). */
  url: string;
  close(): Promise<void>;
}

/**
 * A customer's webhook endpoint on loopback: records every request into `received` and
 * answers the next status of `answers` (200 when empty; 'hang' never answers).
 */
export async function startWebhookReceiver(
  received: ReceivedHook[],
  answers: Array<number | 'hang'> = [],
): Promise<WebhookReceiver> {
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      received.push({ headers: req.headers, body });
      const answer = answers.shift() ?? 200;
      if (answer !== 'hang') res.writeHead(answer).end();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}
