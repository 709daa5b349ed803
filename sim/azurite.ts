import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { freePort, waitForPort } from './ports';
import { createTlsMaterial, type TlsMaterial } from './tls';

/**
 * Azurite from node_modules, in memory, on free ports: the real Table, Blob and Queue
 * services, started by the tests themselves.
 */

export interface Azurite {
  /** Shared-key connection string (accepted in OAuth mode too: tests read storage with it). */
  connectionString: string;
  /** Each service's URL with the account path (https in OAuth mode). */
  serviceUris: { blob: string; queue: string; table: string };
  /** OAuth mode: the self-signed certificate to trust (NODE_EXTRA_CA_CERTS). */
  caCertPath?: string;
  stop(): Promise<void>;
}

export interface AzuriteOptions {
  /**
   * `--oauth basic` over HTTPS with a fresh self-signed certificate: bearer tokens are
   * accepted (Azurite decodes them, checking issuer, audience and lifetime but not the
   * signature), so identity-based connections can be tested for real.
   */
  oauth?: boolean;
  /** Keep the data in this folder (`npm run dev`) instead of in memory. */
  location?: string;
}

export const ACCOUNT = 'devstoreaccount1';
export const KEY = 'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

export type AzuritePorts = Record<'blob' | 'queue' | 'table', number>;

/** Azurite's command line for all three services on loopback, in memory or on disk. */
export function azuriteArgs(ports: AzuritePorts, options: { location?: string } = {}): string[] {
  return [
    join(require.resolve('azurite/package.json'), '..', 'dist', 'src', 'azurite.js'),
    ...(options.location ? ['--location', options.location] : ['--inMemoryPersistence']),
    '--disableTelemetry',
    '--silent',
    '--skipApiVersionCheck',
    ...(['blob', 'queue', 'table'] as const).flatMap((s) => [
      `--${s}Host`,
      '127.0.0.1',
      `--${s}Port`,
      String(ports[s]),
    ]),
  ];
}

/** The service URIs and connection string of Azurite's development account on these ports. */
export function azuriteEndpoints(
  ports: AzuritePorts,
  scheme: 'http' | 'https' = 'http',
): { serviceUris: Record<'blob' | 'queue' | 'table', string>; connectionString: string } {
  const uri = (port: number) => `${scheme}://127.0.0.1:${port}/${ACCOUNT}`;
  const serviceUris = { blob: uri(ports.blob), queue: uri(ports.queue), table: uri(ports.table) };
  return {
    serviceUris,
    connectionString:
      `DefaultEndpointsProtocol=${scheme};AccountName=${ACCOUNT};AccountKey=${KEY};` +
      `BlobEndpoint=${serviceUris.blob};QueueEndpoint=${serviceUris.queue};TableEndpoint=${serviceUris.table};`,
  };
}

/** Starts Azurite; a port lost to another process between the check and the bind means another try. */
export async function startAzurite(options: AzuriteOptions = {}): Promise<Azurite> {
  const tls = options.oauth ? await createTlsMaterial('azurite.localhost') : null;
  let lastError: Error | null = null;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      const azurite = await startOnce(tls, options.location);
      if (!tls) return azurite;
      return {
        ...azurite,
        caCertPath: tls.caCertPath,
        stop: () => azurite.stop().then(() => tls.dispose()),
      };
    } catch (err) {
      lastError = err as Error;
    }
  }
  await tls?.dispose();
  throw lastError!;
}

async function startOnce(tls: TlsMaterial | null, location: string | undefined): Promise<Azurite> {
  const [blob, queue, table] = [await freePort(), await freePort(), await freePort()];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      ...azuriteArgs({ blob, queue, table }, { location }),
      ...(tls ? ['--oauth', 'basic', '--cert', tls.caCertPath, '--key', tls.keyPath] : []),
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const died = () =>
    child.exitCode !== null ? `Azurite exited (${child.exitCode}): ${stderr.trim()}` : null;
  try {
    await Promise.all([blob, queue, table].map((port) => waitForPort(port, 20_000, died)));
    // Something else may have answered on a port Azurite then failed to bind: make sure it still runs.
    await new Promise((r) => setTimeout(r, 100));
    const reason = died();
    if (reason) throw new Error(reason);
  } catch (err) {
    child.kill();
    throw new Error(`Azurite did not start: ${(err as Error).message}`, { cause: err });
  }
  const { serviceUris, connectionString } = azuriteEndpoints({ blob, queue, table }, tls ? 'https' : 'http');
  return {
    connectionString,
    serviceUris,
    stop: () =>
      new Promise<void>((ok) => {
        if (child.exitCode !== null) return ok();
        child.once('exit', () => ok());
        child.kill('SIGTERM');
      }),
  };
}

// ---- one process per service, on disk: storage faults made real ---------------------------

export type StorageService = 'blob' | 'queue' | 'table';

export interface AzuriteServiceHandle {
  port: number;
  /** SIGSTOP: the service stops answering without refusing (a stalled storage account). */
  pause(): void;
  resume(): void;
  /** Kills the process: connections are refused. */
  stop(): Promise<void>;
  /** Starts it again on the same port and data folder: what was stored is still there. */
  start(): Promise<void>;
}

export interface SplitAzurite extends Azurite {
  services: Record<StorageService, AzuriteServiceHandle>;
}

/**
 * Azurite as three processes, one per service, keeping their data in a folder (`--location`),
 * so a test can stall, stop and restart one service while the others run.
 */
export async function startSplitAzurite(location: string): Promise<SplitAzurite> {
  const root = join(require.resolve('azurite/package.json'), '..', 'dist', 'src');
  const handle = async (service: StorageService): Promise<AzuriteServiceHandle> => {
    let port = await freePort();
    let child: ChildProcess | null = null;
    const start = async () => {
      const proc = spawn(
        process.execPath,
        [
          join(root, service, 'main.js'),
          '--location',
          join(location, service),
          '--disableTelemetry',
          '--silent',
          '--skipApiVersionCheck',
          `--${service}Host`,
          '127.0.0.1',
          `--${service}Port`,
          String(port),
        ],
        { stdio: ['ignore', 'ignore', 'ignore'] },
      );
      child = proc;
      await waitForPort(port, 20_000, () =>
        proc.exitCode !== null ? `azurite-${service} exited (${proc.exitCode})` : null,
      );
    };
    const stop = () =>
      new Promise<void>((ok) => {
        const proc = child;
        child = null;
        if (!proc || proc.exitCode !== null) return ok();
        proc.once('exit', () => ok());
        proc.kill('SIGCONT');
        proc.kill('SIGKILL');
      });
    for (let attempt = 0; ; attempt++) {
      try {
        await start();
        break;
      } catch (err) {
        await stop();
        if (attempt >= 3) throw err;
        port = await freePort(); // most likely another process took the port first
      }
    }
    return {
      get port() {
        return port;
      },
      pause: () => void child?.kill('SIGSTOP'),
      resume: () => void child?.kill('SIGCONT'),
      stop,
      start,
    };
  };
  const [blob, queue, table] = await Promise.all([handle('blob'), handle('queue'), handle('table')]);
  return {
    ...azuriteEndpoints({ blob: blob.port, queue: queue.port, table: table.port }),
    services: { blob, queue, table },
    stop: async () => {
      await Promise.all([blob.stop(), queue.stop(), table.stop()]);
    },
  };
}
