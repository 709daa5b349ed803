import type { CallContext } from '../../shared/ivr/context';
import {
  ConflictError,
  type CallStore,
  type IdempotencyClaim,
  type Versioned,
} from '../../shared/storage/callStore';

/**
 * The call store in memory, for the shell's unit tests: contexts with ETags (409 on a second
 * insert, 412 on a stale replace, as `ConflictError`), call-id links, idempotency claims, and
 * read and write counters. Hooks let a test run a competing writer before an insert or a
 * replace lands, lose a claim to a racing request, or fail an insert.
 */
export class MemoryCallStore implements CallStore {
  rows = new Map<string, Versioned<CallContext> & { updatedAt: string }>();
  links = new Map<string, string>();
  claims = new Map<string, IdempotencyClaim>();
  /** Point reads of a context or a link, and context writes. */
  reads = 0;
  writes = 0;
  /** Called once before the next insert lands: lets a test run a competing copy to completion first. */
  beforeCreate: (() => Promise<void>) | null = null;
  /** Called once before the next replace lands: lets a test slip in a competing write. */
  beforeReplace: ((ctx: CallContext) => Promise<void>) | null = null;
  /** The claim a racing request took first: claimIdempotency loses to it. */
  lostClaim: IdempotencyClaim | null = null;
  failCreate = false;
  private n = 0;

  /** `updatedAt` is what a new row's timestamp reads (the housekeeping sweep looks at it). */
  constructor(private readonly updatedAt = new Date(0).toISOString()) {}

  /** Not the production hash: any stable, distinct 43-character key will do here. */
  async keyFor(callId: string) {
    return `k${Buffer.from(callId).toString('hex')}`.padEnd(43, 'x').slice(0, 43);
  }
  async get(key: string) {
    this.reads++;
    const row = this.rows.get(key);
    return row ? structuredClone({ value: row.value, etag: row.etag }) : null;
  }
  async create(ctx: CallContext) {
    const hook = this.beforeCreate;
    this.beforeCreate = null;
    if (hook) await hook();
    if (this.failCreate) throw new Error('storage unavailable');
    this.writes++;
    if (this.rows.has(ctx.clientContext)) throw new ConflictError();
    const etag = `e${++this.n}`;
    this.rows.set(ctx.clientContext, { value: structuredClone(ctx), etag, updatedAt: this.updatedAt });
    return etag;
  }
  async replace(ctx: CallContext, etag: string) {
    const hook = this.beforeReplace;
    this.beforeReplace = null;
    if (hook) await hook(ctx);
    this.writes++;
    const row = this.rows.get(ctx.clientContext);
    if (!row || row.etag !== etag) throw new ConflictError();
    return this.put(ctx);
  }
  /** Stores a context as another instance's write would land: unconditionally, with a new ETag. */
  put(ctx: CallContext): string {
    const updatedAt = this.rows.get(ctx.clientContext)?.updatedAt ?? this.updatedAt;
    const etag = `e${++this.n}`;
    this.rows.set(ctx.clientContext, { value: structuredClone(ctx), etag, updatedAt });
    return etag;
  }
  async linkCallId(callId: string, key: string) {
    this.links.set(callId, key);
  }
  async findByCallId(callId: string) {
    const key = await this.keyFor(callId);
    return this.rows.has(key) ? key : (this.links.get(callId) ?? null);
  }
  async findLink(callId: string) {
    this.reads++;
    return this.links.get(callId) ?? null;
  }
  async claimIdempotency(keyHash: string, claim: IdempotencyClaim) {
    if (this.lostClaim) return { claimed: false as const, existing: this.lostClaim };
    this.claims.set(keyHash, claim);
    return { claimed: true as const };
  }
  async findIdempotency(keyHash: string) {
    return this.claims.get(keyHash) ?? null;
  }
  async *listOpen() {
    for (const row of this.rows.values()) if (row.value.phase !== 'ended') yield structuredClone(row);
  }
  async warmUp() {}
}
