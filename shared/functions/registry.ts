import {
  app,
  type HttpFunctionOptions,
  type StorageQueueFunctionOptions,
  type TimerFunctionOptions,
} from '@azure/functions';

/**
 * Every function registers through here: the Functions host gets the usual app.* call, and
 * the local host (host/localHost.ts) serves the very same definitions from this list.
 */

export type Registration =
  | { kind: 'http'; name: string; options: HttpFunctionOptions }
  | { kind: 'timer'; name: string; options: TimerFunctionOptions }
  | { kind: 'queue'; name: string; options: StorageQueueFunctionOptions };

export const registrations: Registration[] = [];

function inFunctionsHost(): boolean {
  // The worker provides this module; outside it @azure/functions only warns on every registration.
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- a probe, not a dependency
    require('@azure/functions-core');
    return true;
  } catch {
    return false;
  }
}

const hosted = inFunctionsHost();

export const startHooks: Array<() => Promise<void>> = [];

/** Runs when the worker starts (before the first invocation in the Functions host, before listening in the local host). */
export function onAppStart(hook: () => Promise<void>): void {
  startHooks.push(hook);
  if (hosted) app.hook.appStart(hook);
}

/**
 * A handler whose module loads on its first invocation: function files stay light to
 * import (cold starts), and the code behind them loads once, when first needed.
 */
export function lazy<A extends unknown[], R>(
  load: () => Promise<(...args: A) => Promise<R>>,
): (...args: A) => Promise<R> {
  let handler: Promise<(...args: A) => Promise<R>> | null = null;
  let loaded: ((...args: A) => Promise<R>) | null = null;
  return async (...args) => {
    // Once loaded, called straight: no await of a settled promise on every invocation.
    if (loaded) return loaded(...args);
    handler ??= load().then(
      (h) => (loaded = h),
      (err) => {
        handler = null;
        throw err;
      },
    );
    return (await handler)(...args);
  };
}

export function httpFunction(name: string, options: HttpFunctionOptions): void {
  registrations.push({ kind: 'http', name, options });
  if (hosted) app.http(name, options);
}

export function timerFunction(name: string, options: TimerFunctionOptions): void {
  registrations.push({ kind: 'timer', name, options });
  if (hosted) app.timer(name, options);
}

export function queueFunction(name: string, options: StorageQueueFunctionOptions): void {
  registrations.push({ kind: 'queue', name, options });
  if (hosted) app.storageQueue(name, options);
}
