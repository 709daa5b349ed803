import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { flowJsonSchema } from '../shared/flows/jsonSchema';
import { projectRoot } from '../host/projectRoot';

/** Writes flows/flow.schema.json from the zod flow schema. */
const target = join(projectRoot(), 'flows', 'flow.schema.json');
writeFileSync(target, flowJsonSchema());
console.log(`wrote ${target}`);
