import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LiveFlows } from '../../shared/flows/live';
import type { StoredFlow, TableFlowStore } from '../../shared/storage/flowStore';

/**
 * LiveFlows against an in-memory flow store (the Azurite-backed behaviour is in
 * test/integration/liveFlows.test.ts): which flow a number gets, when stored heads are read
 * again, what is kept when a flow becomes invalid, and what is noted.
 */

const FILE_NUMBER = '+14255550100';
const STORED_NUMBER = '+14255550199';
const APP_INSTANCE = '6f1c2a9e-0000-4000-8000-00000000b001';

/** A valid flow file text whose menu prompt names `tag`. */
function flowText(number: string, tag: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    number,
    prompts: { menu: `https://media.example.com/${tag}.wav` },
    default: { type: 'answer', start: 'menu' },
    nodes: { menu: { type: 'play', prompts: ['menu'], next: 'bye' }, bye: { type: 'hangup' } },
    ...extra,
  });
}

function stored(number: string, version: number, text: string, deleted = false): StoredFlow {
  return {
    number,
    version,
    text,
    deleted,
    at: `2026-01-0${version}T00:00:00.000Z`,
    author: 'ops',
    comment: null,
  };
}

/** The parts of TableFlowStore LiveFlows uses, in memory, counting requests. */
class MemoryFlowStore {
  stamp = 'v1';
  current: StoredFlow[] = [];
  old = new Map<string, StoredFlow>();
  saved = new Map<string, string>();
  failCatalog: Error | null = null;
  failLastGood: Error | null = null;
  failSave: Error | null = null;
  requests = { catalogVersion: 0, heads: 0, version: [] as string[], saveLastGood: [] as string[] };
  /** Requests held until the test opens the gate: the test sets the interleaving. */
  hold: { catalogVersion?: Promise<void>; lastGoodFiles?: Promise<void>; saveLastGood?: Promise<void> } = {};

  /** Answers the version as it was when asked, however late the answer arrives. */
  async catalogVersion(): Promise<string> {
    this.requests.catalogVersion++;
    const [stamp, fail] = [this.stamp, this.failCatalog];
    await this.hold.catalogVersion;
    if (fail) throw fail;
    return stamp;
  }
  async heads(): Promise<StoredFlow[]> {
    this.requests.heads++;
    return this.current;
  }
  async version(number: string, version: number): Promise<StoredFlow | null> {
    this.requests.version.push(`${number}@${version}`);
    return this.old.get(`${number}@${version}`) ?? null;
  }
  async lastGoodFiles(): Promise<Map<string, string>> {
    await this.hold.lastGoodFiles;
    if (this.failLastGood) throw this.failLastGood;
    return new Map(this.saved);
  }
  async saveLastGood(name: string, text: string): Promise<void> {
    this.requests.saveLastGood.push(name);
    await this.hold.saveLastGood;
    if (this.failSave) throw this.failSave;
    this.saved.set(name, text);
  }
}

function gate(): { opened: Promise<void>; open: () => void } {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** Lets every pending promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Whether a promise has settled, after letting pending callbacks run. */
async function isDone(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => (done = true));
  await settle();
  return done;
}

let dir: string;
let notes: string[];
const opened: LiveFlows[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'live-flows-'));
  notes = [];
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((l) => l.close()));
  rmSync(dir, { recursive: true, force: true });
});

function live(store: MemoryFlowStore | null, refreshMs = 0): LiveFlows {
  const l = new LiveFlows({
    dir,
    store: store as unknown as TableFlowStore | null,
    refreshMs,
    note: (p) => notes.push(p),
  });
  opened.push(l);
  return l;
}

function writeFlow(name: string, text: string): void {
  writeFileSync(join(dir, name), text);
}

/** The menu prompt's file name each identity leads to, e.g. `{ '+1…': 'v2.wav' }`. */
async function menus(l: LiveFlows): Promise<Record<string, string | undefined>> {
  const c = await l.catalog();
  return Object.fromEntries(
    [...c.byIdentity].map(([identity, f]) => [identity, f.flow.prompts.menu?.split('/').pop()]),
  );
}

describe('the catalogue', () => {
  test('files alone: a promise first, then the same cached catalogue without reading the folder again', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'file', { aliases: ['main'] }));
    const l = live(null);
    const first = l.catalog();
    expect(first).toBeInstanceOf(Promise);
    const c = await first;
    expect([...c.byIdentity.keys()].sort()).toEqual(['+14255550100', 'main']);
    expect([...c.byId.keys()]).toEqual(['main']);
    rmSync(join(dir, 'main.json'));
    expect(l.catalog()).toBe(c);
    expect(await l.check()).toBe(false);
  });

  test('a stored flow wins for its number, aliases and application instance, and under the file id', async () => {
    writeFlow(
      'main.json',
      flowText(FILE_NUMBER, 'file', { aliases: ['main-line'], applicationInstanceId: APP_INSTANCE }),
    );
    writeFlow('other.json', flowText('+14255550101', 'other'));
    const store = new MemoryFlowStore();
    store.current = [
      stored(FILE_NUMBER, 2, flowText(FILE_NUMBER, 'stored-v2', { aliases: ['stored-alias'] })),
    ];
    const l = live(store);
    expect(await menus(l)).toEqual({
      '+14255550100': 'stored-v2.wav',
      'stored-alias': 'stored-v2.wav',
      '+14255550101': 'other.wav',
    });
    const c = await l.catalog();
    expect(c.byId.get('main')?.flow.prompts.menu).toBe('https://media.example.com/stored-v2.wav');
    expect(c.byId.get(FILE_NUMBER)).toMatchObject({ id: FILE_NUMBER, version: 2 });
    expect(c.byId.get('other')?.id).toBe('other');
    expect(l.fileFlow(FILE_NUMBER)?.flow.prompts.menu).toBe('https://media.example.com/file.wav');
    expect(l.fileFlow('main-line')).toBeNull();
    expect(l.fileFlow('+14255550188')).toBeNull();
  });

  test('a file identity another file flow keeps is not removed by a stored flow', async () => {
    // Two files: the stored flow replaces the first file's number only; the second stays.
    writeFlow('a.json', flowText(FILE_NUMBER, 'a'));
    writeFlow('b.json', flowText('+14255550101', 'b', { aliases: ['b-line'] }));
    const store = new MemoryFlowStore();
    store.current = [stored(FILE_NUMBER, 1, flowText(FILE_NUMBER, 's'))];
    expect(await menus(live(store))).toEqual({
      '+14255550100': 's.wav',
      '+14255550101': 'b.wav',
      'b-line': 'b.wav',
    });
  });

  test('a deleted number hides its file flow and its id', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'file', { aliases: ['main-line'] }));
    const store = new MemoryFlowStore();
    store.current = [stored(FILE_NUMBER, 3, '', true)];
    const l = live(store);
    const c = await l.catalog();
    expect([...c.byIdentity.keys()]).toEqual([]);
    expect([...c.byId.keys()]).toEqual([]);
    expect(await l.numbers()).toEqual([]);
  });

  test('a stored alias keeps an identity that a replaced file also had', async () => {
    // Heads in this order: the first stored flow takes the alias 'desk', which the second
    // number's file also has; replacing that file must not remove the first flow's alias.
    writeFlow('main.json', flowText(FILE_NUMBER, 'file', { aliases: ['desk'] }));
    const store = new MemoryFlowStore();
    store.current = [
      stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's', { aliases: ['desk'] })),
      stored(FILE_NUMBER, 1, flowText(FILE_NUMBER, 'f2')),
    ];
    expect(await menus(live(store))).toEqual({
      [STORED_NUMBER]: 's.wav',
      desk: 's.wav',
      [FILE_NUMBER]: 'f2.wav',
    });
  });

  test('until the first load ends, catalog() answers the same promise, even once the files are read', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'file'));
    const store = new MemoryFlowStore();
    const check = gate();
    store.hold.catalogVersion = check.opened;
    const l = live(store);
    const first = l.catalog();
    await settle();
    expect(store.requests.catalogVersion).toBe(1);
    expect(l.catalog()).toBe(first);
    check.open();
    const c = await first;
    expect(l.catalog()).toBe(c);
  });

  test('a stored number without a file is added as its own flow', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    const c = await live(store).catalog();
    expect([...c.byId.keys()]).toEqual([STORED_NUMBER]);
    expect(c.byIdentity.get(STORED_NUMBER)?.version).toBe(1);
  });
});

describe('the background check', () => {
  test('reads the heads only when the catalogue version moved', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    const l = live(store);
    await l.catalog();
    expect(store.requests.heads).toBe(1);
    expect(await l.check()).toBe(false);
    expect(store.requests).toMatchObject({ catalogVersion: 2, heads: 1 });

    store.current = [stored(STORED_NUMBER, 2, flowText(STORED_NUMBER, 's2'))];
    store.stamp = 'v2';
    expect(await l.check()).toBe(true);
    expect(store.requests.heads).toBe(2);
    expect(await menus(l)).toEqual({ [STORED_NUMBER]: 's2.wav' });
  });

  test('two checks at once share one read', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    store.stamp = 'v2';
    const [a, b] = [l.check(), l.check()];
    expect(a).toBe(b);
    expect(await a).toBe(true);
    expect(store.requests).toMatchObject({ catalogVersion: 2, heads: 2 });
    // Finished: the next check reads again.
    expect(await l.check()).toBe(false);
    expect(store.requests.catalogVersion).toBe(3);
  });

  test('refresh waits for a check that read the catalogue before a write, then reads again', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    const slow = gate();
    store.hold.catalogVersion = slow.opened;
    const running = l.check(); // asks for the version now, hears back later
    await settle();
    // The admin API's write lands after that read, then asks for a refresh.
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    store.stamp = 'v2';
    const refreshed = l.refresh();
    slow.open();
    expect(refreshed).not.toBe(running);
    expect(await running).toBe(false);
    expect(await refreshed).toBe(true);
    expect(store.requests).toMatchObject({ catalogVersion: 3, heads: 2 });
    expect(await menus(l)).toEqual({ [STORED_NUMBER]: 's1.wav' });
  });

  test('refresh with no check running reads at once', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    store.stamp = 'v2';
    expect(await l.refresh()).toBe(true);
    expect(store.requests).toMatchObject({ catalogVersion: 2, heads: 2 });
    expect(await menus(l)).toEqual({ [STORED_NUMBER]: 's1.wav' });
  });

  test('refresh after a failed check reads again', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    const slow = gate();
    store.hold.catalogVersion = slow.opened;
    store.failCatalog = new Error('down');
    const running = l.check();
    await settle();
    store.failCatalog = null;
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    store.stamp = 'v2';
    const refreshed = l.refresh();
    slow.open();
    await expect(running).rejects.toThrow('down');
    expect(await refreshed).toBe(true);
    expect(await menus(l)).toEqual({ [STORED_NUMBER]: 's1.wav' });
  });

  test('an unchanged head keeps its loaded flow object; a changed one is loaded again', async () => {
    const store = new MemoryFlowStore();
    store.current = [
      stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 'a1')),
      stored('+14255550198', 1, flowText('+14255550198', 'b1')),
    ];
    const l = live(store);
    const before = await l.catalog();
    store.current = [
      stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 'a1-not-reloaded')),
      stored('+14255550198', 2, flowText('+14255550198', 'b2')),
    ];
    store.stamp = 'v2';
    await l.check();
    const after = await l.catalog();
    expect(after).not.toBe(before);
    expect(after.byId.get(STORED_NUMBER)).toBe(before.byId.get(STORED_NUMBER));
    expect(after.byId.get('+14255550198')?.flow.prompts.menu).toBe('https://media.example.com/b2.wav');
  });

  test('a stored version that no longer validates is noted and the number keeps the one it had', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    const l = live(store);
    await l.catalog();
    store.current = [stored(STORED_NUMBER, 2, '{ "number": "+14255550199" }')];
    store.stamp = 'v2';
    expect(await l.check()).toBe(true);
    expect(await menus(l)).toEqual({ [STORED_NUMBER]: 's1.wav' });
    expect(notes).toEqual([
      'invalid stored flow, not applied: store:+14255550199@2: $.prompts: Invalid input: expected record, received undefined',
      'invalid stored flow, not applied: store:+14255550199@2: $.default: Invalid input: expected object, received undefined',
    ]);
  });

  test('a first stored version that does not validate gives the number no flow', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, 'not json')];
    const l = live(store);
    expect([...(await l.catalog()).byId.keys()]).toEqual([]);
    expect(await l.numbers()).toEqual([
      {
        number: STORED_NUMBER,
        source: 'store',
        version: 1,
        flowId: STORED_NUMBER,
        at: '2026-01-01T00:00:00.000Z',
        author: 'ops',
      },
    ]);
  });

  test('a failing store is noted once per distinct failure and the last catalogue is served', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    const l = live(store);
    const served = await l.catalog();
    store.failCatalog = new Error('table down');
    await expect(l.check()).rejects.toThrow('table down');
    await expect(l.check()).rejects.toThrow('table down');
    expect(notes).toEqual(['stored flows could not be read (serving the last catalogue): table down']);
    expect(l.catalog()).toBe(served);

    // A success in between: the same failure is noted again.
    store.failCatalog = null;
    store.stamp = 'v2';
    expect(await l.check()).toBe(true);
    store.failCatalog = new Error('table down');
    await expect(l.check()).rejects.toThrow('table down');
    expect(notes).toHaveLength(2);
  });

  test('a store failing at the first load still serves the files', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'file'));
    const store = new MemoryFlowStore();
    store.failCatalog = new Error('table down');
    store.failLastGood = new Error('no table');
    const l = live(store);
    expect(await menus(l)).toEqual({ [FILE_NUMBER]: 'file.wav' });
    expect(notes).toEqual([
      'last valid flow files could not be read: no table',
      'stored flows could not be read (serving the last catalogue): table down',
    ]);
  });

  test('with refreshMs the check runs on its interval, and stops at close', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const store = new MemoryFlowStore();
      const l = live(store, 1000);
      await l.catalog();
      expect(store.requests.catalogVersion).toBe(1);
      await jest.advanceTimersByTimeAsync(1000);
      expect(store.requests.catalogVersion).toBe(2);
      await l.close();
      await jest.advanceTimersByTimeAsync(5000);
      expect(store.requests.catalogVersion).toBe(2);
    } finally {
      jest.useRealTimers();
    }
  });

  test('closed before the first load ends: no interval starts', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      const store = new MemoryFlowStore();
      const l = live(store, 1000);
      const first = l.catalog();
      await l.close();
      await first;
      await jest.advanceTimersByTimeAsync(5000);
      expect(store.requests.catalogVersion).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  test('no interval without a store, nor with refreshMs 0', async () => {
    jest.useFakeTimers({ doNotFake: ['nextTick', 'setImmediate', 'queueMicrotask'] });
    try {
      await live(null, 1000).catalog();
      expect(jest.getTimerCount()).toBe(0);
      await live(new MemoryFlowStore(), 0).catalog();
      expect(jest.getTimerCount()).toBe(0);
      await live(new MemoryFlowStore(), 1000).catalog();
      expect(jest.getTimerCount()).toBe(1);
    } finally {
      jest.useRealTimers();
    }
  });

  test('close waits for a first load still running', async () => {
    const store = new MemoryFlowStore();
    const read = gate();
    store.hold.lastGoodFiles = read.opened;
    const l = live(store);
    const first = l.catalog();
    const closing = l.close();
    expect(await isDone(closing)).toBe(false);
    read.open();
    await closing;
    expect(await isDone(Promise.resolve(first))).toBe(true);
  });

  test('close waits for a check still running', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    const check = gate();
    store.hold.catalogVersion = check.opened;
    store.stamp = 'v2';
    const checking = l.check();
    const closing = l.close();
    expect(await isDone(closing)).toBe(false);
    check.open();
    await closing;
    expect(await checking).toBe(true);
  });

  test('close waits for a save still running', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'f'));
    const store = new MemoryFlowStore();
    const save = gate();
    store.hold.saveLastGood = save.opened;
    const l = live(store);
    await l.catalog();
    const closing = l.close();
    expect(await isDone(closing)).toBe(false);
    save.open();
    await closing;
    expect(store.saved.has('main.json')).toBe(true);
  });

  test('without a store, check reads nothing and changes nothing', async () => {
    const l = live(null);
    await l.catalog();
    expect(await l.check()).toBe(false);
  });
});

describe('last known good files', () => {
  test('a file that becomes invalid keeps its last valid flow, said once per reload', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'good'));
    const l = live(null);
    await l.catalog();
    writeFlow('main.json', '{ "number": 1 }');
    l.reloadFiles();
    expect(await menus(l)).toEqual({ [FILE_NUMBER]: 'good.wav' });
    const c = await l.catalog();
    expect(c.problems.at(-1)).toEqual({
      file: join(dir, 'main.json'),
      path: '',
      message: 'keeping its last valid version until the file is fixed',
    });
    expect(notes.at(-1)).toBe(
      `invalid flow, not loaded: ${join(dir, 'main.json')}: (file): keeping its last valid version until the file is fixed`,
    );
    expect(notes.every((n) => n.startsWith(`invalid flow, not loaded: ${join(dir, 'main.json')}: `))).toBe(
      true,
    );
  });

  test('the last valid flow is not kept when another file took its number meanwhile', async () => {
    writeFlow('a.json', flowText(FILE_NUMBER, 'a'));
    const l = live(null);
    await l.catalog();
    writeFlow('a.json', 'broken');
    writeFlow('b.json', flowText(FILE_NUMBER, 'b'));
    l.reloadFiles();
    const c = await l.catalog();
    expect(await menus(l)).toEqual({ [FILE_NUMBER]: 'b.wav' });
    expect([...c.byId.keys()]).toEqual(['b']);
    expect(c.problems.map((p) => p.message)).not.toContain(
      'keeping its last valid version until the file is fixed',
    );
  });

  test('the last valid flow is not kept when another file took one of its aliases', async () => {
    writeFlow('a.json', flowText(FILE_NUMBER, 'a', { aliases: ['shared'] }));
    const l = live(null);
    await l.catalog();
    writeFlow('a.json', 'broken');
    writeFlow('b.json', flowText('+14255550101', 'b', { aliases: ['shared'] }));
    l.reloadFiles();
    expect(await menus(l)).toEqual({ '+14255550101': 'b.wav', shared: 'b.wav' });
  });

  test('valid file texts are saved once each; after a restart an invalid file loads its saved text', async () => {
    const text = flowText(FILE_NUMBER, 'saved');
    writeFlow('main.json', text);
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    l.reloadFiles();
    await l.close();
    expect(store.requests.saveLastGood).toEqual(['main.json']);
    expect(store.saved.get('main.json')).toBe(text);

    writeFlow('main.json', 'broken');
    const restarted = live(store);
    expect(await menus(restarted)).toEqual({ [FILE_NUMBER]: 'saved.wav' });
    // The saved text is not saved again by the instance that only read it.
    expect(store.requests.saveLastGood).toEqual(['main.json']);
  });

  test('a saved text that no longer validates is not used', async () => {
    writeFlow('main.json', 'broken');
    const store = new MemoryFlowStore();
    store.saved.set('main.json', '{ "number": "+14255550100" }');
    expect(await menus(live(store))).toEqual({});
  });

  test('a failed save is noted and tried again at the next reload', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'f'));
    const store = new MemoryFlowStore();
    store.failSave = new Error('quota');
    const l = live(store);
    await l.catalog();
    await l.close();
    expect(notes).toEqual(['the last valid version of main.json could not be saved: quota']);
    store.failSave = null;
    l.reloadFiles();
    await l.close();
    expect(store.requests.saveLastGood).toEqual(['main.json', 'main.json']);
    expect(store.saved.has('main.json')).toBe(true);
  });

  test('an unreadable flows folder is noted and leaves the catalogue empty', async () => {
    rmSync(dir, { recursive: true, force: true });
    const l = live(null);
    expect(await menus(l)).toEqual({});
    expect(notes).toHaveLength(1);
    expect(notes[0]).toMatch(/^invalid flow, not loaded: .*: \(file\): cannot read the flows directory: /);
  });
});

describe('flowAt: the flow a call started with', () => {
  test('a file flow by id, before and after the first load; an unknown id is null', async () => {
    writeFlow('main.json', flowText(FILE_NUMBER, 'file'));
    const l = live(null);
    const pending = l.flowAt('main', undefined);
    expect(pending).toBeInstanceOf(Promise);
    expect((await pending)?.id).toBe('main');
    expect((l.flowAt('main', undefined) as { id: string }).id).toBe('main');
    expect(l.flowAt('nope', undefined)).toBeNull();
    const fresh = live(null);
    expect(await fresh.flowAt('nope', undefined)).toBeNull();
  });

  test('a stored flow without a version comes from the catalogue', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    const l = live(store);
    expect(await l.flowAt(STORED_NUMBER, undefined)).toMatchObject({ id: STORED_NUMBER, version: 1 });
  });

  test('the head version is served from memory; an older one is read once, then cached', async () => {
    const store = new MemoryFlowStore();
    store.current = [stored(STORED_NUMBER, 2, flowText(STORED_NUMBER, 's2'))];
    store.old.set(`${STORED_NUMBER}@1`, stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1')));
    const l = live(store);
    await l.catalog();
    const head = l.flowAt(STORED_NUMBER, 2);
    expect(head).not.toBeInstanceOf(Promise);
    expect(head).toMatchObject({ version: 2 });
    const old = await l.flowAt(STORED_NUMBER, 1);
    expect(old?.flow.prompts.menu).toBe('https://media.example.com/s1.wav');
    expect(old).toMatchObject({ id: STORED_NUMBER, version: 1 });
    expect(l.flowAt(STORED_NUMBER, 1)).toBe(old);
    expect(store.requests.version).toEqual([`${STORED_NUMBER}@1`]);
  });

  test('a version that is missing or invalid is null and not cached', async () => {
    const store = new MemoryFlowStore();
    store.old.set(`${STORED_NUMBER}@1`, stored(STORED_NUMBER, 1, 'broken'));
    const l = live(store);
    await l.catalog();
    expect(await l.flowAt(STORED_NUMBER, 1)).toBeNull();
    expect(await l.flowAt(STORED_NUMBER, 1)).toBeNull();
    expect(await l.flowAt(STORED_NUMBER, 9)).toBeNull();
    expect(store.requests.version).toEqual([
      `${STORED_NUMBER}@1`,
      `${STORED_NUMBER}@1`,
      `${STORED_NUMBER}@9`,
    ]);
  });

  test('a deleted version is null', async () => {
    const store = new MemoryFlowStore();
    store.old.set(`${STORED_NUMBER}@2`, stored(STORED_NUMBER, 2, flowText(STORED_NUMBER, 'x'), true));
    expect(await live(store).flowAt(STORED_NUMBER, 2)).toBeNull();
  });

  test('without a store a versioned flow is null', () => {
    expect(live(null).flowAt(STORED_NUMBER, 1)).toBeNull();
  });

  test('the version cache keeps the 200 most recent: the oldest is read again', async () => {
    const store = new MemoryFlowStore();
    for (let v = 1; v <= 201; v++)
      store.old.set(`${STORED_NUMBER}@${v}`, stored(STORED_NUMBER, v, flowText(STORED_NUMBER, `s${v}`)));
    const l = live(store);
    await l.catalog();
    for (let v = 1; v <= 200; v++) await l.flowAt(STORED_NUMBER, v);
    expect(l.flowAt(STORED_NUMBER, 1)).not.toBeInstanceOf(Promise);
    await l.flowAt(STORED_NUMBER, 201);
    expect(l.flowAt(STORED_NUMBER, 2)).not.toBeInstanceOf(Promise);
    expect(l.flowAt(STORED_NUMBER, 201)).not.toBeInstanceOf(Promise);
    expect(l.flowAt(STORED_NUMBER, 1)).toBeInstanceOf(Promise);
  });
});

describe('numbers: every configured number and its source', () => {
  test('files and stored flows, sorted, with descriptions only when given', async () => {
    writeFlow('b.json', flowText('+14255550102', 'b', { description: 'Sales' }));
    writeFlow('a.json', flowText('+14255550101', 'a'));
    writeFlow('c.json', flowText('+14255550103', 'c', { description: 'Gone' }));
    const store = new MemoryFlowStore();
    store.current = [
      stored('+14255550101', 4, flowText('+14255550101', 's', { description: 'Stored' })),
      stored('+14255550103', 5, '', true),
      stored('+14255550100', 1, flowText('+14255550100', 'z')),
    ];
    const l = live(store);
    expect(await l.numbers()).toEqual([
      {
        number: '+14255550100',
        source: 'store',
        version: 1,
        flowId: '+14255550100',
        at: '2026-01-01T00:00:00.000Z',
        author: 'ops',
      },
      {
        number: '+14255550101',
        source: 'store',
        version: 4,
        flowId: '+14255550101',
        description: 'Stored',
        at: '2026-01-04T00:00:00.000Z',
        author: 'ops',
      },
      {
        number: '+14255550102',
        source: 'file',
        version: 0,
        flowId: 'b',
        file: join(dir, 'b.json'),
        description: 'Sales',
      },
    ]);
  });

  test('numbers reads a changed catalogue first', async () => {
    const store = new MemoryFlowStore();
    const l = live(store);
    expect(await l.numbers()).toEqual([]);
    store.current = [stored(STORED_NUMBER, 1, flowText(STORED_NUMBER, 's1'))];
    store.stamp = 'v2';
    expect((await l.numbers()).map((n) => n.number)).toEqual([STORED_NUMBER]);
  });

  test('a failing store still lists the files', async () => {
    writeFlow('a.json', flowText('+14255550101', 'a'));
    const store = new MemoryFlowStore();
    const l = live(store);
    await l.catalog();
    store.stamp = 'v2';
    store.failCatalog = new Error('down');
    expect((await l.numbers()).map((n) => n.flowId)).toEqual(['a']);
  });
});
