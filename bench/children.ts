import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/**
 * The bench's child processes (Azurite, the bot, the floor): every one is registered here
 * and killed when the bench ends, whether it finishes, throws, or gets Ctrl-C / SIGTERM.
 */

const live = new Set<ChildProcess>();

export interface Child {
  proc: ChildProcess;
  pid: number;
  name: string;
  /** Output lines, kept (bounded) for error messages. */
  tail: string[];
  exited(): string | null;
  /** Resolves on the first output line matching. */
  waitForLine(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export function spawnChild(
  name: string,
  args: string[],
  options: SpawnOptions & { onLine?: (line: string) => void } = {},
): Child {
  const proc = spawn(process.execPath, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
  if (proc.pid === undefined) throw new Error(`${name} did not start`);
  live.add(proc);
  proc.once('exit', () => live.delete(proc));
  const tail: string[] = [];
  const watchers: Array<{ re: RegExp; done: (m: RegExpMatchArray) => void }> = [];
  for (const stream of [proc.stdout, proc.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 50) tail.shift();
      options.onLine?.(line);
      for (const w of [...watchers]) {
        const m = w.re.exec(line);
        if (m) {
          watchers.splice(watchers.indexOf(w), 1);
          w.done(m);
        }
      }
    });
  }
  const exited = () => (proc.exitCode !== null || proc.signalCode !== null ? `${name} exited` : null);
  return {
    proc,
    pid: proc.pid,
    name,
    tail,
    exited,
    waitForLine: (re, timeoutMs) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${name}: no line matching ${re} within ${timeoutMs} ms`)),
          timeoutMs,
        );
        watchers.push({
          re,
          done: (m) => {
            clearTimeout(timer);
            resolve(m);
          },
        });
        proc.once('exit', () => {
          clearTimeout(timer);
          reject(new Error(`${name} exited: ${tail.slice(-5).join(' | ')}`));
        });
      }),
    stop: () =>
      new Promise<void>((ok) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return ok();
        const force = setTimeout(() => proc.kill('SIGKILL'), 3000);
        proc.once('exit', () => {
          clearTimeout(force);
          ok();
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** Kills every child still running (synchronously, so it also works from an 'exit' handler). */
export function killAll(): void {
  for (const proc of live) {
    try {
      proc.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
  live.clear();
}

let installed = false;
/** Children die with the bench: on normal exit, uncaught errors, Ctrl-C and SIGTERM. */
export function installCleanup(): void {
  if (installed) return;
  installed = true;
  process.on('exit', killAll);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      console.error(`\nbench: ${signal}, stopping child processes`);
      killAll();
      process.exit(130);
    });
  }
}

let clockTicks: number | null = null;
function ticksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** utime + stime of a process, in ms, from /proc/<pid>/stat (resolution: one clock tick). */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / ticksPerSecond();
}

/** Resident set size of a process in bytes, from /proc/<pid>/status. */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) * 1024 : NaN;
}
