import { createHmac, randomBytes } from 'node:crypto';
import type { TableClient, TableEntity } from '@azure/data-tables';
import type { CallContext } from '../ivr/context';
import { isStatus, withTimeout, type TableConnector } from './tables';

/**
 * Per-call contexts in Table storage, written only with ETag concurrency.
 *
 * An incoming call's context lives under a keyed hash of its Graph call id, so a
 * notification finds it with one point read and the first insert is the claim on the call:
 * a redelivered or concurrent copy of the incoming notification fails that insert and stops.
 * The hash key (a random secret kept in the table itself) keeps the key unguessable from
 * the call id. Outbound calls get a random key before Graph names the call; their callback
 * address carries it, and a link row under the call id's hash serves lookups by call id.
 */

export class ConflictError extends Error {
  constructor(message = 'the row changed since it was read') {
    super(message);
    this.name = 'ConflictError';
  }
}

export interface Versioned<T> {
  value: T;
  etag: string;
}

export interface CallStore {
  /** The context key of a call id: a keyed hash, the same on every instance. */
  keyFor(callId: string): Promise<string>;
  get(clientContext: string, deadline?: number): Promise<Versioned<CallContext> | null>;
  /** Inserts a new context; ConflictError if one exists under that key (the claim on a call). */
  create(ctx: CallContext, deadline?: number): Promise<string>;
  /** Replaces a context if its ETag still matches; ConflictError otherwise. */
  replace(ctx: CallContext, etag: string, deadline?: number): Promise<string>;
  /** Links a call id to a context stored under another key (an outbound call). */
  linkCallId(callId: string, clientContext: string): Promise<void>;
  /** The context key of a call id, following an outbound call's link; null when unknown. */
  findByCallId(callId: string, deadline?: number): Promise<string | null>;
  /** Only the link of an outbound call: the context key it names, or null. */
  findLink(callId: string, deadline?: number): Promise<string | null>;
  /** Contexts of calls not ended. For timers only: this is a scan. */
  listOpen(): AsyncIterable<Versioned<CallContext> & { updatedAt: string }>;
  /** Loads (or creates) the hash secret ahead of the first call. */
  warmUp(): Promise<void>;
  /**
   * Claims an idempotency key (already hashed) for an outbound call about to be placed: a
   * conditional insert, so of two requests racing on two instances exactly one wins. A claim
   * older than `ttlMs` is taken over (conditionally on its ETag).
   */
  claimIdempotency(
    keyHash: string,
    claim: IdempotencyClaim,
    now: Date,
    ttlMs: number,
  ): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyClaim }>;
  /** The live claim of an idempotency key (younger than `ttlMs`), or null: a point read. */
  findIdempotency(keyHash: string, now: Date, ttlMs: number): Promise<IdempotencyClaim | null>;
}

export interface IdempotencyClaim {
  /** The outbound call the key placed. */
  clientContext: string;
  /** A hash of the request, to refuse the same key with another request. */
  fingerprint: string;
  createdAt: string;
}

interface ContextEntity extends TableEntity {
  callId: string;
  phase: string;
  updatedAt: string;
  /** The context as JSON, split across data, data1, data2… (a string property holds 32K characters). */
  data: string;
}

const CONTEXT_ROW = 'ctx';
const LINK_ROW = 'link';
const IDEMPOTENCY_ROW = 'idem';
const SECRET_PARTITION = 'meta';
const SECRET_ROW = 'callKeySecret';

/** A string property holds 64 KiB (32K UTF-16 characters); an entity 1 MiB in all. */
export const CHUNK_CHARS = 30_000;
export const MAX_CHUNKS = 15;

export const contextPartition = (clientContext: string) => `c_${clientContext}`;

/** Keys cannot hold / \ # ? or control characters. */
export function safeKey(value: string): string {
  return encodeURIComponent(value).replace(/%/g, '$');
}

export function toEntity(ctx: CallContext, updatedAt: string): ContextEntity {
  const json = JSON.stringify(ctx);
  const chunks = Math.max(1, Math.ceil(json.length / CHUNK_CHARS));
  if (chunks > MAX_CHUNKS)
    throw new Error(
      `call context of ${json.length} characters is over the ${CHUNK_CHARS * MAX_CHUNKS} limit`,
    );
  const entity: ContextEntity = {
    partitionKey: contextPartition(ctx.clientContext),
    rowKey: CONTEXT_ROW,
    callId: ctx.callId ?? '',
    phase: ctx.phase,
    updatedAt,
    data: json.slice(0, CHUNK_CHARS),
  };
  for (let i = 1; i < chunks; i++) entity[`data${i}`] = json.slice(i * CHUNK_CHARS, (i + 1) * CHUNK_CHARS);
  return entity;
}

export function fromEntity(e: Record<string, unknown>): CallContext {
  let json = String(e.data ?? '');
  for (let i = 1; typeof e[`data${i}`] === 'string'; i++) json += e[`data${i}`] as string;
  return JSON.parse(json) as CallContext;
}

export class TableCallStore implements CallStore {
  private secret: Promise<Buffer> | null = null;
  private secretValue: Buffer | null = null;

  constructor(
    private readonly tables: TableConnector,
    private readonly timeoutMs: number,
  ) {}

  private client(): Promise<TableClient> {
    return this.tables.client();
  }

  /** Runs one table operation with a timeout, creating the table the first time it is missing. */
  private async op<T>(
    run: (c: TableClient, signal: AbortSignal) => Promise<T>,
    deadline?: number,
  ): Promise<T> {
    return this.tables.run((c) => withTimeout(this.timeoutMs, deadline, (s) => run(c, s)));
  }

  private hashSecret(): Promise<Buffer> {
    this.secret ??= this.loadSecret().catch((err) => {
      this.secret = null;
      throw err;
    });
    return this.secret;
  }

  private async loadSecret(): Promise<Buffer> {
    const read = async () => {
      try {
        const e = await this.op((c, abortSignal) =>
          c.getEntity<{ secret: string }>(SECRET_PARTITION, SECRET_ROW, { abortSignal }),
        );
        return Buffer.from(e.secret, 'base64');
      } catch (err) {
        if (isStatus(err, 404)) return null;
        throw err;
      }
    };
    const existing = await read();
    if (existing) return existing;
    try {
      // The first instance ever to need it makes it; the others read what won.
      const secret = randomBytes(32);
      await this.op((c, abortSignal) =>
        c.createEntity(
          { partitionKey: SECRET_PARTITION, rowKey: SECRET_ROW, secret: secret.toString('base64') },
          { abortSignal },
        ),
      );
      return secret;
    } catch (err) {
      if (!isStatus(err, 409)) throw err;
      const winner = await read();
      if (!winner) throw new Error('the call key secret vanished while it was being created', { cause: err });
      return winner;
    }
  }

  async warmUp(): Promise<void> {
    await this.hashSecret();
  }

  async keyFor(callId: string): Promise<string> {
    this.secretValue ??= await this.hashSecret();
    // 256 bits, base64url: 43 characters, safe in table keys and in operation clientContexts.
    return createHmac('sha256', this.secretValue).update(callId, 'utf8').digest('base64url');
  }

  async get(clientContext: string, deadline?: number): Promise<Versioned<CallContext> | null> {
    try {
      const e = await this.op(
        (c, abortSignal) =>
          c.getEntity<ContextEntity>(contextPartition(clientContext), CONTEXT_ROW, { abortSignal }),
        deadline,
      );
      return { value: fromEntity(e), etag: e.etag };
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  async create(ctx: CallContext, deadline?: number): Promise<string> {
    try {
      const r = await this.op(
        (c, abortSignal) => c.createEntity(toEntity(ctx, new Date().toISOString()), { abortSignal }),
        deadline,
      );
      return r.etag!;
    } catch (err) {
      if (isStatus(err, 409)) throw new ConflictError('a context exists under this clientContext');
      throw err;
    }
  }

  async replace(ctx: CallContext, etag: string, deadline?: number): Promise<string> {
    try {
      const r = await this.op(
        (c, abortSignal) =>
          c.updateEntity(toEntity(ctx, new Date().toISOString()), 'Replace', { etag, abortSignal }),
        deadline,
      );
      return r.etag!;
    } catch (err) {
      if (isStatus(err, 412) || isStatus(err, 404)) throw new ConflictError();
      throw err;
    }
  }

  async linkCallId(callId: string, clientContext: string): Promise<void> {
    const key = await this.keyFor(callId);
    await this.op((c, abortSignal) =>
      c.upsertEntity({ partitionKey: contextPartition(key), rowKey: LINK_ROW, clientContext }, 'Replace', {
        abortSignal,
      }),
    );
  }

  private async readRow(key: string, row: string, deadline?: number) {
    try {
      return await this.op(
        (c, abortSignal) =>
          c.getEntity<{ clientContext?: string }>(contextPartition(key), row, {
            abortSignal,
            queryOptions: { select: ['clientContext'] },
          }),
        deadline,
      );
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  async findByCallId(callId: string, deadline?: number): Promise<string | null> {
    const key = await this.keyFor(callId);
    if (await this.readRow(key, CONTEXT_ROW, deadline)) return key;
    return this.findLink(callId, deadline);
  }

  async findLink(callId: string, deadline?: number): Promise<string | null> {
    const link = await this.readRow(await this.keyFor(callId), LINK_ROW, deadline);
    return typeof link?.clientContext === 'string' ? link.clientContext : null;
  }

  async claimIdempotency(
    keyHash: string,
    claim: IdempotencyClaim,
    now: Date,
    ttlMs: number,
  ): Promise<{ claimed: true } | { claimed: false; existing: IdempotencyClaim }> {
    const entity = { partitionKey: `i_${keyHash}`, rowKey: IDEMPOTENCY_ROW, ...claim };
    for (let attempt = 0; attempt < 4; attempt++) {
      try {
        await this.op((c, abortSignal) => c.createEntity(entity, { abortSignal }));
        return { claimed: true };
      } catch (err) {
        if (!isStatus(err, 409)) throw err;
      }
      let row: IdempotencyClaim & { etag: string };
      try {
        row = await this.op((c, abortSignal) =>
          c.getEntity<IdempotencyClaim>(entity.partitionKey, IDEMPOTENCY_ROW, { abortSignal }),
        );
      } catch (err) {
        if (isStatus(err, 404)) continue; // deleted in between: insert again
        throw err;
      }
      if (now.getTime() - Date.parse(row.createdAt) < ttlMs) {
        return {
          claimed: false,
          existing: {
            clientContext: row.clientContext,
            fingerprint: row.fingerprint,
            createdAt: row.createdAt,
          },
        };
      }
      try {
        // Expired: taken over only if nobody else took it over first.
        await this.op((c, abortSignal) => c.updateEntity(entity, 'Replace', { etag: row.etag, abortSignal }));
        return { claimed: true };
      } catch (err) {
        if (!isStatus(err, 412) && !isStatus(err, 404)) throw err;
      }
    }
    throw new Error('the idempotency key kept changing');
  }

  async findIdempotency(keyHash: string, now: Date, ttlMs: number): Promise<IdempotencyClaim | null> {
    try {
      const row = await this.op((c, abortSignal) =>
        c.getEntity<IdempotencyClaim>(`i_${keyHash}`, IDEMPOTENCY_ROW, { abortSignal }),
      );
      if (now.getTime() - Date.parse(row.createdAt) >= ttlMs) return null;
      return { clientContext: row.clientContext, fingerprint: row.fingerprint, createdAt: row.createdAt };
    } catch (err) {
      if (isStatus(err, 404)) return null;
      throw err;
    }
  }

  async *listOpen(): AsyncIterable<Versioned<CallContext> & { updatedAt: string }> {
    const client = await this.client();
    const rows = client.listEntities<ContextEntity>({
      queryOptions: { filter: `RowKey eq '${CONTEXT_ROW}' and phase ne 'ended'` },
    });
    try {
      for await (const e of rows) yield { value: fromEntity(e), etag: e.etag, updatedAt: e.updatedAt };
    } catch (err) {
      if (isStatus(err, 404)) return;
      throw err;
    }
  }
}
