import { z } from 'zod';
import { readStorageConnection } from '../storage/connection';

/**
 * Every setting the bot reads, validated once in the composition root.
 * Names follow Azure conventions (AzureWebJobsStorage, AZURE_*) where one exists.
 */
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

const httpsUrl = z.url({ protocol: /^https?$/ });

export const settingsSchema = z
  .object({
    // A connection string, or the identity-based settings below (checked together in superRefine).
    AzureWebJobsStorage: z.string().optional(),
    AzureWebJobsStorage__accountName: z.string().optional(),
    AzureWebJobsStorage__tableServiceUri: z.string().optional(),
    AzureWebJobsStorage__queueServiceUri: z.string().optional(),
    AzureWebJobsStorage__blobServiceUri: z.string().optional(),
    AzureWebJobsStorage__credential: z.string().optional(),
    AzureWebJobsStorage__clientId: z.string().optional(),
    BOT_APP_ID: z.string().min(1, "the bot's app id (the callback token audience) is required"),
    BOT_CALLBACK_URL: httpsUrl,
    CALLBACK_OPENID_CONFIG_URL: httpsUrl.default(
      'https://api.aps.skype.com/v1/.well-known/OpenIdConfiguration',
    ),
    CALLBACK_CLOCK_SKEW_SECONDS: int(0, 300).default(60),
    GRAPH_BASE_URL: httpsUrl.default('https://graph.microsoft.com/v1.0'),
    GRAPH_RETRY_MAX_ATTEMPTS: int(1, 10).default(4),
    GRAPH_RETRY_BUDGET_MS: int(100, 12000).default(8000),
    GRAPH_REQUEST_TIMEOUT_MS: int(100, 12000).default(5000),
    AZURE_TENANT_ID: z.string().optional(),
    AZURE_CLIENT_ID: z.string().optional(),
    AZURE_CLIENT_SECRET: z.string().optional(),
    AZURE_CLIENT_CERTIFICATE_PATH: z.string().optional(),
    AZURE_CLIENT_CERTIFICATE: z.string().optional(),
    GRAPH_CREDENTIAL: z.enum(['secret', 'certificate', 'federated']).optional(),
    GRAPH_MANAGED_IDENTITY_CLIENT_ID: z.string().optional(),
    APPLICATIONINSIGHTS_CONNECTION_STRING: z.string().optional(),
    APPLICATIONINSIGHTS_AUTHENTICATION_STRING: z
      .string()
      .regex(
        /^ClientId=[^;]+;Authorization=AAD$/,
        'must be ClientId=<managed identity client id>;Authorization=AAD',
      )
      .optional(),
    AZURE_AUTHORITY_HOST: httpsUrl.optional(),
    IVR_FLOWS_DIR: z.string().min(1).default('flows'),
    IVR_DEFAULT_FLOW: z.string().optional(),
    IVR_UNCONFIGURED_REJECT_REASON: z.enum(['none', 'busy', 'forbidden']).default('none'),
    IVR_CALLS_TABLE: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'a table name is 3-63 letters or digits, starting with a letter')
      .default('ivrcalls'),
    IVR_RECORDS_TABLE: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'a table name is 3-63 letters or digits, starting with a letter')
      .default('ivrrecords'),
    IVR_FLOWS_TABLE: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9]{2,62}$/, 'a table name is 3-63 letters or digits, starting with a letter')
      .default('ivrflows'),
    IVR_FLOWS_REFRESH_MS: int(100, 60000).default(2000),
    IVR_FLOWS_WATCH: bool.default(false),
    IVR_RECORDINGS_CONTAINER: z
      .string()
      .regex(
        /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/,
        'a container name is 3-63 lowercase letters, digits or dashes',
      )
      .default('recordings'),
    IVR_RECORDING_MAX_BYTES: int(1024, 256 * 1024 * 1024).default(16 * 1024 * 1024),
    IVR_STALE_CALL_MINUTES: int(5, 7 * 24 * 60).default(240),
    IVR_LOCAL_DEV_HTTP: bool.default(false),
    IVR_NOTIFICATION_DEADLINE_MS: int(1000, 14000).default(10000),
    IVR_STORAGE_TIMEOUT_MS: int(100, 10000).default(3000),
    IVR_RECORDING_DOWNLOAD_TIMEOUT_MS: int(1000, 120000).default(30000),
    // Signs webhook deliveries; receivers verify with it. Long and random: it is a shared key.
    IVR_WEBHOOK_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
    IVR_WEBHOOK_TIMEOUT_MS: int(1000, 30000).default(10000),
    // Voicemail delivery: the mailbox sendMail sends from (UPN or object id; Mail.Send, limited
    // to it), the attachment cap (Graph takes up to about 3 MB inline) and a link's lifetime.
    IVR_MAIL_SENDER: z
      .string()
      .regex(
        /^([^@\s]+@[^@\s]+\.[^@\s]+|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})$/i,
        "the sending mailbox's address (UPN) or object id",
      )
      .optional(),
    IVR_MAIL_ATTACHMENT_MAX_BYTES: int(1024, 3_000_000).default(3_000_000),
    IVR_MAIL_LINK_DAYS: int(1, 7).default(7),
    // Transcripts: the Speech resource's endpoint (custom subdomain), reached with the app's identity.
    IVR_SPEECH_ENDPOINT: httpsUrl.optional(),
    IVR_SPEECH_CLIENT_ID: z.string().optional(),
    IVR_SPEECH_TIMEOUT_MS: int(1000, 120000).default(60000),
    // Test and dev only (the simulator stack sets them): never in production.
    IVR_TEST_NOW: z.iso.datetime({ offset: true }).optional(),
    IVR_TEST_TIMER_SCALE: z.coerce.number().min(0.001).max(1).default(1),
    /** `host=origin,…`: http nodes' requests to these hosts go to a local stand-in (the simulator). */
    IVR_TEST_LOOKUP_HOSTS: z.string().max(4096).optional(),
  })
  .superRefine((s, ctx) => {
    // Plain http is only for a developer's machine: loopback hosts, and only when asked for.
    for (const key of [
      'BOT_CALLBACK_URL',
      'CALLBACK_OPENID_CONFIG_URL',
      'GRAPH_BASE_URL',
      'AZURE_AUTHORITY_HOST',
      'IVR_SPEECH_ENDPOINT',
    ] as const) {
      const value = s[key];
      if (!value) continue;
      const url = new URL(value);
      if (url.protocol === 'http:' && !(s.IVR_LOCAL_DEV_HTTP && isLoopbackHost(url.hostname))) {
        ctx.addIssue({
          code: 'custom',
          path: [key],
          message: 'must be https (http is allowed only for loopback hosts with IVR_LOCAL_DEV_HTTP=true)',
        });
      }
    }
    if (s.IVR_TEST_LOOKUP_HOSTS !== undefined) {
      const parsed = parseTestLookupHosts(s.IVR_TEST_LOOKUP_HOSTS);
      const problem =
        'problem' in parsed
          ? parsed.problem
          : !s.IVR_LOCAL_DEV_HTTP
            ? 'applies only with IVR_LOCAL_DEV_HTTP=true (test and dev only)'
            : null;
      if (problem) ctx.addIssue({ code: 'custom', path: ['IVR_TEST_LOOKUP_HOSTS'], message: problem });
    }
    for (const p of readStorageConnection(s, 'AzureWebJobsStorage', s.IVR_LOCAL_DEV_HTTP).problems)
      ctx.addIssue({ code: 'custom', path: [p.setting], message: p.message });
    if (s.AZURE_CLIENT_SECRET && s.AZURE_CLIENT_CERTIFICATE_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: ['AZURE_CLIENT_SECRET'],
        message: 'set AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, not both',
      });
    }
    if (s.AZURE_CLIENT_CERTIFICATE && s.AZURE_CLIENT_CERTIFICATE_PATH) {
      ctx.addIssue({
        code: 'custom',
        path: ['AZURE_CLIENT_CERTIFICATE'],
        message: 'set AZURE_CLIENT_CERTIFICATE (PEM text) or AZURE_CLIENT_CERTIFICATE_PATH, not both',
      });
    }
    const needs: Record<string, [boolean, string]> = {
      secret: [!!s.AZURE_CLIENT_SECRET, 'GRAPH_CREDENTIAL=secret needs AZURE_CLIENT_SECRET'],
      certificate: [
        !!(s.AZURE_CLIENT_CERTIFICATE_PATH || s.AZURE_CLIENT_CERTIFICATE),
        'GRAPH_CREDENTIAL=certificate needs AZURE_CLIENT_CERTIFICATE_PATH or AZURE_CLIENT_CERTIFICATE',
      ],
      federated: [true, ''],
    };
    const need = s.GRAPH_CREDENTIAL ? needs[s.GRAPH_CREDENTIAL] : undefined;
    if (need && !need[0]) ctx.addIssue({ code: 'custom', path: ['GRAPH_CREDENTIAL'], message: need[1] });
    if (s.GRAPH_MANAGED_IDENTITY_CLIENT_ID && s.GRAPH_CREDENTIAL !== 'federated')
      ctx.addIssue({
        code: 'custom',
        path: ['GRAPH_MANAGED_IDENTITY_CLIENT_ID'],
        message: 'applies only with GRAPH_CREDENTIAL=federated',
      });
  });

export type Settings = z.infer<typeof settingsSchema>;

export function isLoopbackHost(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname === '[::1]' ||
    hostname === '::1' ||
    /^127\.\d+\.\d+\.\d+$/.test(hostname)
  );
}

/**
 * IVR_TEST_LOOKUP_HOSTS as a map from host name to the origin that stands in for it; every
 * origin must be a loopback one: the setting can only point requests at this machine.
 */
export function parseTestLookupHosts(value: string): { hosts: Map<string, URL> } | { problem: string } {
  const hosts = new Map<string, URL>();
  for (const entry of value
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean)) {
    const [host, origin] = entry.split('=', 2) as [string, string | undefined];
    let url: URL | null;
    try {
      url = origin ? new URL(origin) : null;
    } catch {
      url = null;
    }
    if (!/^[A-Za-z0-9.-]{1,253}$/.test(host) || !url || !/^https?:$/.test(url.protocol))
      return { problem: `"${entry}" is not host=origin (e.g. crm.contoso.example=https://127.0.0.1:8443)` };
    if (!isLoopbackHost(url.hostname)) return { problem: `${url.origin} is not a loopback origin` };
    hosts.set(host.toLowerCase(), url);
  }
  return { hosts };
}

/** Names an http node may read a header value from: the IVR_SECRET_ prefix keeps the bot's own settings out of reach. */
export const SECRET_SETTING = /^IVR_SECRET_[A-Z0-9_]{1,100}$/;

/**
 * The value of an IVR_SECRET_* app setting, read when a request needs it (on Azure a Key
 * Vault reference resolves into the setting's value). Undefined when unset or empty; any
 * other name is refused, so a flow can never name AZURE_CLIENT_SECRET or a connection string.
 */
export function secretSetting(
  name: string,
  env: Record<string, string | undefined> = process.env,
): string | undefined {
  if (!SECRET_SETTING.test(name)) throw new Error(`${name} is not an IVR_SECRET_ setting`);
  const value = env[name];
  return value === undefined || value === '' ? undefined : value;
}

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n  - ${problems.join('\n  - ')}`);
    this.name = 'SettingsError';
  }
}

/** Reads settings from an environment (process.env by default). Empty strings count as unset. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const input: Record<string, string> = {};
  for (const key of Object.keys(settingsSchema.shape)) {
    const value = env[key];
    if (value !== undefined && value.trim() !== '') input[key] = value.trim();
  }
  const parsed = settingsSchema.safeParse(input);
  if (!parsed.success) {
    throw new SettingsError(
      parsed.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`),
    );
  }
  return parsed.data;
}
