import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import { StorageClients, type StorageConnectionConfig } from '../shared/storage/connection';
import { pollQueue, type PollingPace, type QueueDelivery } from './queuePolling';

/**
 * The local host's queue listener thread. In Azure the Functions host polls the queues and
 * the worker only runs the functions; here this thread polls, so a poll (a storage request
 * and its XML) never holds a notification on the main thread, which runs every function.
 */

export interface ListenerData {
  pace: PollingPace;
  queues: Array<{ name: string; queueName: string; connection: StorageConnectionConfig }>;
}

/** From the listener to the host's main thread. */
export type ListenerMessage =
  | { kind: 'run'; token: number; name: string; delivery: QueueDelivery }
  | { kind: 'log'; line: string }
  | { kind: 'stopped' };

/** From the host's main thread to the listener. */
export type HostMessage = { kind: 'ran'; token: number; error?: string } | { kind: 'stop' };

function listen(port: MessagePort, data: ListenerData): void {
  const send = (m: ListenerMessage) => port.postMessage(m);
  const log = (line: string) => send({ kind: 'log', line });
  const waiting = new Map<number, { done: () => void; failed: (err: Error) => void }>();
  let tokens = 0;
  const connections = new Map<string, StorageClients>();
  const clientsOf = (connection: StorageConnectionConfig) => {
    const key = JSON.stringify(connection);
    let clients = connections.get(key);
    if (!clients) connections.set(key, (clients = new StorageClients(connection)));
    return clients;
  };

  const started = Promise.all(
    data.queues.map(async ({ name, queueName, connection }) => {
      const clients = clientsOf(connection);
      const [client, poison] = await Promise.all([
        clients.queue(queueName),
        clients.queue(`${queueName}-poison`),
      ]);
      const run = (delivery: QueueDelivery) =>
        new Promise<void>((done, failed) => {
          const token = ++tokens;
          waiting.set(token, { done, failed });
          send({ kind: 'run', token, name, delivery });
        });
      return pollQueue({ name, client, poison, run }, data.pace, log);
    }),
  );

  port.on('message', (m: HostMessage) => {
    if (m.kind === 'ran') {
      const w = waiting.get(m.token);
      waiting.delete(m.token);
      if (m.error === undefined) w?.done();
      else w?.failed(new Error(m.error));
      return;
    }
    void started
      .then((stops) => Promise.all(stops.map((stop) => stop())))
      .catch(() => undefined) // told when it failed
      .finally(() => send({ kind: 'stopped' }));
  });
  started.catch((err: Error) => log(`queue functions not started: ${err.message}`));
}

if (parentPort && (workerData as { queueListener?: ListenerData } | null)?.queueListener)
  listen(parentPort, (workerData as { queueListener: ListenerData }).queueListener);
