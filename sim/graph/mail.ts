import { join } from 'node:path';
import { projectRoot } from '../../host/projectRoot';
import { loadCsdl, validateActionBody, type CsdlModel, type ValidationIssue } from './csdl';

/**
 * Graph's `POST /users/{id | userPrincipalName}/sendMail`, checked against the mail subset of
 * the official v1.0 metadata (v1.0-mail.csdl.xml) and the documented request size.
 */

const MAIL_CSDL_FILE = 'v1.0-mail.csdl.xml';
/** Graph refuses a request body over 4 MB (413): attachments over 3 MB need an upload session. */
export const SEND_MAIL_MAX_BODY_BYTES = 4 * 1024 * 1024;

export function loadMailCsdl(filePath?: string): CsdlModel {
  return loadCsdl(filePath ?? join(projectRoot(__dirname), 'sim', 'graph', MAIL_CSDL_FILE));
}

/** The user (object id or UPN) a request path sends mail as, or null when it is not sendMail. */
export function sendMailUser(method: string, path: string): string | null {
  const m = /^\/(?:v1\.0\/)?users\/([^/?#]+)\/(?:microsoft\.graph\.)?sendMail\/?(?:[?#].*)?$/i.exec(path);
  if (method.toUpperCase() !== 'POST' || !m) return null;
  try {
    return decodeURIComponent(m[1]!);
  } catch {
    return null;
  }
}

export function validateSendMail(model: CsdlModel, raw: unknown): ValidationIssue[] {
  const body = parameterNamesOf(raw);
  const issues = validateActionBody(model, 'sendMail', body, {
    binding: 'microsoft.graph.user',
    // Attachments go inline, and Graph fills in what its own sendMail examples leave out.
    deepInsert: true,
    serviceFilled: ['microsoft.graph.attachment.isInline', 'microsoft.graph.attachment.size'],
  });
  const message = (
    body as { Message?: { toRecipients?: unknown[]; ccRecipients?: unknown[]; bccRecipients?: unknown[] } }
  )?.Message;
  const recipients =
    (message?.toRecipients?.length ?? 0) +
    (message?.ccRecipients?.length ?? 0) +
    (message?.bccRecipients?.length ?? 0);
  if (issues.length === 0 && recipients === 0)
    issues.push({ path: 'Message.toRecipients', message: 'at least one recipient is required' });
  return issues;
}

/**
 * Graph takes sendMail's parameters in any case: its examples write `message`, the metadata
 * (and the SDKs) `Message`. Both are read as the metadata names them.
 */
function parameterNamesOf(body: unknown): unknown {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return body;
  const names: Record<string, string> = { message: 'Message', savetosentitems: 'SaveToSentItems' };
  return Object.fromEntries(Object.entries(body).map(([k, v]) => [names[k.toLowerCase()] ?? k, v]));
}

/** A mail the simulator took: who sent it, to whom, and what it said. */
export interface SentMail {
  /** The user of the request path (object id or UPN). */
  from: string;
  to: string[];
  subject: string;
  body: string;
  bodyType: string;
  attachments: Array<{ name: string; contentType: string; bytes: number }>;
  saveToSentItems: boolean;
}

/** Reads a sendMail body that validated. */
export function sentMailOf(from: string, raw: unknown): SentMail {
  const body = parameterNamesOf(raw) as {
    Message: {
      subject?: string;
      body?: { content?: string; contentType?: string };
      toRecipients?: Array<{ emailAddress?: { address?: string } }>;
      attachments?: Array<{ name?: string; contentType?: string; contentBytes?: string }>;
    };
    SaveToSentItems?: boolean;
  };
  const m = body.Message;
  return {
    from,
    to: (m.toRecipients ?? []).map((r) => r.emailAddress?.address ?? ''),
    subject: m.subject ?? '',
    body: m.body?.content ?? '',
    bodyType: m.body?.contentType ?? 'text',
    attachments: (m.attachments ?? []).map((a) => ({
      name: a.name ?? '',
      contentType: a.contentType ?? '',
      bytes: Buffer.from(a.contentBytes ?? '', 'base64').length,
    })),
    // Graph's default is to keep a copy.
    saveToSentItems: body.SaveToSentItems ?? true,
  };
}
