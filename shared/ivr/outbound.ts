import type { ChatInfo, InvitationTarget, MeetingInfo, ResultInfo } from '../graph/schemas';

/**
 * Outbound calls as a service, the pure part: whom a call goes to, how that becomes a
 * create-call body, and what the end of an attempt means for whoever asked for the call.
 */

/** Whom an outbound call reaches: a PSTN number, a Teams user, or a scheduled Teams meeting. */
export type OutboundTarget =
  | { kind: 'phone'; phone: string }
  | { kind: 'user'; user: string; tenantId?: string }
  | { kind: 'meeting'; chatInfo?: ChatInfo; meetingInfo: MeetingInfo };

export type OutboundOutcome = 'answered' | 'notAnswered' | 'busy' | 'declined' | 'failed';

export interface OutboundAttempt {
  n: number;
  callId: string | null;
  startedAt: string;
  answeredAt: string | null;
  endedAt: string | null;
  outcome: OutboundOutcome | null;
  /** Graph's result (or the create call's error) when the attempt ended. */
  code?: number;
  subcode?: number;
  message?: string;
}

/** What an outbound call keeps beyond a call's context: its target, variables and attempts. */
export interface OutboundState {
  target: OutboundTarget;
  applicationInstanceId: string;
  variables?: Record<string, string>;
  callbackUrl?: string;
  attempts: OutboundAttempt[];
  /** Set once no attempt follows: the call's final outcome. */
  outcome: OutboundOutcome | null;
  /** A redial waiting on its timer. */
  redialTimerId?: string | null;
  /** When that redial is due (the sweep re-fires a timer whose message was lost). */
  redialAt?: string | null;
  /** The outcome webhook, once queued: where its delivery stands. */
  webhook?: OutboundWebhookStatus | null;
}

/** The outcome webhook of an outbound call, as GET /api/outbound-calls/{id} shows it. */
export interface OutboundWebhookStatus {
  deliveryId: string;
  event: string;
  /** pending until the webhooks queue reports the delivery's end. */
  status: 'pending' | 'delivered' | 'failed';
  /** Set once the delivery is on the webhooks queue (not shown by GET). */
  queued?: boolean;
  /** The timer that queues it if its writer could not (not shown by GET). */
  checkTimerId?: string;
  /** HTTP attempts made (0 while pending). */
  attempts: number;
  at?: string;
  httpStatus?: number;
  reason?: string;
}

/** The one webhook event of an outbound call: its final outcome, after the last attempt. */
export const OUTBOUND_COMPLETED_EVENT = 'outboundCall.completed';
/** The kind of webhook subject whose outcomes land in an outbound call's context. */
export const OUTBOUND_WEBHOOK_SUBJECT = 'outboundCall';

/** When the ending's writer has not queued the webhook by then, its check timer does. */
export const WEBHOOK_CHECK_SECONDS = 60;

/** Stable for one outbound call: every re-run of its ending queues the same delivery id. */
export function outboundDeliveryId(clientContext: string): string {
  return `outbound.${clientContext}.completed`;
}

/** The redial policy of a flow's outbound entry. */
export interface RedialPolicy {
  on: ReadonlyArray<'notAnswered' | 'busy'>;
  maxAttempts: number;
  delaySeconds: number;
}

/** Whether an attempt that ended so is followed by another one. */
export function redialsAfter(
  policy: RedialPolicy | undefined,
  attemptsMade: number,
  outcome: OutboundOutcome,
): boolean {
  if (!policy || attemptsMade >= policy.maxAttempts) return false;
  return (outcome === 'notAnswered' || outcome === 'busy') && policy.on.includes(outcome);
}

/** Whether a PSTN destination is inside a flow's allowed prefixes (absent: any number). */
export function destinationAllowed(
  target: OutboundTarget,
  allowedPrefixes: readonly string[] | undefined,
): boolean {
  if (!allowedPrefixes || target.kind !== 'phone') return true;
  return allowedPrefixes.some((prefix) => target.phone.startsWith(prefix));
}

/** How a target is shown in records: a number, `user:<id>`, `meeting:<thread or id>`. */
export function describeOutboundTarget(t: OutboundTarget): string {
  switch (t.kind) {
    case 'phone':
      return t.phone;
    case 'user':
      return `user:${t.user}`;
    case 'meeting': {
      const m = t.meetingInfo;
      return `meeting:${
        m['@odata.type'] === '#microsoft.graph.joinMeetingIdMeetingInfo'
          ? m.joinMeetingId
          : (t.chatInfo?.threadId ?? '')
      }`;
    }
  }
}

/** The invitation target of a peer-to-peer call; null for a meeting (which is joined, not invited). */
export function invitationOf(t: OutboundTarget): InvitationTarget | null {
  switch (t.kind) {
    case 'phone':
      return {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: t.phone } },
      };
    case 'user':
      return {
        '@odata.type': '#microsoft.graph.invitationParticipantInfo',
        identity: {
          user: {
            '@odata.type': '#microsoft.graph.identity',
            id: t.user,
            ...(t.tenantId ? { tenantId: t.tenantId } : {}),
          },
        },
      };
    case 'meeting':
      return null;
  }
}

/**
 * What the end of an unanswered attempt means, from Graph's result: SIP-style codes as the
 * platform reports them (486 busy, 603 declined, 480/408/487 no answer); anything else failed.
 */
export function outcomeOf(answered: boolean, result: ResultInfo | null): OutboundOutcome {
  if (answered) return 'answered';
  switch (result?.code) {
    case 486:
      return 'busy';
    case 603:
      return 'declined';
    case 408:
    case 480:
    case 487:
      return 'notAnswered';
    default:
      return 'failed';
  }
}
