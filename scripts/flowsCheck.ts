import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { formatProblem, isFlowFileName, loadFlowDirectory } from '../shared/flows/loader';

/** npm run flows:check [dir]: validates every flow file; exit 1 and every problem listed when any is invalid. */
const dir = resolve(process.argv[2] ?? process.env.IVR_FLOWS_DIR ?? 'flows');
const catalog = loadFlowDirectory(dir);
for (const flow of catalog.byId.values()) console.log(`ok      ${flow.file} (${flow.flow.number})`);
for (const p of catalog.problems) console.error(`invalid ${formatProblem(p)}`);
let files: number | undefined;
try {
  files = readdirSync(dir).filter(isFlowFileName).length;
} catch {
  // An unreadable directory is already listed as a problem above.
}
if (files !== undefined) console.log(`${catalog.byId.size} of ${files} flow files valid`);
process.exit(catalog.problems.length > 0 ? 1 : 0);
