import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flowJsonSchema } from '../shared/flows/jsonSchema';
import { projectRoot } from '../host/projectRoot';
import { flowTestJsonSchema } from '../sim/flowTest';

/** Writes flows/flow.schema.json and flows/flow-test.schema.json from the zod schemas. */
const target = join(projectRoot(), 'flows', 'flow.schema.json');
writeFileSync(target, flowJsonSchema());
console.log(`wrote ${target}`);
const tests = join(projectRoot(), 'flows', 'flow-test.schema.json');
writeFileSync(tests, flowTestJsonSchema());
console.log(`wrote ${tests}`);
