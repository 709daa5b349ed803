import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { XMLParser } from 'fast-xml-parser';
import { projectRoot } from '../../host/projectRoot';
import { isJsonObject, itemPath, memberPath, type JsonObject, type ValidationIssue } from './issues';

/**
 * Validates Microsoft Graph request bodies against the official CSDL (OData metadata) of the
 * cloud-communications calls API, so the simulator rejects what real Graph would reject.
 * The CSDL is parsed once per file; validation is a plain walk of the JSON body.
 */

export type { ValidationIssue } from './issues';
export { validateGraphLimits, type GraphLimitsOptions } from './limits';
export { classifyCallsRequest, type CallsRequest } from './routes';

const CSDL_FILE = 'v1.0-calls.csdl.xml';
const GRAPH_NAMESPACE = 'microsoft.graph';
const CALL_TYPE = `${GRAPH_NAMESPACE}.call`;
const OPTIONAL_PARAMETER_TERM = 'Org.OData.Core.V1.OptionalParameter';

// ---- model ------------------------------------------------------------------------------------

/** A reference to a type; `name` is namespace-qualified ("microsoft.graph.mediaInfo") or "Edm.*". */
export interface CsdlTypeRef {
  name: string;
  collection: boolean;
}

export interface CsdlProperty {
  name: string;
  type: CsdlTypeRef;
  /** For collections this covers both the collection and its items. */
  nullable: boolean;
  /** Unicode="false": the string may only hold ASCII characters. */
  asciiOnly: boolean;
}

export interface CsdlParameter extends CsdlProperty {
  /** Annotated Core.OptionalParameter: may be omitted even when not nullable. */
  optional: boolean;
}

export interface CsdlStructuredType {
  kind: 'complex' | 'entity';
  /** Namespace-qualified, e.g. "microsoft.graph.serviceHostedMediaConfig". */
  name: string;
  baseType?: string;
  abstract: boolean;
  open: boolean;
  /** Key property names declared on this type (not inherited). */
  keys: readonly string[];
  /** Declared on this type only; see lineage() for inherited ones. */
  properties: ReadonlyMap<string, CsdlProperty>;
  navigationProperties: ReadonlyMap<string, CsdlTypeRef>;
}

export interface CsdlEnumType {
  name: string;
  flags: boolean;
  members: readonly string[];
}

export interface CsdlAction {
  /** Namespace-qualified, e.g. "microsoft.graph.answer". */
  name: string;
  /** Type of the binding parameter; absent for unbound actions. */
  binding?: CsdlTypeRef;
  /** Parameters other than the binding parameter, in declaration order. */
  parameters: readonly CsdlParameter[];
}

export interface CsdlModel {
  /** Absolute path of the parsed file. */
  source: string;
  /** Alias → namespace, e.g. "graph" → "microsoft.graph". */
  aliases: ReadonlyMap<string, string>;
  structuredTypes: ReadonlyMap<string, CsdlStructuredType>;
  enumTypes: ReadonlyMap<string, CsdlEnumType>;
  /** Actions are overloaded by binding type (the full metadata binds "mute" to call and participant). */
  actions: readonly CsdlAction[];
}

// ---- primitive types --------------------------------------------------------------------------

type PrimitiveCheck = (value: unknown, asciiOnly: boolean) => string | undefined;

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
  if (Array.isArray(value)) return 'an array';
  if (isJsonObject(value)) return 'an object';
  return String(value);
}

function expected(what: string, value: unknown): string {
  return `expected ${what}, got ${describe(value)}`;
}

function integerCheck(type: string, min: number, max: number): PrimitiveCheck {
  return (value) =>
    Number.isInteger(value) && (value as number) >= min && (value as number) <= max
      ? undefined
      : expected(`${type} (an integer from ${min} to ${max})`, value);
}

function patternCheck(type: string, pattern: RegExp, example: string): PrimitiveCheck {
  return (value) =>
    typeof value === 'string' && pattern.test(value)
      ? undefined
      : expected(`${type} like "${example}"`, value);
}

const DATE = /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$/;
const DATE_TIME_OFFSET =
  /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d+)?)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$/i;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
// OData durations carry days, hours, minutes and seconds only; the lookaheads demand at least one.
const DURATION = /^-?P(?=\d|T\d)(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$/i;

/** The primitive types this validator understands; a CSDL using any other one fails to load. */
const PRIMITIVE_CHECKS: ReadonlyMap<string, PrimitiveCheck> = new Map<string, PrimitiveCheck>([
  [
    'Edm.String',
    (value, asciiOnly) => {
      if (typeof value !== 'string') return expected('Edm.String', value);
      if (asciiOnly && /[\u0080-\uffff]/.test(value))
        return 'must contain only ASCII characters (Unicode="false")';
      return undefined;
    },
  ],
  ['Edm.Boolean', (value) => (typeof value === 'boolean' ? undefined : expected('Edm.Boolean', value))],
  ['Edm.Int32', integerCheck('Edm.Int32', -2147483648, 2147483647)],
  // JSON.parse loses precision beyond ±2^53, so that is the Int64 range a JSON number can carry.
  ['Edm.Int64', integerCheck('Edm.Int64', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)],
  [
    'Edm.Double',
    // JSON has no NaN/Infinity literals; OData spells them as these strings.
    (value) =>
      typeof value === 'number' || value === 'NaN' || value === 'INF' || value === '-INF'
        ? undefined
        : expected('Edm.Double (a number)', value),
  ],
  // Base64 (OData JSON allows base64url too), e.g. a fileAttachment's contentBytes.
  ['Edm.Binary', patternCheck('Edm.Binary (base64)', /^[A-Za-z0-9+/_-]*={0,2}$/, 'SGVsbG8=')],
  ['Edm.DateTimeOffset', patternCheck('Edm.DateTimeOffset', DATE_TIME_OFFSET, '2024-01-31T09:30:00Z')],
  ['Edm.Date', patternCheck('Edm.Date', DATE, '2024-01-31')],
  ['Edm.Guid', patternCheck('Edm.Guid', GUID, '1d6de2d4-cd51-4309-8daa-70768651088e')],
  ['Edm.Duration', patternCheck('Edm.Duration', DURATION, 'PT1M30S')],
]);

// ---- loading ----------------------------------------------------------------------------------

type XmlElement = Record<string, unknown>;

/** Elements that may repeat, so the parser always yields arrays for them. */
const REPEATED_ELEMENTS = new Set([
  'Schema',
  'ComplexType',
  'EntityType',
  'EnumType',
  'Action',
  'Property',
  'NavigationProperty',
  'PropertyRef',
  'Member',
  'Parameter',
  'Annotation',
]);

const xmlParser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  isArray: (name, _path, _isLeaf, isAttribute) => !isAttribute && REPEATED_ELEMENTS.has(name),
});

/**
 * The Graph subset omits the Alias="graph" of the full metadata's Schema element while still
 * writing "graph.identitySet" everywhere, so the alias is implied for that namespace.
 */
const IMPLIED_ALIASES: Readonly<Record<string, string>> = { [GRAPH_NAMESPACE]: 'graph' };

function children(element: XmlElement, tag: string): XmlElement[] {
  const value = element[tag];
  // An element with neither attributes nor children parses as "".
  return Array.isArray(value) ? value.map((child) => (isJsonObject(child) ? child : {})) : [];
}

function attr(element: XmlElement, name: string): string | undefined {
  const value = element[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

function requiredAttr(element: XmlElement, name: string, where: string): string {
  const value = attr(element, name);
  if (value === undefined) throw new Error(`${where}: element without a ${name} attribute`);
  return value;
}

function qualifyName(aliases: ReadonlyMap<string, string>, name: string): string {
  const dot = name.lastIndexOf('.');
  if (dot < 0) return name;
  const namespace = name.slice(0, dot);
  return `${aliases.get(namespace) ?? namespace}.${name.slice(dot + 1)}`;
}

function parseModel(source: string, xml: string): CsdlModel {
  const document: unknown = xmlParser.parse(xml, true);
  const root = isJsonObject(document) ? document : {};
  // Either a bare <Schema> (the vendored subset) or a full <edmx:Edmx><edmx:DataServices> document.
  const edmx = isJsonObject(root.Edmx) ? root.Edmx : {};
  const schemas = children(root, 'Schema').concat(
    children(isJsonObject(edmx.DataServices) ? edmx.DataServices : {}, 'Schema'),
  );
  if (schemas.length === 0) throw new Error(`${source}: no CSDL <Schema> element`);

  const aliases = new Map<string, string>();
  for (const schema of schemas) {
    const namespace = requiredAttr(schema, 'Namespace', source);
    const alias = attr(schema, 'Alias') ?? IMPLIED_ALIASES[namespace];
    if (alias !== undefined) aliases.set(alias, namespace);
  }
  const typeRef = (text: string): CsdlTypeRef => {
    const collection = /^Collection\((.+)\)$/.exec(text);
    return { name: qualifyName(aliases, collection?.[1] ?? text), collection: collection !== null };
  };
  const property = (element: XmlElement): CsdlProperty => ({
    name: requiredAttr(element, 'Name', source),
    type: typeRef(requiredAttr(element, 'Type', source)),
    nullable: attr(element, 'Nullable') !== 'false',
    asciiOnly: attr(element, 'Unicode') === 'false',
  });

  const structuredTypes = new Map<string, CsdlStructuredType>();
  const enumTypes = new Map<string, CsdlEnumType>();
  const actions: CsdlAction[] = [];
  for (const schema of schemas) {
    const namespace = requiredAttr(schema, 'Namespace', source);
    const structured = [
      ...children(schema, 'ComplexType').map((element) => ({ kind: 'complex' as const, element })),
      ...children(schema, 'EntityType').map((element) => ({ kind: 'entity' as const, element })),
    ];
    for (const { kind, element } of structured) {
      const name = `${namespace}.${requiredAttr(element, 'Name', source)}`;
      const baseType = attr(element, 'BaseType');
      const key = isJsonObject(element.Key) ? element.Key : {};
      structuredTypes.set(name, {
        kind,
        name,
        baseType: baseType === undefined ? undefined : qualifyName(aliases, baseType),
        abstract: attr(element, 'Abstract') === 'true',
        open: attr(element, 'OpenType') === 'true',
        keys: children(key, 'PropertyRef').map((ref) => requiredAttr(ref, 'Name', name)),
        properties: new Map(
          children(element, 'Property').map((p) => [requiredAttr(p, 'Name', name), property(p)]),
        ),
        navigationProperties: new Map(
          children(element, 'NavigationProperty').map((p) => [
            requiredAttr(p, 'Name', name),
            typeRef(requiredAttr(p, 'Type', name)),
          ]),
        ),
      });
    }
    for (const element of children(schema, 'EnumType')) {
      const name = `${namespace}.${requiredAttr(element, 'Name', source)}`;
      enumTypes.set(name, {
        name,
        flags: attr(element, 'IsFlags') === 'true',
        members: children(element, 'Member').map((member) => requiredAttr(member, 'Name', name)),
      });
    }
    for (const element of children(schema, 'Action')) {
      const name = `${namespace}.${requiredAttr(element, 'Name', source)}`;
      const parameters = children(element, 'Parameter').map((p): CsdlParameter => ({
        ...property(p),
        optional: children(p, 'Annotation').some((a) => attr(a, 'Term') === OPTIONAL_PARAMETER_TERM),
      }));
      // A bound action's first parameter is the binding parameter (OData CSDL §12.1).
      const bound = attr(element, 'IsBound') === 'true';
      actions.push({
        name,
        binding: bound ? parameters[0]?.type : undefined,
        parameters: bound ? parameters.slice(1) : parameters,
      });
    }
  }

  const model: CsdlModel = { source, aliases, structuredTypes, enumTypes, actions };
  checkReferences(model);
  return model;
}

/** Fails loading when a type is referenced but not declared, so validation never meets one. */
function checkReferences(model: CsdlModel): void {
  const problems: string[] = [];
  const check = (ref: CsdlTypeRef | undefined, where: string): void => {
    if (ref === undefined) return;
    const known =
      PRIMITIVE_CHECKS.has(ref.name) || model.enumTypes.has(ref.name) || model.structuredTypes.has(ref.name);
    if (!known) problems.push(`${where}: unknown type ${ref.name}`);
  };
  for (const type of model.structuredTypes.values()) {
    const seen = new Set<string>();
    for (let base = type.baseType; base !== undefined; base = model.structuredTypes.get(base)?.baseType) {
      if (seen.has(base)) {
        problems.push(`${type.name}: BaseType cycle through ${base}`);
        break;
      }
      seen.add(base);
      if (!model.structuredTypes.has(base)) problems.push(`${type.name}: unknown BaseType ${base}`);
    }
    for (const p of type.properties.values()) check(p.type, `${type.name}.${p.name}`);
    for (const [name, ref] of type.navigationProperties) check(ref, `${type.name}.${name}`);
  }
  for (const action of model.actions) {
    check(action.binding, `${action.name} binding`);
    for (const p of action.parameters) check(p.type, `${action.name}(${p.name})`);
  }
  if (problems.length > 0) throw new Error(`${model.source}: invalid CSDL:\n  ${problems.join('\n  ')}`);
}

/** GRAPH_CSDL_PATH, else the shared copy next to the repository, else the vendored one. */
function defaultCsdlPath(): string {
  const fromEnv = process.env.GRAPH_CSDL_PATH;
  if (fromEnv) return fromEnv;
  const root = projectRoot(__dirname);
  const shared = join(root, '..', 'shared', 'graph', CSDL_FILE);
  return existsSync(shared) ? shared : join(root, 'sim', 'graph', CSDL_FILE);
}

const modelCache = new Map<string, CsdlModel>();

/** Parses (once per file) the CSDL at `filePath`, or at the default location described above. */
export function loadCsdl(filePath?: string): CsdlModel {
  const source = resolve(filePath ?? defaultCsdlPath());
  let model = modelCache.get(source);
  if (model === undefined) {
    model = parseModel(source, readFileSync(source, 'utf8'));
    modelCache.set(source, model);
  }
  return model;
}

// ---- validation -------------------------------------------------------------------------------

/** The type and its base types, most derived first (cycles were rejected at load). */
function lineage(model: CsdlModel, type: CsdlStructuredType): CsdlStructuredType[] {
  const types = [type];
  for (let base = type.baseType; base !== undefined;) {
    const baseType = structuredType(model, base);
    types.push(baseType);
    base = baseType.baseType;
  }
  return types;
}

function structuredType(model: CsdlModel, name: string): CsdlStructuredType {
  const type = model.structuredTypes.get(name);
  if (type === undefined) throw new Error(`${model.source}: no structured type ${name}`);
  return type;
}

function concreteTypesDerivedFrom(model: CsdlModel, type: CsdlStructuredType): string[] {
  return [...model.structuredTypes.values()]
    .filter((candidate) => !candidate.abstract && lineage(model, candidate).includes(type))
    .map((candidate) => candidate.name);
}

/** `@odata.type` and `property@odata.*` control information; every other annotation is refused. */
function isODataAnnotation(key: string): boolean {
  const at = key.indexOf('@');
  return at >= 0 && key.startsWith('odata.', at + 1);
}

/** How a body is read beyond the plain OData rules. */
export interface ValidationOptions {
  /**
   * Deep insert: navigation properties may carry the related entities inline (sendMail's
   * `message.attachments`); they are validated as their declared type.
   */
  deepInsert?: boolean;
  /**
   * Non-nullable properties the service fills in when omitted ("microsoft.graph.attachment.size"),
   * as Graph's own request examples show; they are still checked when given.
   */
  serviceFilled?: readonly string[];
}

class Validator {
  readonly issues: ValidationIssue[] = [];

  constructor(
    private readonly model: CsdlModel,
    private readonly options: ValidationOptions = {},
  ) {}

  report(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  private reportIf(path: string, message: string | undefined): void {
    if (message !== undefined) this.report(path, message);
  }

  /** A property or parameter value, with its declared type and facets. */
  value(declared: CsdlProperty, value: unknown, path: string): void {
    // Collection-valued nullability applies to the items as well as to the collection.
    if (value === null) {
      if (!declared.nullable) this.report(path, 'must not be null');
      return;
    }
    if (!declared.type.collection) {
      this.single(declared, value, path);
      return;
    }
    if (!Array.isArray(value)) {
      this.report(path, expected(`an array (Collection(${declared.type.name}))`, value));
      return;
    }
    value.forEach((item: unknown, index) => {
      if (item !== null) this.single(declared, item, itemPath(path, index));
      else if (!declared.nullable) this.report(itemPath(path, index), 'must not be null');
    });
  }

  private single(declared: CsdlProperty, value: unknown, path: string): void {
    const typeName = declared.type.name;
    const primitive = PRIMITIVE_CHECKS.get(typeName);
    if (primitive) return this.reportIf(path, primitive(value, declared.asciiOnly));
    const enumType = this.model.enumTypes.get(typeName);
    if (enumType) return this.reportIf(path, enumProblem(enumType, value));
    this.structured(structuredType(this.model, typeName), value, path);
  }

  /** A value whose declared type is the structured type `declared`. */
  structured(declared: CsdlStructuredType, value: unknown, path: string): void {
    if (isJsonObject(value)) this.object(declared, value, path);
    else this.report(path, expected(`an object (${declared.name})`, value));
  }

  /** An object of type `declared` or, when undefined (dynamic properties), of its @odata.type only. */
  private object(declared: CsdlStructuredType | undefined, value: JsonObject, path: string): void {
    const actual = this.instanceType(declared, value, path);
    if (actual !== undefined) this.members(actual, value, path);
  }

  /** Applies @odata.type; undefined when the value cannot (or, untyped and dynamic, need not) be checked. */
  private instanceType(
    declared: CsdlStructuredType | undefined,
    value: JsonObject,
    path: string,
  ): CsdlStructuredType | undefined {
    const annotation = value['@odata.type'];
    let type = declared;
    if (annotation !== undefined) {
      const annotationPath = memberPath(path, '@odata.type');
      if (typeof annotation !== 'string') {
        this.report(annotationPath, expected('a type name such as "#microsoft.graph.identity"', annotation));
        return undefined;
      }
      const named = this.model.structuredTypes.get(
        qualifyName(this.model.aliases, annotation.replace(/^#/, '')),
      );
      if (named === undefined) {
        this.report(annotationPath, `unknown type "${annotation}"`);
        return undefined;
      }
      if (declared !== undefined && !lineage(this.model, named).includes(declared)) {
        this.report(annotationPath, `${named.name} is neither ${declared.name} nor derived from it`);
        return undefined;
      }
      type = named;
    }
    if (type?.abstract) {
      const concrete = concreteTypesDerivedFrom(this.model, type).join(', ');
      this.report(
        annotation === undefined ? path : memberPath(path, '@odata.type'),
        `${type.name} is abstract: @odata.type must name a concrete derived type (${concrete})`,
      );
      return undefined;
    }
    return type;
  }

  private members(type: CsdlStructuredType, value: JsonObject, path: string): void {
    const types = lineage(this.model, type);
    const open = types.some((t) => t.open);
    const findProperty = (name: string) => types.find((t) => t.properties.has(name))?.properties.get(name);
    for (const [key, member] of Object.entries(value)) {
      const keyPath = memberPath(path, key);
      if (key.includes('@')) {
        if (!isODataAnnotation(key)) this.report(keyPath, `unsupported instance annotation "${key}"`);
        continue;
      }
      const property = findProperty(key);
      if (property !== undefined) {
        this.value(property, member, keyPath);
      } else if (types.some((t) => t.navigationProperties.has(key))) {
        const target = types.find((t) => t.navigationProperties.has(key))!.navigationProperties.get(key)!;
        if (this.options.deepInsert)
          this.value({ name: key, type: target, nullable: true, asciiOnly: false }, member, keyPath);
        else
          this.report(
            keyPath,
            `navigation property "${key}" of ${type.name} cannot be set in a request body`,
          );
      } else if (open) {
        this.dynamic(member, keyPath);
      } else {
        this.report(keyPath, `unknown property "${key}" of ${type.name}`);
      }
    }
    // OData: a non-nullable property without a default must be supplied; keys are service-assigned.
    const keys = new Set(types.flatMap((t) => t.keys));
    for (const t of types) {
      for (const property of t.properties.values()) {
        const filled = this.options.serviceFilled?.includes(`${t.name}.${property.name}`) ?? false;
        if (!property.nullable && !keys.has(property.name) && !filled && !(property.name in value)) {
          this.report(
            memberPath(path, property.name),
            `required property "${property.name}" of ${type.name} is missing`,
          );
        }
      }
    }
  }

  /** A dynamic property of an open type: only objects that state their @odata.type can be checked. */
  private dynamic(value: unknown, path: string): void {
    if (Array.isArray(value)) {
      value.forEach((item: unknown, index) => this.dynamic(item, itemPath(path, index)));
    } else if (isJsonObject(value) && value['@odata.type'] !== undefined) {
      this.object(undefined, value, path);
    }
  }
}

function enumProblem(enumType: CsdlEnumType, value: unknown): string | undefined {
  if (typeof value !== 'string') return expected(`a member name of ${enumType.name}`, value);
  // Flags enums combine members as "a,b"; other enums take exactly one member.
  const names = enumType.flags ? value.split(',') : [value];
  const unknown = names.filter((name) => !enumType.members.includes(name));
  if (unknown.length === 0) return undefined;
  return `${unknown.map((name) => JSON.stringify(name)).join(', ')} is not a member of ${enumType.name} (${enumType.members.join(', ')})`;
}

/**
 * Validates the JSON body of `POST /communications/calls/{id}/{action}` against the parameters of
 * the action bound to microsoft.graph.call. `action` may be namespace-qualified. An absent body
 * (undefined) counts as `{}`, which is what parameterless actions such as keepAlive take.
 */
export function validateActionBody(
  model: CsdlModel,
  action: string,
  body: unknown,
  options: ValidationOptions & { binding?: string } = {},
): ValidationIssue[] {
  const binding = options.binding ?? CALL_TYPE;
  const name = action.includes('.') ? qualifyName(model.aliases, action) : `${GRAPH_NAMESPACE}.${action}`;
  const overloads = model.actions.filter((candidate) => candidate.name === name);
  const bound = overloads.find((o) => o.binding?.name === binding && !o.binding.collection);
  if (bound === undefined) {
    const message =
      overloads.length === 0
        ? `unknown action "${action}"`
        : `action "${action}" is not bound to a single ${binding}`;
    return [{ path: '', message }];
  }
  const value = body === undefined ? {} : body;
  if (!isJsonObject(value)) return [{ path: '', message: expected('a JSON object', value) }];

  const validator = new Validator(model, options);
  const parameters = new Map(bound.parameters.map((p) => [p.name, p]));
  const known = [...parameters.keys()].join(', ') || 'none';
  for (const [key, argument] of Object.entries(value)) {
    const parameter = parameters.get(key);
    if (parameter !== undefined) validator.value(parameter, argument, key);
    else if (!isODataAnnotation(key)) {
      validator.report(key, `unknown parameter "${key}" of ${action} (parameters: ${known})`);
    }
  }
  for (const parameter of bound.parameters) {
    if (!parameter.nullable && !parameter.optional && !(parameter.name in value)) {
      validator.report(parameter.name, `required parameter "${parameter.name}" of ${action} is missing`);
    }
  }
  return validator.issues;
}

/**
 * Validates a request body for structured type `typeName` ("graph.call" or "microsoft.graph.call"),
 * e.g. the create-call body of `POST /communications/calls`. Navigation properties are refused.
 */
export function validateEntity(model: CsdlModel, typeName: string, value: unknown): ValidationIssue[] {
  const validator = new Validator(model);
  validator.structured(structuredType(model, qualifyName(model.aliases, typeName)), value, '');
  return validator.issues;
}
