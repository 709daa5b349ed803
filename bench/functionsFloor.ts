import { join } from 'node:path';
import { startLocalHost } from '../host/localHost';

/**
 * The floor behind the Functions programming model: the local host serving only
 * floorFunction.js. Settings: FLOOR_PORT and those of floorWork.ts.
 */
startLocalHost({
  port: Number(process.env.FLOOR_PORT),
  functionFiles: [join(__dirname, 'floorFunction.js')],
  pollQueues: false,
}).then(
  () => process.stdout.write(`functions floor ready on ${process.env.FLOOR_PORT}\n`),
  (err: Error) => {
    process.stderr.write(`functions floor failed: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
process.on('SIGTERM', () => process.exit(0));
