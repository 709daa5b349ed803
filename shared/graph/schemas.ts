import { z } from 'zod';
import {
  isSafeId,
  MAX_COMPLETION_REASON_LENGTH,
  MAX_ID_LENGTH,
  MAX_RECORDING_LOCATION_LENGTH,
  MAX_RECORDING_TOKEN_LENGTH,
  MAX_RESOURCE_URL_LENGTH,
  MAX_RESULT_MESSAGE_LENGTH,
  SAFE_ID_RULE,
  truncate,
} from './limits';

/**
 * Zod schemas for the parts of the Graph v1.0 calls API the bot reads and writes.
 * Notification schemas are lenient (Graph adds properties over time, and its own examples
 * carry numbers as strings): unknown fields are accepted and dropped, so a parsed
 * notification holds only what the bot reads, each string bounded. Request-body schemas are
 * strict, so a body the bot builds can only carry parameters Graph knows.
 * Names and enums follow ../shared/graph/v1.0-calls.csdl.xml.
 */

// ---- shared complex types ----------------------------------------------------------

/** An integer, or the same as a string ("8515"): Graph's documented examples send both. */
export const integerLikeSchema = z.union(
  [
    z.number().int(),
    z
      .string()
      .regex(/^\s*-?\d{1,15}\s*$/)
      .transform(Number),
  ],
  { error: 'expected an integer or a numeric string' },
);

const truncated = (max: number) =>
  z
    .string()
    .transform((v) => truncate(v, max))
    .nullish();

const TENANT_ID = /^[0-9a-fA-F-]{1,64}$/;
/** A tenant id that is not GUID-like is dropped rather than refused: it is informative only. */
const tenantIdSchema = z
  .unknown()
  .transform((v): string | null => (typeof v === 'string' && TENANT_ID.test(v) ? v : null));

// Display names are not kept: free text nobody reads, of any length.
export const identitySchema = z.object({
  id: z.string().nullish(),
  tenantId: tenantIdSchema.optional(),
});

export const identitySetSchema = z.object({
  application: identitySchema.nullish(),
  applicationInstance: identitySchema.nullish(),
  device: identitySchema.nullish(),
  phone: identitySchema.nullish(),
  user: identitySchema.nullish(),
  guest: identitySchema.nullish(),
});
export type IdentitySet = z.infer<typeof identitySetSchema>;

export const participantInfoSchema = z.object({
  identity: identitySetSchema.nullish(),
});

export const invitationParticipantInfoSchema = z.object({
  identity: identitySetSchema.nullish(),
});

export const callRouteSchema = z.object({
  original: identitySetSchema.nullish(),
  final: identitySetSchema.nullish(),
});

export const resultInfoSchema = z.object({
  code: integerLikeSchema,
  subcode: integerLikeSchema.nullish(),
  message: truncated(MAX_RESULT_MESSAGE_LENGTH),
});
export type ResultInfo = z.output<typeof resultInfoSchema>;

export const TONES = [
  'tone0',
  'tone1',
  'tone2',
  'tone3',
  'tone4',
  'tone5',
  'tone6',
  'tone7',
  'tone8',
  'tone9',
  'star',
  'pound',
  'a',
  'b',
  'c',
  'd',
  'flash',
] as const;
export const toneSchema = z.enum(TONES);
export type Tone = z.infer<typeof toneSchema>;

export const toneInfoSchema = z.object({
  sequenceId: integerLikeSchema,
  tone: toneSchema,
});

export const CALL_STATES = [
  'incoming',
  'establishing',
  'ringing',
  'established',
  'hold',
  'transferring',
  'transferAccepted',
  'redirecting',
  'terminating',
  'terminated',
  'unknownFutureValue',
] as const;
export const callStateSchema = z.enum(CALL_STATES);
export type CallState = z.infer<typeof callStateSchema>;

// ---- notifications --------------------------------------------------------------------

/** resourceData of a call notification. */
export const callResourceSchema = z.object({
  '@odata.type': z.literal('#microsoft.graph.call').optional(),
  state: callStateSchema.nullish(),
  direction: z.enum(['incoming', 'outgoing']).nullish(),
  callRoutes: z.array(callRouteSchema).nullish(),
  source: participantInfoSchema.nullish(),
  targets: z.array(invitationParticipantInfoSchema).nullish(),
  resultInfo: resultInfoSchema.nullish(),
  toneInfo: toneInfoSchema.nullish(),
  tenantId: tenantIdSchema.optional(),
});
export type CallResource = z.output<typeof callResourceSchema>;

export const OPERATION_STATUSES = [
  'notStarted',
  'running',
  'completed',
  'failed',
  'unknownFutureValue',
] as const;

/** The clientContext Graph echoes back: it leads to a Table key, so it must be a safe id. */
export const echoedClientContextSchema = z
  .string()
  .refine((v) => isSafeId(v, MAX_ID_LENGTH), { error: SAFE_ID_RULE })
  .nullish();

/** resourceData of an operation notification (and the body of a media-action response). */
export const operationResourceSchema = z.object({
  clientContext: echoedClientContextSchema,
  status: z.enum(OPERATION_STATUSES),
  resultInfo: resultInfoSchema.nullish(),
  recordingLocation: z.string().max(MAX_RECORDING_LOCATION_LENGTH).nullish(),
  recordingAccessToken: z.string().max(MAX_RECORDING_TOKEN_LENGTH).nullish(),
  completionReason: truncated(MAX_COMPLETION_REASON_LENGTH),
});
export type OperationResource = z.output<typeof operationResourceSchema>;

/** One item of `value`; resourceData is validated once the resourceUrl says what it is about. */
export const commsNotificationSchema = z.object({
  changeType: z.enum(['created', 'updated', 'deleted']),
  resourceUrl: z.string().min(1).max(MAX_RESOURCE_URL_LENGTH),
  resourceData: z.unknown().optional(),
});
export type CommsNotification = z.output<typeof commsNotificationSchema>;

/** The envelope: items are validated one by one, so one bad item does not hide the others. */
export const commsNotificationsSchema = z.looseObject({
  value: z.array(z.unknown()).min(1),
});

// ---- request bodies the bot sends (strict: only parameters Graph defines) -----------------

const HTTPS_OR_LOCAL = /^https?:\/\//;

export const mediaInfoSchema = z.strictObject({
  uri: z.string().regex(HTTPS_OR_LOCAL),
  resourceId: z.string().min(1).max(256).optional(),
});
export type MediaInfo = z.infer<typeof mediaInfoSchema>;

export const mediaPromptSchema = z.strictObject({
  '@odata.type': z.literal('#microsoft.graph.mediaPrompt'),
  mediaInfo: mediaInfoSchema,
});
export type MediaPrompt = z.infer<typeof mediaPromptSchema>;

const outgoingIdentity = z.strictObject({
  '@odata.type': z.string().optional(),
  id: z.string().min(1),
  displayName: z.string().optional(),
  tenantId: z.string().optional(),
});

/** An identity set carrying exactly one party: a PSTN number, a Teams user or an application (instance). */
export const targetIdentitySetSchema = z
  .strictObject({
    '@odata.type': z.literal('#microsoft.graph.identitySet').optional(),
    phone: outgoingIdentity.optional(),
    user: outgoingIdentity.optional(),
    application: outgoingIdentity.optional(),
    applicationInstance: outgoingIdentity.optional(),
  })
  .refine((s) => [s.phone, s.user, s.application, s.applicationInstance].filter(Boolean).length === 1, {
    message: 'an identity set names exactly one of phone, user, application, applicationInstance',
  });

export const invitationTargetSchema = z.strictObject({
  '@odata.type': z.literal('#microsoft.graph.invitationParticipantInfo'),
  identity: targetIdentitySetSchema,
});
export type InvitationTarget = z.infer<typeof invitationTargetSchema>;

export const clientContextSchema = z.string().min(1).max(256);

export const answerBodySchema = z.strictObject({
  callbackUri: z.string().regex(HTTPS_OR_LOCAL),
  acceptedModalities: z.array(z.literal('audio')).length(1),
  mediaConfig: z.strictObject({
    '@odata.type': z.literal('#microsoft.graph.serviceHostedMediaConfig'),
    preFetchMedia: z.array(mediaInfoSchema).optional(),
  }),
});
export type AnswerBody = z.infer<typeof answerBodySchema>;

export const REJECT_REASONS = ['none', 'busy', 'forbidden'] as const;
export const rejectBodySchema = z.strictObject({
  reason: z.enum(REJECT_REASONS),
  callbackUri: z.string().regex(HTTPS_OR_LOCAL),
});
export type RejectBody = z.infer<typeof rejectBodySchema>;

export const redirectBodySchema = z.strictObject({
  targets: z.array(invitationTargetSchema).min(1).max(25),
  timeout: z.number().int().min(15).max(90),
  callbackUri: z.string().regex(HTTPS_OR_LOCAL),
});
export type RedirectBody = z.infer<typeof redirectBodySchema>;

export const playPromptBodySchema = z.strictObject({
  prompts: z.array(mediaPromptSchema).min(1).max(20),
  clientContext: clientContextSchema,
});
export type PlayPromptBody = z.infer<typeof playPromptBodySchema>;

export const STOP_TONES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'] as const;
const seconds1to120 = z.number().int().min(1).max(120);
export const recordResponseBodySchema = z.strictObject({
  prompts: z.array(mediaPromptSchema).max(1).optional(),
  bargeInAllowed: z.boolean(),
  initialSilenceTimeoutInSeconds: seconds1to120,
  maxSilenceTimeoutInSeconds: seconds1to120,
  maxRecordDurationInSeconds: seconds1to120,
  playBeep: z.boolean(),
  stopTones: z.array(z.enum(STOP_TONES)),
  clientContext: clientContextSchema,
});
export type RecordResponseBody = z.infer<typeof recordResponseBodySchema>;

export const subscribeToToneBodySchema = z.strictObject({ clientContext: clientContextSchema });
export const cancelMediaProcessingBodySchema = z.strictObject({ clientContext: clientContextSchema });

export const transferBodySchema = z.strictObject({ transferTarget: invitationTargetSchema });
export type TransferBody = z.infer<typeof transferBodySchema>;

/** A Teams meeting's chat thread (chatInfo), as create call takes it to join the meeting. */
export const chatInfoSchema = z.strictObject({
  '@odata.type': z.literal('#microsoft.graph.chatInfo'),
  threadId: z.string().min(1).max(512),
  messageId: z.string().min(1).max(64),
  replyChainMessageId: z.string().min(1).max(64).optional(),
});
export type ChatInfo = z.infer<typeof chatInfoSchema>;

/** meetingInfo is abstract in the CSDL: the organizer's, or a join meeting id and its passcode. */
export const meetingInfoSchema = z.discriminatedUnion('@odata.type', [
  z.strictObject({
    '@odata.type': z.literal('#microsoft.graph.organizerMeetingInfo'),
    organizer: targetIdentitySetSchema,
  }),
  z.strictObject({
    '@odata.type': z.literal('#microsoft.graph.joinMeetingIdMeetingInfo'),
    joinMeetingId: z.string().min(1).max(64),
    passcode: z.string().min(1).max(64).optional(),
  }),
]);
export type MeetingInfo = z.infer<typeof meetingInfoSchema>;

export const createCallBodySchema = z
  .strictObject({
    '@odata.type': z.literal('#microsoft.graph.call'),
    callbackUri: z.string().regex(HTTPS_OR_LOCAL),
    source: z
      .strictObject({
        '@odata.type': z.literal('#microsoft.graph.participantInfo'),
        identity: targetIdentitySetSchema,
      })
      .optional(),
    targets: z.array(invitationTargetSchema).min(1).max(25).optional(),
    requestedModalities: z.array(z.literal('audio')).length(1),
    mediaConfig: answerBodySchema.shape.mediaConfig,
    chatInfo: chatInfoSchema.optional(),
    meetingInfo: meetingInfoSchema.optional(),
    tenantId: z.string().min(1),
  })
  // A peer-to-peer call names its targets; a meeting join names the meeting instead.
  .refine((b) => (b.targets === undefined) !== (b.meetingInfo === undefined), {
    message: 'a create call names either targets or a meetingInfo',
  })
  .refine((b) => b.meetingInfo?.['@odata.type'] !== '#microsoft.graph.organizerMeetingInfo' || b.chatInfo, {
    message: 'joining by organizer needs the meeting chatInfo',
  });
export type CreateCallBody = z.infer<typeof createCallBodySchema>;

/** Graph's error body. */
export const graphErrorSchema = z.looseObject({
  error: z.looseObject({ code: z.string().optional(), message: z.string().optional() }),
});
