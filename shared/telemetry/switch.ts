/**
 * Whether call telemetry is on. Apart from the telemetry module so that the notification
 * path can ask without loading OpenTelemetry at all when it is off.
 */
let enabled = false;

/** Turns call telemetry on (Azure Monitor's start does; so do tests that register their own SDK). */
export function useCallTelemetry(on = true): void {
  enabled = on;
}

export function callTelemetryEnabled(): boolean {
  return enabled;
}
