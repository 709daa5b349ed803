import type { z } from 'zod';
import {
  isSafeId,
  MAX_IDENTITY_ID_LENGTH,
  MAX_ID_LENGTH,
  SAFE_ID_RULE,
  safeDecodeURIComponent,
} from './limits';
import {
  callResourceSchema,
  commsNotificationSchema,
  commsNotificationsSchema,
  operationResourceSchema,
  type CallResource,
  type CommsNotification,
  type OperationResource,
} from './schemas';

export {
  isSafeId,
  safeDecodeURIComponent,
  truncate,
  SAFE_ID_RULE,
  MAX_ID_LENGTH,
  MAX_RESOURCE_URL_LENGTH,
  MAX_RESULT_MESSAGE_LENGTH,
  MAX_COMPLETION_REASON_LENGTH,
  MAX_IDENTITY_ID_LENGTH,
  MAX_IDENTITY_LENGTH,
  MAX_RECORDING_LOCATION_LENGTH,
  MAX_RECORDING_TOKEN_LENGTH,
} from './limits';

/** A notification, validated and sorted by what it is about. */
export type ParsedNotification =
  | { kind: 'call'; callId: string; changeType: CommsNotification['changeType']; call: CallResource }
  | {
      kind: 'operation';
      callId: string;
      operationId: string;
      changeType: CommsNotification['changeType'];
      operation: OperationResource;
    }
  | { kind: 'other'; resourceUrl: string; changeType: CommsNotification['changeType'] };

/** The problems of one item of `value`, each "<path>: <rule>". */
export interface NotificationItemProblem {
  index: number;
  problems: string[];
}

export interface NotificationBatch {
  /** Every usable notification, in the order of `value` (an array resourceData gives one per element). */
  notifications: ParsedNotification[];
  /** Items that could not be used, by their index in `value`. */
  problems: NotificationItemProblem[];
}

/** The body as a whole is unusable (not an object, no `value` array, empty `value`): answer 400. */
export class NotificationFormatError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('; '));
    this.name = 'NotificationFormatError';
  }
}

const CALL_URL = /^\/(?:communications|app)\/calls\/([^/?#]+)(?:\/operations\/([^/?#]+))?(\/.*)?$/i;

function issuesOf(prefix: string, error: z.ZodError): string[] {
  return error.issues.map(
    (i) => `${[prefix, ...i.path.map(String)].filter(Boolean).join('.')}: ${i.message}`,
  );
}

/** A percent-encoded id segment of a resourceUrl, decoded; or the problem with it. */
function decodeId(raw: string, what: string, where: string): { id: string } | { problem: string } {
  const id = safeDecodeURIComponent(raw);
  if (id === null) return { problem: `${where}: the ${what} is not valid percent-encoding` };
  if (!isSafeId(id, MAX_ID_LENGTH)) return { problem: `${where}: the ${what} ${SAFE_ID_RULE}` };
  return { id };
}

/** Validates one item of `value`; pushes what it yields and returns its problems. */
function parseItem(item: unknown, index: number, out: ParsedNotification[]): string[] {
  const at = `value.${index}`;
  const envelope = commsNotificationSchema.safeParse(item);
  if (!envelope.success) return issuesOf(at, envelope.error);
  const { changeType, resourceUrl, resourceData } = envelope.data;
  const other = (): string[] => (out.push({ kind: 'other', resourceUrl, changeType }), []);

  const m = CALL_URL.exec(resourceUrl);
  if (!m || m[3]) return other(); // participants, content sharing…: not the IVR's business
  const call = decodeId(m[1]!, 'call id', `${at}.resourceUrl`);
  if ('problem' in call) return [call.problem];
  const callId = call.id;
  const where = `${at}.resourceData`;
  const problems: string[] = [];

  if (m[2] !== undefined) {
    const op = decodeId(m[2], 'operation id', `${at}.resourceUrl`);
    if ('problem' in op) return [op.problem];
    // An operation notification without its operation cannot be acted on.
    const elements = Array.isArray(resourceData) ? resourceData : [resourceData];
    if (elements.length === 0) return [`${where}: an operation notification needs the operation`];
    elements.forEach((data, i) => {
      const parsed = operationResourceSchema.safeParse(data);
      if (!parsed.success) {
        problems.push(...issuesOf(Array.isArray(resourceData) ? `${where}.${i}` : where, parsed.error));
        return;
      }
      out.push({ kind: 'operation', callId, operationId: op.id, changeType, operation: parsed.data });
    });
    return problems;
  }

  // No data (null, absent, []) is still news: a `deleted` call without a state ends the call.
  const elements = !Array.isArray(resourceData)
    ? [resourceData]
    : resourceData.length > 0
      ? resourceData
      : [null];
  elements.forEach((data, i) => {
    const parsed = callResourceSchema.safeParse(data ?? {});
    if (!parsed.success) {
      problems.push(...issuesOf(Array.isArray(resourceData) ? `${where}.${i}` : where, parsed.error));
      return;
    }
    out.push({ kind: 'call', callId, changeType, call: parsed.data });
  });
  return problems;
}

/**
 * Validates a commsNotifications payload item by item. Throws NotificationFormatError only
 * when the envelope is unusable; a bad item is reported in `problems` and the others are
 * still returned, so one odd item does not make the platform redeliver the whole batch.
 */
export function parseNotificationBatch(body: unknown): NotificationBatch {
  const top = commsNotificationsSchema.safeParse(body);
  if (!top.success) throw new NotificationFormatError(issuesOf('', top.error));
  const notifications: ParsedNotification[] = [];
  const problems: NotificationItemProblem[] = [];
  top.data.value.forEach((item, index) => {
    const found = parseItem(item, index, notifications);
    if (found.length > 0) problems.push({ index, problems: found });
  });
  return { notifications, problems };
}

/** All or nothing: throws NotificationFormatError naming every bad field when any item is bad. */
export function parseNotifications(body: unknown): ParsedNotification[] {
  const { notifications, problems } = parseNotificationBatch(body);
  if (problems.length > 0) throw new NotificationFormatError(problems.flatMap((p) => p.problems));
  return notifications;
}

/** A user or application id the bot can keep: bounded and printable, else unknown. */
function usableId(id: string | null | undefined): string | null {
  return id && isSafeId(id, MAX_IDENTITY_ID_LENGTH) ? id : null;
}

/** The caller of an incoming call: an E.164 number, `user:<id>` for a Teams user, or null when withheld. */
export function callerOf(call: CallResource): string | null {
  const id = call.source?.identity;
  const phone = normalizePhone(id?.phone?.id);
  if (phone) return phone;
  const user = usableId(id?.user?.id);
  if (user) return `user:${user}`;
  const app = usableId(id?.applicationInstance?.id);
  if (app) return `app:${app}`;
  return null;
}

export function normalizePhone(value: string | null | undefined): string | null {
  if (!value) return null;
  const v = value.replace(/^tel:/i, '').replace(/[\s().-]/g, '');
  if (/^\+[1-9]\d{1,14}$/.test(v)) return v;
  if (/^[1-9]\d{6,14}$/.test(v)) return `+${v}`;
  return null;
}

/** Identities the call was placed to, most specific first: dialed numbers, then application instances. */
export function calledIdentities(call: CallResource): string[] {
  const phones: Array<string | null> = [];
  const apps: Array<string | null> = [];
  for (const route of call.callRoutes ?? []) {
    phones.push(normalizePhone(route.original?.phone?.id), normalizePhone(route.final?.phone?.id));
    apps.push(
      usableId(route.original?.applicationInstance?.id),
      usableId(route.final?.applicationInstance?.id),
    );
  }
  for (const t of call.targets ?? []) {
    phones.push(normalizePhone(t.identity?.phone?.id));
    apps.push(usableId(t.identity?.applicationInstance?.id));
  }
  return [...new Set([...phones, ...apps].filter((x): x is string => Boolean(x)))];
}

/**
 * Parses one incoming-call notification of the platform's shape, so zod compiles its parsers
 * during the warm-up rather than on a cold instance's first call.
 */
export function warmNotificationParser(): NotificationBatch {
  const phone = (id: string) => ({ phone: { id } });
  return parseNotificationBatch({
    value: [
      {
        changeType: 'created',
        resourceUrl: '/communications/calls/00000000-0000-0000-0000-000000000000',
        resourceData: {
          '@odata.type': '#microsoft.graph.call',
          state: 'incoming',
          direction: 'incoming',
          callRoutes: [{ original: phone('+10000000000'), final: phone('+10000000000') }],
          source: { identity: phone('+10000000001') },
          targets: [{ identity: { applicationInstance: { id: '00000000-0000-0000-0000-000000000000' } } }],
          tenantId: '00000000-0000-0000-0000-000000000000',
        },
      },
    ],
  });
}
