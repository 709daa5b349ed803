import { isIP } from 'node:net';
import { addressProblem } from './addressGuard';

/**
 * Why a webhook URL may not be used, or null when it may: absolute https, no credentials,
 * not a literal loopback/private/link-local address (names are checked again when resolved).
 * `allowLoopback` (IVR_LOCAL_DEV_HTTP) lets http and https reach loopback hosts, for local runs.
 */
export function webhookUrlProblem(raw: string, allowLoopback = false): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'must be an absolute URL';
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  const loopbackName = host === 'localhost' || host.endsWith('.localhost');
  const local = allowLoopback && (loopbackName || (isIP(host) !== 0 && addressProblem(host, true) === null));
  if (url.protocol !== 'https:' && !(local && url.protocol === 'http:')) return 'must be an https URL';
  if (url.username || url.password) return 'must not carry credentials';
  if (raw.length > 2048) return 'must be at most 2048 characters';
  if (loopbackName && !allowLoopback) return 'must not point at localhost';
  if (isIP(host)) {
    const problem = addressProblem(host, allowLoopback);
    if (problem) return `must not point at ${problem}`;
  }
  return null;
}
