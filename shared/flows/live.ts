import { watch, type FSWatcher } from 'node:fs';
import { basename } from 'node:path';
import type { StoredFlow, TableFlowStore } from '../storage/flowStore';
import {
  formatProblem,
  loadFlowDirectory,
  validateFlowText,
  type FlowCatalog,
  type FlowProblem,
  type FlowValidationOptions,
  type LoadedFlow,
} from './loader';

/**
 * The flows every call sees: files from IVR_FLOWS_DIR (the seed and offline default) overlaid
 * by the flows stored through the admin API. Notifications read a cached catalogue; a
 * background check reads one small row every `refreshMs` and reloads the heads only when it
 * changed, so a change reaches new calls within seconds without a storage request per call.
 * A call keeps the version it started with: old versions are loaded by number and version.
 */

export interface LiveFlowsOptions {
  dir: string;
  store: TableFlowStore | null;
  /** How often the catalogue version is checked; 0 leaves it to whoever calls check() (tests). */
  refreshMs: number;
  /** Where problems go (they reach the next invocation's logger): never the console. */
  note: (problem: string) => void;
  /** Reload the files when the folder changes (npm run dev). */
  watchFiles?: boolean;
  validation?: FlowValidationOptions;
}

/** Where a number's current flow comes from. */
export interface NumberSource {
  number: string;
  source: 'store' | 'file';
  version: number;
  flowId: string;
  file?: string;
  description?: string;
  at?: string;
  author?: string | null;
}

const VERSION_CACHE = 200;

export class LiveFlows {
  private files: FlowCatalog = { byIdentity: new Map(), byId: new Map(), problems: [] };
  /** A file's last valid flow, kept while the file is invalid (last known good). */
  private lastGood = new Map<string, LoadedFlow>();
  /** Each file's last valid text as saved in storage (by file name): the fallback after a restart. */
  private saved = new Map<string, string>();
  private heads = new Map<string, { stored: StoredFlow; flow: LoadedFlow | null }>();
  private versions = new Map<string, LoadedFlow>();
  private current: FlowCatalog | null = null;
  private first: Promise<FlowCatalog> | null = null;
  private stamp: string | null = null;
  private checking: Promise<boolean> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private watcher: FSWatcher | null = null;
  private reloadTimer: NodeJS.Timeout | null = null;
  private closed = false;
  /** Saves of last valid texts still running, so close() can wait for them. */
  private saving = new Set<Promise<void>>();
  private lastNote = '';

  constructor(private readonly options: LiveFlowsOptions) {}

  /** The cached catalogue; a promise only before the first load. */
  catalog(): FlowCatalog | Promise<FlowCatalog> {
    if (this.current) return this.current;
    this.first ??= this.start();
    return this.first;
  }

  private async start(): Promise<FlowCatalog> {
    if (this.options.store) {
      // One range read at a cold start: what each file last loaded valid as, on any instance.
      this.saved = await this.options.store.lastGoodFiles().catch((err: Error) => {
        this.options.note(`last valid flow files could not be read: ${err.message}`);
        return new Map<string, string>();
      });
    }
    this.reloadFiles();
    if (this.options.store) {
      await this.check().catch(() => false);
      // Closed meanwhile (a test, a host shutting down): no background work starts after that.
      if (this.options.refreshMs > 0 && !this.closed) {
        // Off the hot path: the interval never holds the process open.
        this.timer = setInterval(() => void this.check().catch(() => false), this.options.refreshMs);
        this.timer.unref();
      }
    }
    if (this.options.watchFiles && !this.closed) this.watchFiles();
    this.current ??= this.build();
    return this.current;
  }

  /**
   * Stops the background check and the file watch, then waits for the storage requests they
   * already made (tests, a host shutting down): a request left running after its storage is
   * gone keeps retrying, and keeps the process alive meanwhile.
   */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.watcher?.close();
    this.timer = null;
    this.reloadTimer = null;
    this.watcher = null;
    await Promise.allSettled([this.first]); // a first load still running
    await Promise.allSettled([this.checking, ...this.saving]);
  }

  /** Reads the catalogue version; when it moved, reloads the heads. True when something changed. */
  check(): Promise<boolean> {
    this.checking ??= this.checkNow().finally(() => (this.checking = null));
    return this.checking;
  }

  /**
   * A check that starts after this call: what the caller has just written is seen. A check
   * already running may have read the catalogue before that write, so it is not shared.
   */
  refresh(): Promise<boolean> {
    const running = this.checking;
    if (!running) return this.check();
    return running.then(
      () => this.check(),
      () => this.check(),
    );
  }

  private async checkNow(): Promise<boolean> {
    const store = this.options.store;
    if (!store) return false;
    try {
      const stamp = await store.catalogVersion();
      if (stamp === this.stamp) return false;
      const heads = await store.heads();
      const next = new Map<string, { stored: StoredFlow; flow: LoadedFlow | null }>();
      for (const stored of heads) {
        const known = this.heads.get(stored.number);
        if (known && known.stored.version === stored.version) next.set(stored.number, known);
        else {
          // A version that no longer validates keeps the number on the one it had (last known good).
          const flow = stored.deleted ? null : (this.fromStore(stored) ?? known?.flow ?? null);
          next.set(stored.number, { stored, flow });
        }
      }
      this.heads = next;
      this.stamp = stamp;
      this.current = this.build();
      this.lastNote = '';
      return true;
    } catch (err) {
      this.noteOnce(`stored flows could not be read (serving the last catalogue): ${(err as Error).message}`);
      throw err;
    }
  }

  /** A stored version as a flow; an invalid one (a schema that changed since) is noted and skipped. */
  private fromStore(stored: StoredFlow): LoadedFlow | null {
    if (stored.deleted) return null;
    const name = `store:${stored.number}@${stored.version}`;
    const result = validateFlowText(stored.text, name, this.options.validation);
    if (!result.flow) {
      for (const p of result.problems)
        this.options.note(`invalid stored flow, not applied: ${formatProblem(p)}`);
      return null;
    }
    return { ...result.flow, id: stored.number, version: stored.version };
  }

  private noteOnce(message: string): void {
    if (message === this.lastNote) return;
    this.lastNote = message;
    this.options.note(message);
  }

  /** Loads the folder again; a file that became invalid keeps its last valid flow. */
  reloadFiles(): void {
    const loaded = loadFlowDirectory(this.options.dir, this.options.validation);
    const byIdentity = new Map(loaded.byIdentity);
    const byId = new Map(loaded.byId);
    const kept: FlowProblem[] = [];
    const invalidFiles = new Set(loaded.problems.map((p) => p.file));
    for (const file of invalidFiles) {
      const good = this.lastGood.get(file) ?? this.fromSaved(file);
      const identities = good ? identitiesOf(good) : [];
      if (good && !byId.has(good.id) && identities.every((i) => !byIdentity.has(i))) {
        byId.set(good.id, good);
        for (const i of identities) byIdentity.set(i, good);
        kept.push({ file, path: '', message: 'keeping its last valid version until the file is fixed' });
      }
    }
    for (const flow of loaded.byId.values()) {
      this.lastGood.set(flow.file, flow);
      this.save(flow);
    }
    for (const p of [...loaded.problems, ...kept])
      this.options.note(`invalid flow, not loaded: ${formatProblem(p)}`);
    this.files = { byIdentity, byId, problems: [...loaded.problems, ...kept] };
    if (this.current) this.current = this.build();
  }

  /** A file's saved last valid text, as a flow (null when none, or when it no longer validates). */
  private fromSaved(file: string): LoadedFlow | null {
    const text = this.saved.get(basename(file));
    if (text === undefined) return null;
    return validateFlowText(text, file, this.options.validation).flow ?? null;
  }

  /** Saves a valid file's text when it changed, off the request path; a failure is noted. */
  private save(flow: LoadedFlow): void {
    const store = this.options.store;
    const name = basename(flow.file);
    if (!store || flow.text === undefined || this.saved.get(name) === flow.text) return;
    this.saved.set(name, flow.text);
    const saving = store
      .saveLastGood(name, flow.text, new Date().toISOString())
      .catch((err: Error) => {
        this.saved.delete(name);
        this.noteOnce(`the last valid version of ${name} could not be saved: ${err.message}`);
      })
      .finally(() => this.saving.delete(saving));
    this.saving.add(saving);
  }

  private watchFiles(): void {
    try {
      this.watcher = watch(this.options.dir, () => {
        // Editors write a file in several steps: reload once they are done.
        if (this.reloadTimer) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.reloadTimer = null;
          this.reloadFiles();
        }, 150);
      });
      this.watcher.unref();
    } catch (err) {
      this.options.note(`flows folder not watched: ${(err as Error).message}`);
    }
  }

  /** Files, then the stored heads over them: a stored flow (or a deletion) wins for its number. */
  private build(): FlowCatalog {
    const byIdentity = new Map(this.files.byIdentity);
    const byId = new Map(this.files.byId);
    for (const [number, { flow }] of this.heads) {
      const file = this.files.byIdentity.get(number);
      if (file) {
        for (const i of identitiesOf(file)) if (byIdentity.get(i) === file) byIdentity.delete(i);
        byId.delete(file.id);
      }
      if (!flow) continue;
      for (const i of identitiesOf(flow)) byIdentity.set(i, flow);
      byId.set(number, flow);
      // IVR_DEFAULT_FLOW names a file: it follows the number's stored flow.
      if (file) byId.set(file.id, flow);
    }
    return { byIdentity, byId, problems: this.files.problems };
  }

  /**
   * The exact flow a call started with: a stored version by number and version (cached, loaded
   * once if the instance never saw it), or a file's flow by id when no version is given.
   */
  flowAt(id: string, version: number | undefined): LoadedFlow | null | Promise<LoadedFlow | null> {
    if (version === undefined) {
      const file = this.files.byId.get(id);
      if (file) return file;
      const c = this.catalog();
      return c instanceof Promise ? c.then((x) => x.byId.get(id) ?? null) : (c.byId.get(id) ?? null);
    }
    const head = this.heads.get(id);
    if (head?.flow && head.stored.version === version) return head.flow;
    const key = `${id}#${version}`;
    const cached = this.versions.get(key);
    if (cached) return cached;
    const store = this.options.store;
    if (!store) return null;
    return store.version(id, version).then((stored) => {
      const flow = stored ? this.fromStore(stored) : null;
      if (flow) {
        if (this.versions.size >= VERSION_CACHE) this.versions.delete(this.versions.keys().next().value!);
        this.versions.set(key, flow);
      }
      return flow;
    });
  }

  /** Every configured number: where its flow comes from and which version (admin API). */
  async numbers(): Promise<NumberSource[]> {
    await this.catalog();
    await this.refresh().catch(() => false);
    const out = new Map<string, NumberSource>();
    for (const flow of this.files.byId.values())
      out.set(flow.flow.number, {
        number: flow.flow.number,
        source: 'file',
        version: 0,
        flowId: flow.id,
        file: flow.file,
        ...(flow.flow.description ? { description: flow.flow.description } : {}),
      });
    for (const [number, { stored, flow }] of this.heads) {
      if (stored.deleted) {
        out.delete(number);
        continue;
      }
      out.set(number, {
        number,
        source: 'store',
        version: stored.version,
        flowId: number,
        ...(flow?.flow.description ? { description: flow.flow.description } : {}),
        at: stored.at,
        author: stored.author,
      });
    }
    return [...out.values()].sort((a, b) => a.number.localeCompare(b.number));
  }

  /** The file flow of a number, if any (the seed under a stored flow). */
  fileFlow(number: string): LoadedFlow | null {
    const f = this.files.byIdentity.get(number);
    return f && f.flow.number === number ? f : null;
  }
}

function identitiesOf(flow: LoadedFlow): string[] {
  const f = flow.flow;
  return [f.number, ...f.aliases, ...(f.applicationInstanceId ? [f.applicationInstanceId] : [])];
}
