import type { z } from 'zod';
import {
  callResourceSchema,
  commsNotificationsSchema,
  operationResourceSchema,
  type CallResource,
  type CommsNotification,
  type OperationResource,
} from './schemas';

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

/** Validates a whole commsNotifications payload; throws NotificationFormatError naming every bad field. */
export function parseNotifications(body: unknown): ParsedNotification[] {
  const top = commsNotificationsSchema.safeParse(body);
  if (!top.success) throw new NotificationFormatError(issuesOf('', top.error));
  const problems: string[] = [];
  const parsed: ParsedNotification[] = [];
  top.data.value.forEach((n, i) => {
    const where = `value[${i}].resourceData`;
    const m = CALL_URL.exec(n.resourceUrl);
    if (!m || (m[3] && !m[2])) {
      parsed.push({ kind: 'other', resourceUrl: n.resourceUrl, changeType: n.changeType });
      return;
    }
    const callId = decodeURIComponent(m[1]!);
    if (m[2]) {
      if (m[3]) {
        parsed.push({ kind: 'other', resourceUrl: n.resourceUrl, changeType: n.changeType });
        return;
      }
      const op = operationResourceSchema.safeParse(n.resourceData);
      if (!op.success) return void problems.push(...issuesOf(where, op.error));
      parsed.push({
        kind: 'operation',
        callId,
        operationId: decodeURIComponent(m[2]),
        changeType: n.changeType,
        operation: op.data,
      });
      return;
    }
    const call = callResourceSchema.safeParse(n.resourceData ?? {});
    if (!call.success) return void problems.push(...issuesOf(where, call.error));
    parsed.push({ kind: 'call', callId, changeType: n.changeType, call: call.data });
  });
  if (problems.length > 0) throw new NotificationFormatError(problems);
  return parsed;
}

/** The caller of an incoming call: an E.164 number, `user:<id>` for a Teams user, or null when withheld. */
export function callerOf(call: CallResource): string | null {
  const id = call.source?.identity;
  const phone = normalizePhone(id?.phone?.id);
  if (phone) return phone;
  if (id?.user?.id) return `user:${id.user.id}`;
  if (id?.applicationInstance?.id) return `app:${id.applicationInstance.id}`;
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
  const apps: Array<string | null | undefined> = [];
  for (const route of call.callRoutes ?? []) {
    phones.push(normalizePhone(route.original?.phone?.id), normalizePhone(route.final?.phone?.id));
    apps.push(route.original?.applicationInstance?.id, route.final?.applicationInstance?.id);
  }
  for (const t of call.targets ?? []) {
    phones.push(normalizePhone(t.identity?.phone?.id));
    apps.push(t.identity?.applicationInstance?.id);
  }
  return [...new Set([...phones, ...apps].filter((x): x is string => Boolean(x)))];
}
