import { isPossiblePhoneNumber } from 'libphonenumber-js/min';
import { z } from 'zod';

/**
 * The per-number flow file: the one source of truth for its shape.
 * Types, the JSON Schema editors use (flows/flow.schema.json) and load-time validation
 * are all derived from these definitions.
 */

export const E164 = /^\+[1-9]\d{1,14}$/;
/** Limits of a number's outbound calls when its flow sets none. */
export const OUTBOUND_LIMIT_DEFAULTS = { maxConcurrentCalls: 10, maxCallsPerMinute: 30 } as const;

/** Names of the variables an outbound call carries. */
export const VARIABLE_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;

/**
 * Size limits of one flow file. They bound the work (and the memory) one file can cost at
 * load, so a runaway file is refused with a clear message instead of slowing every number.
 */
export const FLOW_LIMITS = {
  /** Bytes of the file, checked before it is read. */
  fileBytes: 262_144,
  nodes: 500,
  prompts: 500,
  rules: 100,
  aliases: 50,
  /** Open-hour ranges per weekday of one schedule. */
  rangesPerDay: 24,
  /** Holidays of one schedule: a year of them. */
  holidays: 366,
} as const;
export type FlowLimits = { -readonly [K in keyof typeof FLOW_LIMITS]: number };

/** `.max()` of an array with a message that says how many there are and what the limit is. */
const overLimit = (limit: number, what: string, unit: string, suffix = '') => ({
  error: (issue: { input?: unknown }) =>
    `${Array.isArray(issue.input) ? issue.input.length : 'too many'} ${what}, over the ${limit}-${unit} limit${suffix}`,
});
const NAME = /^[A-Za-z][A-Za-z0-9_-]{0,63}$/;

const nodeId = z.string().regex(NAME, 'a node id is a letter then up to 63 letters, digits, _ or -');
const promptName = z.string().regex(NAME, 'a prompt name is a letter then up to 63 letters, digits, _ or -');
// The shape, then the numbering plan of its country code (libphonenumber's lengths): +1312555 is refused.
const e164 = z
  .string()
  .regex(E164, 'an E.164 number such as +14255550100')
  .refine(isPossiblePhoneNumber, {
    message: 'not a possible phone number: too short or too long for its country code',
    when: (payload) => payload.issues.length === 0,
  });

export const callerPatternSchema = z
  .string()
  .regex(
    /^(\+[1-9]\d{0,14}\*?|\+\*|\*|anonymous)$/,
    'a caller pattern is an E.164 number, a prefix ending in * (e.g. +1425*), * for any, or anonymous',
  )
  .describe('E.164 number, prefix ending in * (e.g. "+1425*"), "*" (anyone) or "anonymous" (no caller id)');

// ---- targets -----------------------------------------------------------------------------

const phoneTarget = z.strictObject({ phone: e164 }).describe('A PSTN number in E.164');
const userTarget = z
  .strictObject({
    user: z.string().min(1).describe('Entra ID object id of a Teams user'),
    tenantId: z.string().min(1).optional(),
  })
  .describe('A Teams user');
const appInstanceTarget = z
  .strictObject({
    applicationInstance: z
      .string()
      .min(1)
      .describe('Object id of an application instance (resource account)'),
  })
  .describe('Another bot or auto attendant, by its application instance id');

export const redirectTargetSchema = z.union([phoneTarget, userTarget, appInstanceTarget]);
export type RedirectTarget = z.infer<typeof redirectTargetSchema>;
export const transferTargetSchema = z.union([phoneTarget, userTarget]);
export type TransferTarget = z.infer<typeof transferTargetSchema>;

// ---- incoming-call actions -----------------------------------------------------------------

const answerAction = z
  .strictObject({ type: z.literal('answer'), start: nodeId.describe('The node the call starts at') })
  .describe('Answer and run the flow from a node');
const rejectAction = z
  .strictObject({ type: z.literal('reject'), reason: z.enum(['none', 'busy', 'forbidden']).default('none') })
  .describe('Reject the call');
const redirectAction = z
  .strictObject({
    type: z.literal('redirect'),
    targets: z
      .array(redirectTargetSchema)
      .min(1)
      .max(25)
      .describe('Rung simultaneously; the first to answer wins'),
    timeoutSeconds: z
      .number()
      .int()
      .min(15)
      .max(90)
      .optional()
      .describe('Ring time, 15-90 s (Graph default 55 s, or 60 s for several targets)'),
  })
  .describe('Redirect the unanswered call (simultaneous ring when several targets)');

export const incomingActionSchema = z.discriminatedUnion('type', [
  answerAction,
  rejectAction,
  redirectAction,
]);
export type IncomingAction = z.infer<typeof incomingActionSchema>;

// ---- variables ------------------------------------------------------------------------------

const variableName = z
  .string()
  .regex(VARIABLE_NAME, 'a variable name is a letter then up to 63 letters, digits or _');
const regexSource = z.string().max(200).refine(isRegExp, 'not a valid regular expression');

/** The operators of a test of one variable (a rule condition, a branch case). */
const variableTestShape = {
  variable: variableName.describe('The variable tested'),
  equals: z.string().max(256).optional().describe('The value is exactly this'),
  in: z.array(z.string().max(256)).min(1).max(100).optional().describe('The value is one of these'),
  matches: regexSource.optional().describe('The whole value matches this regular expression'),
  min: z.number().optional().describe('The value is a number at least this'),
  max: z.number().optional().describe('The value is a number at most this'),
};
const hasOperator = (t: {
  equals?: unknown;
  in?: unknown;
  matches?: unknown;
  min?: unknown;
  max?: unknown;
}) => [t.equals, t.in, t.matches, t.min, t.max].some((v) => v !== undefined);
const operatorNeeded = 'a test needs equals, in, matches, min or max';

export const variableTestSchema = z
  .strictObject(variableTestShape)
  .refine(hasOperator, operatorNeeded)
  .describe('Every operator given must hold');

// ---- rules and schedules ------------------------------------------------------------------------

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Day = (typeof DAYS)[number];
const timeRange = z
  .string()
  .regex(
    /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-4]):[0-5]\d$/,
    'a time range is HH:MM-HH:MM (24-hour), e.g. 09:00-17:30',
  )
  .refine((r) => {
    const [a, b] = r.split('-') as [string, string];
    return a < b && b <= '24:00';
  }, 'a time range must end after it starts, at 24:00 at the latest');

export const scheduleSchema = z.strictObject({
  timeZone: z
    .string()
    .refine(isTimeZone, 'an IANA time zone such as Europe/Paris or America/New_York')
    .describe('IANA time zone the hours and holidays are in'),
  weekly: z
    .partialRecord(
      z.enum(DAYS),
      z
        .array(timeRange)
        .max(
          FLOW_LIMITS.rangesPerDay,
          overLimit(FLOW_LIMITS.rangesPerDay, 'time ranges', 'range', ' per day'),
        ),
    )
    .describe('Open hours per weekday; a day left out is closed'),
  holidays: z
    .array(
      z
        .string()
        .regex(/^\d{4}-\d{2}-\d{2}$/, 'a holiday is a date YYYY-MM-DD')
        .refine(isDate, 'not a calendar date'),
    )
    .max(FLOW_LIMITS.holidays, overLimit(FLOW_LIMITS.holidays, 'holidays', 'holiday'))
    .default([])
    .describe('Dates (in the time zone) the line is closed all day'),
});
export type Schedule = z.infer<typeof scheduleSchema>;

const conditionsSchema = z
  .strictObject({
    callerIn: z
      .array(callerPatternSchema)
      .min(1)
      .optional()
      .describe('Matches when the caller matches any pattern'),
    callerNotIn: z
      .array(callerPatternSchema)
      .min(1)
      .optional()
      .describe('Matches when the caller matches none'),
    open: z.string().regex(NAME).optional().describe('Matches while the named schedule is open'),
    closed: z
      .string()
      .regex(NAME)
      .optional()
      .describe('Matches while the named schedule is closed (holidays included)'),
    variables: z
      .array(variableTestSchema)
      .min(1)
      .max(20)
      .optional()
      .describe(
        'Matches when every test holds; a rule knows the built-in variables caller, called and number',
      ),
  })
  .refine((c) => Object.values(c).some((v) => v !== undefined), 'a condition needs at least one test')
  .describe('All tests given must match');

export const ruleSchema = z.strictObject({
  name: z.string().max(100).optional(),
  when: conditionsSchema,
  then: incomingActionSchema,
});
export type Rule = z.infer<typeof ruleSchema>;

// ---- flow nodes -------------------------------------------------------------------------------------

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

const playNode = z
  .strictObject({
    type: z.literal('play'),
    prompts: z.array(promptName).min(1).max(20),
    promptsBy: z
      .strictObject({
        variable: z
          .string()
          .regex(VARIABLE_NAME, 'a variable name is a letter then up to 63 letters, digits or _'),
        cases: z.record(z.string().min(1).max(256), z.array(promptName).min(1).max(20)),
      })
      .optional()
      .describe(
        'A call variable choosing the prompts by its value; `prompts` when it is unset or no case matches',
      ),
    next: nodeId,
  })
  .describe('Play 1-20 prompts, then go on');

const digitKey = z.string().regex(/^[0-9*#]{1,8}$/, 'an option key is 1-8 of 0-9, * and #');
const menuNode = z
  .strictObject({
    type: z.literal('menu'),
    prompt: promptName,
    options: z
      .record(digitKey, nodeId)
      .refine((o) => Object.keys(o).length > 0, 'a menu needs at least one option'),
    terminator: z.enum(['#', '*']).optional().describe('Ends a multi-digit entry early'),
    interDigitTimeoutSeconds: seconds(1, 30)
      .default(3)
      .describe('Wait for the next digit of a longer option'),
    noInputTimeoutSeconds: seconds(1, 60).default(5).describe('Wait after the prompt before re-prompting'),
    noInputPrompt: promptName.optional().describe('Played before the menu prompt after no input'),
    invalidPrompt: promptName.optional().describe('Played before the menu prompt after an invalid key'),
    maxAttempts: seconds(1, 10).default(3).describe('Tries before going to fallback'),
    fallback: nodeId,
  })
  .describe('Play a prompt and route on DTMF keys, re-prompting on no input or an invalid key');

const recordNode = z
  .strictObject({
    type: z.literal('record'),
    prompt: promptName.optional(),
    bargeInAllowed: z.boolean().default(false),
    initialSilenceTimeoutSeconds: seconds(1, 120).default(5),
    maxSilenceTimeoutSeconds: seconds(1, 120).default(5),
    maxRecordDurationSeconds: seconds(1, 120).default(60),
    playBeep: z.boolean().default(true),
    stopTones: z
      .array(z.enum(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#']))
      .max(12)
      .default(['#']),
    maxAttempts: seconds(1, 5)
      .default(1)
      .describe(
        'How many times the caller is asked to record when they say nothing (initial silence) before next.noInput; 1 asks once',
      ),
    noInputPrompt: promptName
      .optional()
      .describe('Played before asking again after an attempt where the caller said nothing'),
    next: z
      .strictObject({
        stopTone: nodeId.describe('The caller pressed a stop tone'),
        maxDuration: nodeId.describe('The recording reached maxRecordDurationSeconds'),
        silence: nodeId.describe(
          'The caller stopped speaking (maxSilenceTimeoutSeconds); also initial silence when noInput is absent',
        ),
        failure: nodeId.describe('The recording failed or was cancelled'),
        noInput: nodeId
          .optional()
          .describe(
            'Where to go when the caller said nothing (initial silence) on all maxAttempts attempts; when absent, initial silence goes to silence',
          ),
      })
      .describe('Where to go by how the recording ended'),
  })
  .describe('Record a short message (recordResponse), e.g. voicemail; a silent attempt is not a message');

const transferNode = z
  .strictObject({
    type: z.literal('transfer'),
    target: transferTargetSchema,
    fallback: nodeId.describe('Where the call goes if the transfer fails'),
  })
  .describe('Transfer the call; the bot leaves it when the target accepts');

const hangupNode = z
  .strictObject({
    type: z.literal('hangup'),
    prompt: promptName.optional().describe('Goodbye prompt played before hanging up'),
  })
  .describe('Hang up, after an optional goodbye');

const collectNode = z
  .strictObject({
    type: z.literal('collect'),
    prompt: promptName,
    into: variableName.describe('The variable the entry goes into'),
    minDigits: seconds(1, 32).default(1),
    maxDigits: seconds(1, 32).default(16).describe('The entry ends by itself at this many digits'),
    terminator: z.enum(['#', '*']).default('#').describe('Ends the entry early'),
    pattern: regexSource.optional().describe('The whole entry must match this regular expression'),
    interDigitTimeoutSeconds: seconds(1, 30).default(5).describe('Wait for the next digit'),
    noInputTimeoutSeconds: seconds(1, 60).default(5).describe('Wait after the prompt before re-prompting'),
    noInputPrompt: promptName.optional().describe('Played before the prompt after no input'),
    invalidPrompt: promptName.optional().describe('Played before the prompt after an invalid entry'),
    maxAttempts: seconds(1, 10).default(3).describe('Tries before going to fallback'),
    next: nodeId.describe('Where a valid entry goes'),
    fallback: nodeId.describe('Where the call goes after maxAttempts without a valid entry'),
  })
  .describe('Play a prompt and collect a multi-digit entry (an order number, a PIN) into a variable');

const branchNode = z
  .strictObject({
    type: z.literal('branch'),
    cases: z
      .array(
        z
          .strictObject({ ...variableTestShape, next: nodeId })
          .refine(hasOperator, operatorNeeded)
          .describe('A test of one variable and where the call goes when it holds'),
      )
      .min(1)
      .max(50)
      .describe('Tried in order: the first whose test holds wins'),
    default: nodeId.describe('Where the call goes when no case holds'),
  })
  .describe('Choose the next node from variable tests');

const FORBIDDEN_HEADERS = new Set([
  'host',
  'content-length',
  'content-type',
  'connection',
  'transfer-encoding',
  'te',
  'upgrade',
  'expect',
  'keep-alive',
  'proxy-connection',
]);

/** Names of app settings an http node may read a header value from: secrets stay out of flows. */
export const SECRET_SETTING_NAME = /^IVR_SECRET_[A-Z0-9_]{1,100}$/;
const headerName = z
  .string()
  .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$/, 'a header name is 1-64 token characters')
  .refine(
    (h) => !FORBIDDEN_HEADERS.has(h.toLowerCase()),
    'this header is set by the bot (host, content-length, content-type, connection…)',
  );

/** Headers whose value is a credential: such a value comes from a setting, never the flow file. */
export function isCredentialHeader(name: string): boolean {
  return /^(authorization|proxy-authorization|cookie)$|key|token|secret|password|auth/i.test(name);
}
const fieldPath = z
  .string()
  .regex(
    /^[A-Za-z_$][A-Za-z0-9_$-]{0,63}(\.([A-Za-z_$][A-Za-z0-9_$-]{0,63}|\d{1,4})){0,7}$/,
    'a field is a dotted path such as status or order.items.0.name',
  );

const httpNode = z
  .strictObject({
    type: z.literal('http'),
    method: z.enum(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']).default('GET'),
    url: z
      .string()
      .max(2048)
      .describe(
        'https URL whose host is on http.allowedHosts; {variable} placeholders in the path and query are filled in, URL-encoded',
      ),
    headers: z
      .array(
        z.union([
          z
            .strictObject({
              header: headerName,
              value: z.string().max(1024).describe('A literal value ({variable} placeholders filled in)'),
            })
            .refine((h) => !isCredentialHeader(h.header), {
              message: 'a credential header takes its value fromSetting, never from the flow file',
              path: ['value'],
            }),
          z.strictObject({
            header: headerName,
            fromSetting: z
              .string()
              .regex(
                SECRET_SETTING_NAME,
                'a setting name such as IVR_SECRET_CRM_API_KEY (IVR_SECRET_ prefix)',
              )
              .describe(
                'The app setting holding the value (a Key Vault reference on Azure), read when the request is sent',
              ),
          }),
        ]),
      )
      .max(20)
      .default([]),
    body: z
      .record(
        z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a body field is 1-64 letters, digits, _ . or -'),
        z.string().max(1024),
      )
      .optional()
      .describe('A JSON object of string fields, each a template such as "{orderNumber}"'),
    timeoutSeconds: z.number().min(0.5).max(5).default(3).describe('The whole request, 0.5-5 s'),
    holdPrompt: promptName.optional().describe('Played while the request runs, e.g. "one moment please"'),
    map: z
      .record(
        variableName,
        z.strictObject({
          field: fieldPath.describe('Where the value is in the JSON answer'),
          type: z.enum(['string', 'number', 'integer', 'boolean']).default('string'),
        }),
      )
      .default({})
      .describe(
        'Variables set from fields of the JSON answer; a missing field or another type is an invalid answer',
      ),
    next: z
      .strictObject({
        success: nodeId.describe('2xx, and every mapped field present with its type'),
        clientError: nodeId.optional().describe('4xx'),
        serverError: nodeId.optional().describe('5xx'),
        timeout: nodeId.optional().describe('No whole answer within timeoutSeconds'),
        invalidAnswer: nodeId
          .optional()
          .describe('2xx, but not JSON, too big, or a mapped field missing or of another type'),
        failure: nodeId.describe(
          'Anything else (no connection, a refused address, a redirect, a missing setting), and every outcome above without its own node',
        ),
      })
      .describe('Where to go by how the request ended'),
  })
  .describe('Ask your own systems: call an https endpoint and map its JSON answer into variables');

export const nodeSchema = z.discriminatedUnion('type', [
  playNode,
  menuNode,
  recordNode,
  transferNode,
  hangupNode,
  collectNode,
  branchNode,
  httpNode,
]);
export type FlowNode = z.infer<typeof nodeSchema>;
export type NodeOf<T extends FlowNode['type']> = Extract<FlowNode, { type: T }>;

// ---- voicemail delivery ---------------------------------------------------------------------------

/** At most this many mail recipients per number: a voicemail goes to a team, not a mailing list. */
export const MAX_MAIL_RECIPIENTS = 20;

export const voicemailDeliverySchema = z
  .strictObject({
    mail: z
      .strictObject({
        to: z
          .array(z.email('an e-mail address, e.g. frontdesk@contoso.com'))
          .min(1)
          .max(MAX_MAIL_RECIPIENTS)
          .describe("Addresses to send each message to; a Microsoft 365 group's address reaches its members"),
        subject: z
          .string()
          .min(1)
          .max(120)
          .optional()
          .describe('Start of the subject line (default "Voicemail"); the caller and length follow'),
      })
      .optional()
      .describe('E-mail through Graph sendMail from IVR_MAIL_SENDER, the audio attached or linked'),
    webhook: z
      .strictObject({
        url: z.string().max(2048).describe('https URL that takes signed voicemail.received deliveries'),
      })
      .optional()
      .describe('A signed webhook (see README "Webhooks"), e.g. a Teams Workflows flow'),
  })
  .refine((d) => d.mail !== undefined || d.webhook !== undefined, 'name mail, webhook or both')
  .describe('Where each stored voicemail is delivered');
export type VoicemailDeliveryConfig = z.infer<typeof voicemailDeliverySchema>;

// ---- the file --------------------------------------------------------------------------------------------

export const flowFileSchema = z.strictObject({
  $schema: z.string().optional(),
  number: e164.describe('The phone number this file configures'),
  aliases: z
    .array(z.string().min(1))
    .max(FLOW_LIMITS.aliases, overLimit(FLOW_LIMITS.aliases, 'aliases', 'alias'))
    .default([])
    .describe('Other identities routed here, e.g. the application instance id of the resource account'),
  applicationInstanceId: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Application instance (resource account) that owns the number; outbound calls are placed from it',
    ),
  description: z.string().max(500).optional(),
  prompts: z
    .record(
      promptName,
      z
        .url({
          protocol: /^https$/,
          error: 'a prompt is an absolute https URL (Graph does not play http prompts reliably)',
        })
        .describe('https URI of a WAV file'),
    )
    // Counted by the loader before parsing (so the limit can be raised there); here for editors.
    .meta({
      maxProperties: FLOW_LIMITS.prompts,
      description: `Prompt names and their https URIs (at most ${FLOW_LIMITS.prompts})`,
    }),
  schedules: z.record(z.string().regex(NAME), scheduleSchema).default({}),
  rules: z
    .array(ruleSchema)
    .max(FLOW_LIMITS.rules, overLimit(FLOW_LIMITS.rules, 'rules', 'rule'))
    .default([])
    .describe('Evaluated in order; the first that matches decides'),
  default: incomingActionSchema.describe('What happens when no rule matches'),
  outbound: z
    .strictObject({
      start: nodeId,
      variables: z
        .record(
          z.string().regex(VARIABLE_NAME, 'a variable name is a letter then up to 63 letters, digits or _'),
          z.strictObject({
            required: z.boolean().default(false),
            pattern: z
              .string()
              .max(200)
              .refine(isRegExp, 'not a valid regular expression')
              .optional()
              .describe('The whole value must match this regular expression'),
          }),
        )
        .optional()
        .describe('Named values a request may (or must) carry, e.g. a ticket id; others are refused'),
      redial: z
        .strictObject({
          on: z
            .array(z.enum(['notAnswered', 'busy']))
            .min(1)
            .max(2)
            .default(['notAnswered', 'busy'])
            .describe('The outcomes of an attempt that are dialled again'),
          maxAttempts: z.number().int().min(2).max(10).describe('Attempts in all, the first included'),
          delaySeconds: seconds(1, 3600)
            .default(60)
            .describe('Wait between the end of an attempt and the next'),
        })
        .optional()
        .describe(
          'Dial again after no answer or busy; the outcome (and its webhook) comes after the last attempt',
        ),
      allowedPrefixes: z
        .array(z.string().regex(/^\+[1-9]\d{0,14}$/, 'a prefix is + and 1-15 digits, e.g. +1425'))
        .min(1)
        .max(100)
        .optional()
        .describe('PSTN destinations must start with one of these; absent: any valid number'),
      limits: z
        .strictObject({
          maxConcurrentCalls: z
            .number()
            .int()
            .min(1)
            .max(200)
            .optional()
            .describe(
              `Outbound calls of this number in progress at once (default ${OUTBOUND_LIMIT_DEFAULTS.maxConcurrentCalls})`,
            ),
          maxCallsPerMinute: z
            .number()
            .int()
            .min(1)
            .max(6000)
            .optional()
            .describe(
              `New outbound calls of this number per minute (default ${OUTBOUND_LIMIT_DEFAULTS.maxCallsPerMinute})`,
            ),
        })
        .optional()
        .describe('Protections of the number, held across instances'),
    })
    .optional()
    .describe('Where outbound calls placed from this number start'),
  nodes: z
    .record(nodeId, nodeSchema)
    // Counted by the loader before parsing, like prompts.
    .meta({
      maxProperties: FLOW_LIMITS.nodes,
      description: `The steps of the call flow by id (at most ${FLOW_LIMITS.nodes})`,
    })
    .default({}),
  http: z
    .strictObject({
      allowedHosts: z
        .array(
          z
            .string()
            .regex(/^[A-Za-z0-9.-]{1,253}$|^\[[0-9A-Fa-f:.]{2,45}\]$/, 'a host name such as crm.contoso.com'),
        )
        .max(20)
        .default([])
        .describe('Hosts http nodes may call (exact names, no wildcards)'),
    })
    .optional()
    .describe("The hosts this flow's http nodes may call"),
  recordings: z
    .strictObject({
      persist: z.boolean().default(true).describe('Keep recordings in Blob storage; false discards them'),
      retentionDays: z.number().int().min(1).max(3650).default(30),
      timeZone: z
        .string()
        .refine(isTimeZone, 'an IANA time zone such as Europe/Paris or America/New_York')
        .optional()
        .describe("Time zone of the times in voicemail messages; default: the first schedule's, else UTC"),
      transcribe: z
        .strictObject({
          language: z
            .string()
            .regex(/^[a-z]{2,3}-[A-Z]{2}$/, 'a locale such as en-US or fr-FR')
            .describe('Locale of the messages, e.g. en-US'),
        })
        .optional()
        .describe('Transcribe delivered messages with Azure AI Speech (IVR_SPEECH_ENDPOINT)'),
      deliver: voicemailDeliverySchema.optional(),
    })
    .default({ persist: true, retentionDays: 30 }),
});
export type FlowFile = z.infer<typeof flowFileSchema>;
export type FlowFileInput = z.input<typeof flowFileSchema>;

function isRegExp(source: string): boolean {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
}

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return tz.includes('/') || tz === 'UTC';
  } catch {
    return false;
  }
}

function isDate(d: string): boolean {
  const t = new Date(`${d}T00:00:00Z`);
  return !Number.isNaN(t.getTime()) && t.toISOString().startsWith(d);
}
