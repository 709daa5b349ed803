import type { Settings } from '../config/settings';
import { useCallTelemetry } from './switch';

/**
 * Starts the Azure Monitor OpenTelemetry distro when APPLICATIONINSIGHTS_CONNECTION_STRING is
 * set: traces (with HTTP and Azure SDK spans), metrics and logs go to Application Insights.
 * Loaded in the start hook, never at function-file import: it is heavy.
 */
let started = false;

export async function startAzureMonitor(settings: Settings): Promise<boolean> {
  const connectionString = settings.APPLICATIONINSIGHTS_CONNECTION_STRING;
  if (!connectionString || started) return started;
  const { useAzureMonitor } = await import('@azure/monitor-opentelemetry');
  // Local authentication disabled: publish with the managed identity named in the auth string.
  const clientId = /(?:^|;)ClientId=([^;]+)/i.exec(
    settings.APPLICATIONINSIGHTS_AUTHENTICATION_STRING ?? '',
  )?.[1];
  const credential = clientId
    ? new (await import('@azure/identity')).ManagedIdentityCredential({ clientId })
    : undefined;
  useAzureMonitor({
    azureMonitorExporterOptions: { connectionString, ...(credential ? { credential } : {}) },
    enableLiveMetrics: false,
  });
  started = true;
  useCallTelemetry();
  return true;
}
