/** One problem found in a Graph request body. */
export interface ValidationIssue {
  /** Location in the body, e.g. "targets[0].identity.phone.id"; "" for the body itself. */
  path: string;
  message: string;
}

export type JsonObject = Record<string, unknown>;

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function memberPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

export function itemPath(parent: string, index: number): string {
  return `${parent}[${index}]`;
}
