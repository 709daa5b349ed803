import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDev } from '../../sim/dev';
import { freePort } from '../../sim/ports';

/** `npm run dev`'s module: starts, answers a simulated call, prints its timeline, and stops with no process left. */

const children = () =>
  execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => /azurite|localHost\.js|tsc/.test(l));

test('starts, answers a call placed through the control API, and stops cleanly', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'ivr-dev-'));
  const lines: string[] = [];
  const dev = await startDev({
    dataDir,
    port: await freePort(),
    timeScale: 0.05,
    at: '2026-03-10T10:00:00-07:00', // office hours: answered, not redirected
    compile: false, // npm test has just built dist/
    out: (line) => lines.push(line),
  });
  try {
    const res = await fetch(`${dev.simUrl}/_sim/calls`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        from: '+12065550123',
        to: '+14255550100',
        actions: [{ waitFor: 'promptEnd' }, { after: 0.5, hangUp: true }],
      }),
    });
    expect(res.status).toBe(201);
    const { callId } = (await res.json()) as { callId: string };
    // The timeline prints once the bot's record is there (lines grow outside the simulator).
    const report = () => lines.find((l) => l.startsWith(`=== call ${callId}`));
    for (let i = 0; i < 200 && !report(); i++) await new Promise((r) => setTimeout(r, 100));
    expect(report()).toMatch(/nodes: +welcome/);
    expect(lines.join('\n')).toMatch(/decision: +answer \(rule: default\)/);
  } finally {
    await dev.stop();
  }
  expect(children()).toEqual([]);
  // Azurite kept its data on disk, in the folder given.
  expect(readdirSync(dataDir).length).toBeGreaterThan(0);
}, 60_000);
