import { isJsonObject, itemPath, type JsonObject, type ValidationIssue } from './issues';

/**
 * Limits Graph documents for the calls API but the CSDL cannot express (counts, ranges, URL
 * schemes), plus what this bot requires (service-hosted audio). Values of the wrong JSON type are
 * skipped here: reporting them is the CSDL validator's job.
 */

export interface GraphLimitsOptions {
  /** Also accept http:// URLs on loopback hosts (localhost, 127.x.x.x, [::1]), e.g. a local bot. */
  allowHttpLoopback?: boolean;
}

const MAX_CLIENT_CONTEXT_LENGTH = 256;
const REJECT_REASONS = ['none', 'busy', 'forbidden'];
const STOP_TONES = ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9', '*', '#'];
const RECORD_SECONDS_PARAMETERS = [
  'initialSilenceTimeoutInSeconds',
  'maxSilenceTimeoutInSeconds',
  'maxRecordDurationInSeconds',
];
const TRANSFER_IDENTITIES = ['user', 'phone', 'applicationInstance', 'application'];
const SERVICE_HOSTED_MEDIA_CONFIG = 'microsoft.graph.serviceHostedMediaConfig';

/**
 * Checks the documented limits of the body of bound action `action` ("answer", "redirect", …) or,
 * with action "create", of a create-call body (`POST /communications/calls`).
 */
export function validateGraphLimits(
  action: string,
  body: unknown,
  options: GraphLimitsOptions = {},
): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  if (!isJsonObject(body)) return issues;
  const report = (path: string, message: string): void => {
    issues.push({ path, message });
  };
  const checkUrl = (value: unknown, path: string): void => {
    const problem = httpsUrlProblem(value, options);
    if (problem !== undefined) report(path, problem);
  };
  const checkCount = (path: string, min: number, max: number): void => {
    const value = body[path];
    if (Array.isArray(value) && (value.length < min || value.length > max)) {
      report(
        path,
        `must hold ${min === 0 ? `at most ${max}` : `${min} to ${max}`} items, got ${value.length}`,
      );
    }
  };
  const checkInteger = (path: string, min: number, max: number): void => {
    const value = body[path];
    if (typeof value === 'number' && !(Number.isInteger(value) && value >= min && value <= max)) {
      report(path, `must be an integer from ${min} to ${max}, got ${value}`);
    }
  };
  const checkPromptUris = (): void => {
    arrayAt(body, 'prompts').forEach((prompt, index) => {
      checkUrl(objectAt(prompt, 'mediaInfo')?.uri, `prompts[${index}].mediaInfo.uri`);
    });
  };
  const checkPreFetchUris = (): void => {
    arrayAt(objectAt(body, 'mediaConfig'), 'preFetchMedia').forEach((media, index) => {
      checkUrl(isJsonObject(media) ? media.uri : undefined, `mediaConfig.preFetchMedia[${index}].uri`);
    });
  };

  checkUrl(body.callbackUri, 'callbackUri');
  const { clientContext } = body;
  if (typeof clientContext === 'string' && clientContext.length > MAX_CLIENT_CONTEXT_LENGTH) {
    report(
      'clientContext',
      `must be at most ${MAX_CLIENT_CONTEXT_LENGTH} characters, got ${clientContext.length}`,
    );
  }

  switch (action) {
    case 'answer': {
      const modalities = body.acceptedModalities;
      // Graph documents acceptedModalities as required for answer; an IVR needs audio.
      if (
        modalities === undefined ||
        modalities === null ||
        (Array.isArray(modalities) && !modalities.includes('audio'))
      ) {
        report('acceptedModalities', 'must include "audio"');
      }
      const mediaType = objectAt(body, 'mediaConfig')?.['@odata.type'];
      if (typeof mediaType === 'string' && !namesType(mediaType, SERVICE_HOSTED_MEDIA_CONFIG)) {
        report(
          'mediaConfig.@odata.type',
          `this bot answers with #${SERVICE_HOSTED_MEDIA_CONFIG}, got "${mediaType}"`,
        );
      }
      checkPreFetchUris();
      break;
    }
    case 'create': {
      checkPreFetchUris();
      // The create-call page: audio requested, service-hosted media (this bot hosts none),
      // either targets (a peer-to-peer call) or a meeting to join, and a PSTN call placed
      // from an application instance in a named tenant.
      const modalities = body.requestedModalities;
      if (!Array.isArray(modalities) || !modalities.includes('audio'))
        report('requestedModalities', 'must include "audio"');
      const mediaType = objectAt(body, 'mediaConfig')?.['@odata.type'];
      if (typeof mediaType !== 'string' || !namesType(mediaType, SERVICE_HOSTED_MEDIA_CONFIG))
        report('mediaConfig.@odata.type', `this bot creates calls with #${SERVICE_HOSTED_MEDIA_CONFIG}`);
      const targets = arrayAt(body, 'targets');
      const meeting = objectAt(body, 'meetingInfo');
      if (targets.length > 0 === (meeting !== undefined))
        report('targets', 'a create call names either targets or a meetingInfo to join');
      checkCount('targets', 0, 25);
      const meetingType = meeting?.['@odata.type'];
      if (typeof meetingType === 'string' && namesType(meetingType, 'microsoft.graph.organizerMeetingInfo')) {
        if (objectAt(body, 'chatInfo') === undefined)
          report('chatInfo', 'joining a scheduled meeting by its organizer needs the chatInfo of its thread');
      }
      const toPhone = targets.some((t) => objectAt(objectAt(t, 'identity'), 'phone') !== undefined);
      if (toPhone) {
        if (objectAt(objectAt(objectAt(body, 'source'), 'identity'), 'applicationInstance') === undefined)
          report('source.identity.applicationInstance', 'a PSTN call is placed from an application instance');
        if (typeof body.tenantId !== 'string' || body.tenantId === '')
          report('tenantId', 'a PSTN call names the tenant of its application instance');
      }
      break;
    }
    case 'reject':
      if (typeof body.reason === 'string' && !REJECT_REASONS.includes(body.reason)) {
        report('reason', `must be one of ${REJECT_REASONS.join(', ')}, got "${body.reason}"`);
      }
      break;
    case 'redirect':
      checkCount('targets', 1, 25);
      checkInteger('timeout', 15, 90);
      break;
    case 'playPrompt':
      checkCount('prompts', 1, 20);
      checkPromptUris();
      break;
    case 'recordResponse':
      checkCount('prompts', 0, 1);
      checkPromptUris();
      for (const parameter of RECORD_SECONDS_PARAMETERS) checkInteger(parameter, 1, 120);
      arrayAt(body, 'stopTones').forEach((tone, index) => {
        if (typeof tone === 'string' && !STOP_TONES.includes(tone)) {
          report(
            itemPath('stopTones', index),
            `must be one of ${STOP_TONES.join(' ')}, got ${JSON.stringify(tone)}`,
          );
        }
      });
      break;
    case 'transfer': {
      const identity = objectAt(objectAt(body, 'transferTarget'), 'identity');
      if (identity === undefined) break;
      const named = TRANSFER_IDENTITIES.filter(
        (key) => identity[key] !== undefined && identity[key] !== null,
      );
      if (named.length !== 1) {
        const got = named.length === 0 ? 'none' : named.join(', ');
        report(
          'transferTarget.identity',
          `must carry exactly one of ${TRANSFER_IDENTITIES.join(', ')}, got ${got}`,
        );
      }
      break;
    }
  }
  return issues;
}

function objectAt(parent: unknown, key: string): JsonObject | undefined {
  const value = isJsonObject(parent) ? parent[key] : undefined;
  return isJsonObject(value) ? value : undefined;
}

function arrayAt(parent: unknown, key: string): unknown[] {
  const value = isJsonObject(parent) ? parent[key] : undefined;
  return Array.isArray(value) ? value : [];
}

/** `@odata.type` values are "#namespace.name"; Graph's "graph" alias is accepted too. */
function namesType(odataType: string, qualifiedName: string): boolean {
  const name = odataType.replace(/^#/, '').replace(/^graph\./, 'microsoft.graph.');
  return name === qualifiedName;
}

/** Problem with a URL Graph will call or fetch, or undefined when fine (or not a string at all). */
function httpsUrlProblem(value: unknown, options: GraphLimitsOptions): string | undefined {
  if (typeof value !== 'string') return undefined;
  const requirement = options.allowHttpLoopback
    ? 'must be an absolute https URL (or http on a loopback host)'
    : 'must be an absolute https URL';
  // The scheme test also rejects forms URL() accepts leniently, like "https:host" or " https://host".
  if (!/^https?:\/\//i.test(value) || !URL.canParse(value))
    return `${requirement}, got ${JSON.stringify(value)}`;
  const url = new URL(value);
  if (url.protocol === 'https:') return undefined;
  if (options.allowHttpLoopback && isLoopbackHost(url.hostname)) return undefined;
  return `${requirement}, got ${JSON.stringify(value)}`;
}

function isLoopbackHost(hostname: string): boolean {
  // URL() has already normalised the host: "127.1" reads "127.0.0.1", "[0::1]" reads "[::1]".
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}
