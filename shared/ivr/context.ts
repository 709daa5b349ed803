import type { ResultInfo, Tone } from '../graph/schemas';
import type { OutboundState } from './outbound';

/**
 * The per-call state kept in Table storage under the call's clientContext.
 * It is plain JSON: the engine reads it and returns a new one, the shell stores it.
 */

export type CallPhase =
  | 'incoming' // decision made, Graph request (answer/reject/redirect) in flight or sent
  | 'dialing' // outbound call created, not yet established
  | 'redialWait' // an outbound attempt went unanswered (or busy): the next waits on its timer
  | 'established' // running the flow
  | 'transferring'
  | 'hangingUp' // DELETE sent (or goodbye playing)
  | 'ended';

export type Decision =
  | { type: 'answer'; start: string; rule: string }
  | { type: 'reject'; reason: 'none' | 'busy' | 'forbidden'; rule: string }
  | { type: 'redirect'; targets: string[]; rule: string }
  | { type: 'outbound'; start: string };

export interface PendingMedia {
  /** Sequence number; the operation's clientContext is `${clientContext}.${seq}`. */
  seq: number;
  /** menuPrompt: a menu's or a collect's prompt; hold: an http node's prompt while its request runs. */
  kind: 'play' | 'menuPrompt' | 'record' | 'goodbye' | 'hold';
  node: string;
}

export interface MenuState {
  attempt: number;
  digits: string;
  /** 'prompt' while the menu prompt plays, 'input' while waiting for keys. */
  stage: 'prompt' | 'input';
}

export interface PendingTimer {
  id: string;
  /** lookup: the watchdog of an http node's request, should its result never come. */
  purpose: 'noInput' | 'interDigit' | 'lookup';
}

/** An http node's request as the call's history keeps it (never its headers). */
export interface LookupRef {
  seq: number;
  node: string;
  outcome: 'success' | 'clientError' | 'serverError' | 'timeout' | 'invalidAnswer' | 'failure';
  status?: number;
  at: string;
}

export interface RecordingRef {
  /** Operation sequence number, unique within the call. */
  seq: number;
  node: string;
  /** noInput: the caller said nothing at all (initial silence): not a message. */
  outcome: 'stopTone' | 'maxDuration' | 'silence' | 'noInput' | 'failure';
  completionReason: string | null;
  /** Set when the platform handed over a recording to download. */
  hasAudio: boolean;
}

export interface CallFailure {
  at: string;
  what: string;
  status?: number;
  code?: string;
  message?: string;
}

export interface CallContext {
  v: 1;
  clientContext: string;
  callId: string | null;
  direction: 'incoming' | 'outgoing';
  tenantId: string | null;
  /** Our number (or identity) whose flow runs the call. */
  number: string | null;
  /** Flow file id (file name without .json), or the number of a stored flow; null for an unconfigured number. */
  flowId: string | null;
  /** The stored flow's version the call started with (absent for a flow file): kept until the call ends. */
  flowVersion?: number;
  /** The other party: the caller of an incoming call, the callee of an outbound one. */
  party: string | null;
  /** An outbound call placed through the API: its target, variables and attempts. */
  outbound?: OutboundState | null;
  decision: Decision;
  phase: CallPhase;
  node: string | null;
  /** A menu's or a collect node's entry so far. */
  menu: MenuState | null;
  /**
   * Values set by the call's steps (collect entries, fields of http answers). The built-ins
   * (caller, called, number) and an outbound call's request variables are not copied here.
   */
  vars?: Record<string, string>;
  /** The http node request in flight: its result must carry this seq. */
  lookup?: { seq: number; node: string } | null;
  /** The http node requests of the call, in order (capped). */
  lookups?: LookupRef[];
  /** The current record node's attempt (1-based), for re-asking after silence. */
  record?: { attempt: number } | null;
  media: PendingMedia | null;
  /**
   * A recording still running when the call ended: its completion may come after
   * `terminated`, or never. The timer closes it as lost if nothing comes.
   */
  pendingRecording?: { seq: number; node: string; timerId: string } | null;
  timer: PendingTimer | null;
  /** Counter for operation clientContexts and timer ids. */
  seq: number;
  tonesSubscribed: boolean;
  /** Highest tone sequenceId handled; tones at or below it are repeats. */
  lastToneSeq: number;
  /** Sequence ids of the tones taken or held lately, to spot repeats (capped). */
  recentToneSeqs?: number[];
  /** Tones that arrived ahead of a missing sequenceId. */
  heldTones: Array<{ sequenceId: number; tone: Tone }>;
  visited: string[];
  digits: string[];
  recordings: RecordingRef[];
  failures: CallFailure[];
  result: ResultInfo | null;
  createdAt: string;
  establishedAt: string | null;
  endedAt: string | null;
  /**
   * Set by the shell on every write: when storage fails to say whether a write landed, the
   * writer can later tell its own write from another's.
   */
  writeId?: string;
}

/** Lists kept in the context are capped so a pathological call cannot outgrow a table row. */
export const HISTORY_LIMIT = 200;
/** Failures kept per call: each holds a platform message, the largest item of a context. */
export const FAILURE_LIMIT = 50;
/** Longest failure message and code kept: platform strings are unbounded. */
export const MESSAGE_LIMIT = 512;
export const CODE_LIMIT = 64;
/** Variables a call keeps: each holds up to 256 characters. */
export const VARIABLES_LIMIT = 64;

/** Truncates a platform string before it is stored. */
export function bounded(value: string, limit: number): string {
  return value.length <= limit ? value : `${value.slice(0, limit - 1)}…`;
}

export function operationContext(ctx: Pick<CallContext, 'clientContext'>, seq: number): string {
  return `${ctx.clientContext}.${seq}`;
}

/** Splits an operation clientContext back into the call's key and the operation's sequence number. */
export function parseOperationContext(value: string): { clientContext: string; seq: number } | null {
  const m = /^([A-Za-z0-9_-]{16,200})\.(\d{1,9})$/.exec(value);
  return m ? { clientContext: m[1]!, seq: Number(m[2]) } : null;
}
