import { z } from 'zod';

/**
 * Zod schemas for the parts of the Graph v1.0 calls API the bot reads and writes.
 * Notification schemas are lenient (Graph adds properties over time); request-body
 * schemas are strict, so a body the bot builds can only carry parameters Graph knows.
 * Names and enums follow ../shared/graph/v1.0-calls.csdl.xml.
 */

// ---- shared complex types ----------------------------------------------------------

export const identitySchema = z.looseObject({
  id: z.string().nullish(),
  displayName: z.string().nullish(),
  tenantId: z.string().nullish(),
});

export const identitySetSchema = z.looseObject({
  application: identitySchema.nullish(),
  applicationInstance: identitySchema.nullish(),
  device: identitySchema.nullish(),
  phone: identitySchema.nullish(),
  user: identitySchema.nullish(),
  guest: identitySchema.nullish(),
});
export type IdentitySet = z.infer<typeof identitySetSchema>;

export const participantInfoSchema = z.looseObject({
  identity: identitySetSchema.nullish(),
  endpointType: z.string().nullish(),
  languageId: z.string().nullish(),
  region: z.string().nullish(),
  participantId: z.string().nullish(),
});

export const invitationParticipantInfoSchema = z.looseObject({
  identity: identitySetSchema.nullish(),
});

export const callRouteSchema = z.looseObject({
  routingType: z.string().nullish(),
  original: identitySetSchema.nullish(),
  final: identitySetSchema.nullish(),
});

export const resultInfoSchema = z.looseObject({
  code: z.number().int(),
  subcode: z.number().int().nullish(),
  message: z.string().nullish(),
});
export type ResultInfo = z.infer<typeof resultInfoSchema>;

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

export const toneInfoSchema = z.looseObject({
  sequenceId: z.number().int(),
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
export const callResourceSchema = z.looseObject({
  '@odata.type': z.literal('#microsoft.graph.call').optional(),
  id: z.string().nullish(),
  state: callStateSchema.nullish(),
  direction: z.enum(['incoming', 'outgoing']).nullish(),
  callRoutes: z.array(callRouteSchema).nullish(),
  source: participantInfoSchema.nullish(),
  targets: z.array(invitationParticipantInfoSchema).nullish(),
  requestedModalities: z.array(z.string()).nullish(),
  resultInfo: resultInfoSchema.nullish(),
  toneInfo: toneInfoSchema.nullish(),
  tenantId: z.string().nullish(),
  myParticipantId: z.string().nullish(),
});
export type CallResource = z.infer<typeof callResourceSchema>;

export const OPERATION_STATUSES = [
  'notStarted',
  'running',
  'completed',
  'failed',
  'unknownFutureValue',
] as const;

/** resourceData of an operation notification (and the body of a media-action response). */
export const operationResourceSchema = z.looseObject({
  '@odata.type': z.string().optional(),
  id: z.string().nullish(),
  clientContext: z.string().nullish(),
  status: z.enum(OPERATION_STATUSES),
  resultInfo: resultInfoSchema.nullish(),
  recordingLocation: z.string().nullish(),
  recordingAccessToken: z.string().nullish(),
  completionReason: z.string().nullish(),
});
export type OperationResource = z.infer<typeof operationResourceSchema>;

export const commsNotificationSchema = z.looseObject({
  changeType: z.enum(['created', 'updated', 'deleted']),
  resourceUrl: z.string().min(1),
  resourceData: z.unknown().optional(),
});
export type CommsNotification = z.infer<typeof commsNotificationSchema>;

export const commsNotificationsSchema = z.looseObject({
  value: z.array(commsNotificationSchema).min(1),
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

export const createCallBodySchema = z.strictObject({
  '@odata.type': z.literal('#microsoft.graph.call'),
  callbackUri: z.string().regex(HTTPS_OR_LOCAL),
  source: z.strictObject({
    '@odata.type': z.literal('#microsoft.graph.participantInfo'),
    identity: targetIdentitySetSchema,
  }),
  targets: z.array(invitationTargetSchema).min(1).max(25),
  requestedModalities: z.array(z.literal('audio')).length(1),
  mediaConfig: answerBodySchema.shape.mediaConfig,
  tenantId: z.string().min(1),
});
export type CreateCallBody = z.infer<typeof createCallBodySchema>;

/** Graph's error body. */
export const graphErrorSchema = z.looseObject({
  error: z.looseObject({ code: z.string().optional(), message: z.string().optional() }),
});
