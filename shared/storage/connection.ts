import type { TokenCredential } from '@azure/identity';
import type { TableClient } from '@azure/data-tables';
import type { QueueClient } from '@azure/storage-queue';
import type { ContainerClient } from '@azure/storage-blob';

/**
 * A storage connection the Functions way: `<CONN>` is a connection string, or
 * `<CONN>__accountName` / `<CONN>__{table,queue,blob}ServiceUri` with `<CONN>__credential`
 * and `<CONN>__clientId` connect with a Microsoft Entra identity (no shared key). The same
 * rules serve the settings check, the app and the local host's queue pollers. Nothing here
 * loads an SDK until a client is first asked for.
 */

export type StorageConnectionConfig =
  | { kind: 'connectionString'; connectionString: string }
  | {
      kind: 'identity';
      serviceUris: { table: string; queue: string; blob: string };
      /** `managedidentity`, or unset: the developer's own sign-in (DefaultAzureCredential). */
      credential: 'managedidentity' | undefined;
      clientId: string | undefined;
    };

export const IDENTITY_SUFFIXES = [
  'accountName',
  'tableServiceUri',
  'queueServiceUri',
  'blobServiceUri',
  'credential',
  'clientId',
] as const;

export interface ConnectionProblem {
  setting: string;
  message: string;
}

const SERVICES = ['table', 'queue', 'blob'] as const;

/**
 * Reads connection `name` from `values` (the environment or validated settings); returns the
 * configuration, or every problem with the setting it is about. `allowLocalHttp` permits
 * http:// service URIs on loopback hosts.
 */
export function readStorageConnection(
  values: Record<string, unknown>,
  name = 'AzureWebJobsStorage',
  allowLocalHttp = false,
): { config: StorageConnectionConfig | null; problems: ConnectionProblem[] } {
  const get = (key: string) => {
    const v = values[key];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined;
  };
  const problems: ConnectionProblem[] = [];
  const connectionString = get(name);
  const identitySet = IDENTITY_SUFFIXES.filter((s) => get(`${name}__${s}`) !== undefined);
  if (connectionString !== undefined) {
    if (identitySet.length > 0)
      problems.push({
        setting: `${name}__${identitySet[0]}`,
        message: `set ${name} (a connection string) or the identity-based ${name}__* settings, not both`,
      });
    return { config: problems.length ? null : { kind: 'connectionString', connectionString }, problems };
  }
  if (identitySet.length === 0) {
    problems.push({
      setting: name,
      message: `required: a connection string, or ${name}__accountName (or ${name}__tableServiceUri, __queueServiceUri and __blobServiceUri) for an identity-based connection`,
    });
    return { config: null, problems };
  }
  const account = get(`${name}__accountName`);
  if (account !== undefined && !/^[a-z0-9]{3,24}$/.test(account))
    problems.push({
      setting: `${name}__accountName`,
      message: 'a storage account name is 3-24 lowercase letters or digits',
    });
  const serviceUris = { table: '', queue: '', blob: '' };
  for (const service of SERVICES) {
    const key = `${name}__${service}ServiceUri`;
    const uri = get(key);
    if (uri === undefined) {
      if (account === undefined)
        problems.push({ setting: key, message: `required when ${name}__accountName is not set` });
      else serviceUris[service] = `https://${account}.${service}.core.windows.net`;
      continue;
    }
    const url = URL.canParse(uri) ? new URL(uri) : null;
    if (!url) {
      problems.push({ setting: key, message: 'must be a URL' });
      continue;
    }
    const localHttp = allowLocalHttp && url.protocol === 'http:' && isLoopback(url.hostname);
    if (url.protocol !== 'https:' && !localHttp)
      problems.push({
        setting: key,
        message: 'must be https (http is allowed only for loopback hosts with IVR_LOCAL_DEV_HTTP=true)',
      });
    serviceUris[service] = uri.replace(/\/+$/, '');
  }
  const credential = get(`${name}__credential`);
  if (credential !== undefined && credential.toLowerCase() !== 'managedidentity')
    problems.push({
      setting: `${name}__credential`,
      message: 'must be "managedidentity" (or unset to use your own sign-in locally)',
    });
  const clientId = get(`${name}__clientId`);
  if (clientId !== undefined && credential === undefined)
    problems.push({
      setting: `${name}__clientId`,
      message: `applies only with ${name}__credential=managedidentity`,
    });
  if (problems.length) return { config: null, problems };
  return {
    config: {
      kind: 'identity',
      serviceUris,
      credential: credential === undefined ? undefined : 'managedidentity',
      clientId,
    },
    problems,
  };
}

/** Like readStorageConnection, throwing one error that names every bad setting. */
export function storageConnectionOf(
  values: Record<string, unknown>,
  name = 'AzureWebJobsStorage',
  allowLocalHttp = false,
): StorageConnectionConfig {
  const { config, problems } = readStorageConnection(values, name, allowLocalHttp);
  if (!config)
    throw new Error(
      `storage connection ${name}: ${problems.map((p) => `${p.setting}: ${p.message}`).join('; ')}`,
    );
  return config;
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/** The Table, Queue and Blob clients of one connection; one credential shared by all of them. */
export class StorageClients {
  private credential: Promise<TokenCredential> | null = null;

  constructor(readonly config: StorageConnectionConfig) {}

  /** The identity's credential, made once; @azure/identity loads on the first client. */
  private tokenCredential(): Promise<TokenCredential> {
    const config = this.config;
    if (config.kind !== 'identity') throw new Error('not an identity-based connection');
    this.credential ??= import('@azure/identity')
      .then((identity): TokenCredential => {
        if (config.credential === 'managedidentity')
          return config.clientId
            ? new identity.ManagedIdentityCredential({ clientId: config.clientId })
            : new identity.ManagedIdentityCredential();
        return new identity.DefaultAzureCredential();
      })
      .catch((err) => {
        this.credential = null;
        throw err;
      });
    return this.credential;
  }

  private insecure(uri: string): boolean {
    return uri.startsWith('http:');
  }

  async table(tableName: string): Promise<TableClient> {
    const { TableClient } = await import('@azure/data-tables');
    const c = this.config;
    if (c.kind === 'connectionString')
      return TableClient.fromConnectionString(c.connectionString, tableName, {
        allowInsecureConnection: /http:\/\/|UseDevelopmentStorage=true/i.test(c.connectionString),
      });
    return new TableClient(c.serviceUris.table, tableName, await this.tokenCredential(), {
      allowInsecureConnection: this.insecure(c.serviceUris.table),
    });
  }

  async queue(queueName: string): Promise<QueueClient> {
    const { QueueClient } = await import('@azure/storage-queue');
    const c = this.config;
    if (c.kind === 'connectionString') return new QueueClient(c.connectionString, queueName);
    return new QueueClient(`${c.serviceUris.queue}/${queueName}`, await this.tokenCredential());
  }

  async container(containerName: string): Promise<ContainerClient> {
    const { BlobServiceClient } = await import('@azure/storage-blob');
    const c = this.config;
    const service =
      c.kind === 'connectionString'
        ? BlobServiceClient.fromConnectionString(c.connectionString)
        : new BlobServiceClient(c.serviceUris.blob, await this.tokenCredential());
    return service.getContainerClient(containerName);
  }
}
