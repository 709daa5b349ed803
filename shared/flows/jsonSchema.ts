import { z } from 'zod';
import { flowFileSchema } from './schema';

/** The JSON Schema editors use for flow files, derived from the zod schema (never edited by hand). */
export function flowJsonSchema(): string {
  const schema = z.toJSONSchema(flowFileSchema, { io: 'input', unrepresentable: 'any' });
  return `${JSON.stringify({ ...schema, $id: 'https://graph-ivr.dev/flow.schema.json', title: 'graph-ivr flow file' }, null, 2)}\n`;
}
