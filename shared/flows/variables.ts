/**
 * Call variables, the pure part shared by rules, the loader and the engine: the built-in
 * names, `{name}` templates, and the tests a rule or a branch node applies to a value.
 * Every value is a string.
 */

/**
 * Set for every call from its start: `caller` (who called: the caller's number, "" when
 * anonymous; our number on an outbound call), `called` (who was called: our number; the
 * callee on an outbound call), `number` (the flow's number, in both directions).
 */
export const BUILT_IN_VARIABLES = ['caller', 'called', 'number'] as const;
export type BuiltInVariable = (typeof BUILT_IN_VARIABLES)[number];

export function isBuiltInVariable(name: string): name is BuiltInVariable {
  return (BUILT_IN_VARIABLES as readonly string[]).includes(name);
}

/** Longest value a variable keeps: a collected entry, a field of an answer. */
export const VARIABLE_VALUE_LIMIT = 256;

/** A test of one variable's value; every operator given must hold. */
export interface VariableTest {
  variable: string;
  equals?: string | undefined;
  in?: string[] | undefined;
  /** A regular expression the whole value must match. */
  matches?: string | undefined;
  /** Inclusive numeric bounds: the value must be a decimal number. */
  min?: number | undefined;
  max?: number | undefined;
}

const DECIMAL = /^-?\d{1,15}(\.\d{1,15})?$/;
const compiled = new Map<string, RegExp>();

/** A whole-value regular expression, compiled once per source (flows are few, calls many). */
export function wholeMatch(source: string): RegExp {
  let re = compiled.get(source);
  if (!re) {
    re = new RegExp(`^(?:${source})$`);
    if (compiled.size >= 1000) compiled.clear();
    compiled.set(source, re);
  }
  return re;
}

/** Whether a value passes a test; an unset value (undefined) passes none. */
export function testPasses(test: VariableTest, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (test.equals !== undefined && value !== test.equals) return false;
  if (test.in !== undefined && !test.in.includes(value)) return false;
  if (test.matches !== undefined && !wholeMatch(test.matches).test(value)) return false;
  if (test.min !== undefined || test.max !== undefined) {
    if (!DECIMAL.test(value)) return false;
    const n = Number(value);
    if (test.min !== undefined && n < test.min) return false;
    if (test.max !== undefined && n > test.max) return false;
  }
  return true;
}

/** `{name}` placeholders; a brace that opens none is a problem the loader reports. */
const PLACEHOLDER = /\{([A-Za-z][A-Za-z0-9_]{0,63})\}/g;

/** The names a template reads, or a problem with its braces. */
export function templateNames(template: string): { names: string[] } | { problem: string } {
  const names = [...template.matchAll(PLACEHOLDER)].map((m) => m[1]!);
  if (/[{}]/.test(template.replace(PLACEHOLDER, '')))
    return { problem: 'a brace that is not part of a {variable} placeholder' };
  return { names };
}

/** Fills a template; `encode` escapes each value (URL parts). Unset names become "". */
export function fillTemplate(
  template: string,
  value: (name: string) => string | undefined,
  encode: (v: string) => string = (v) => v,
): string {
  return template.replace(PLACEHOLDER, (_m, name: string) => encode(value(name) ?? ''));
}
