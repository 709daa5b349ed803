import { TENANT_ID } from './graphStandIn';

/** Notification payloads as the calling platform POSTs them (Graph's documented shapes). */

const wrap = (value: unknown[]) => ({ '@odata.type': '#microsoft.graph.commsNotifications', value });

export function incomingCall(callId: string, to: string, from = '+12065550123') {
  return wrap([
    {
      '@odata.type': '#microsoft.graph.commsNotification',
      changeType: 'created',
      resourceUrl: `/communications/calls/${callId}`,
      resourceData: {
        '@odata.type': '#microsoft.graph.call',
        '@odata.id': `/communications/calls/${callId}`,
        '@odata.etag': 'W/"5445"',
        state: 'incoming',
        direction: 'incoming',
        callRoutes: [
          { routingType: 'lookup', original: { phone: { id: to } }, final: { phone: { id: to } } },
        ],
        source: { identity: { phone: { id: from } }, region: 'westus', languageId: 'en-US' },
        targets: [
          {
            identity: {
              applicationInstance: { displayName: 'Contoso IVR', id: '6b3d4c2e-8f1a-4e55-9d7b-2a9c0f1e7d31' },
            },
            languageId: 'en-US',
          },
        ],
        requestedModalities: ['audio'],
        tenantId: TENANT_ID,
      },
    },
  ]);
}

export function callUpdate(
  callId: string,
  resourceData: Record<string, unknown>,
  changeType: 'updated' | 'deleted' = 'updated',
) {
  return wrap([
    {
      '@odata.type': '#microsoft.graph.commsNotification',
      changeType,
      resourceUrl: `/communications/calls/${callId}`,
      resourceData: {
        '@odata.type': '#microsoft.graph.call',
        '@odata.id': `/communications/calls/${callId}`,
        ...resourceData,
      },
    },
  ]);
}

export const established = (callId: string) => callUpdate(callId, { state: 'established' });

export const terminated = (callId: string) =>
  callUpdate(
    callId,
    { state: 'terminated', resultInfo: { code: 200, subcode: 5001, message: 'The conversation has ended.' } },
    'deleted',
  );

export const tone = (callId: string, sequenceId: number, key: string) =>
  callUpdate(callId, {
    state: 'established',
    toneInfo: { '@odata.type': '#microsoft.graph.toneInfo', sequenceId, tone: `tone${key}` },
  });

export function operationDone(
  callId: string,
  operationId: string,
  odataType: string,
  resourceData: Record<string, unknown>,
) {
  return wrap([
    {
      '@odata.type': '#microsoft.graph.commsNotification',
      changeType: 'deleted',
      resourceUrl: `/communications/calls/${callId}/operations/${operationId}`,
      resourceData: {
        '@odata.type': odataType,
        '@odata.id': `/communications/calls/${callId}/operations/${operationId}`,
        id: operationId,
        status: 'completed',
        resultInfo: {
          '@odata.type': '#microsoft.graph.resultInfo',
          code: 200,
          subcode: 0,
          message: 'Action completed.',
        },
        ...resourceData,
      },
    },
  ]);
}

/** A RIFF/WAVE file: 16-bit PCM mono at 8 kHz, so 30 s is ~480 KB (16,000 bytes a second). */
export function wav8k(seconds: number): Buffer {
  const rate = 8000;
  const samples = Math.round(seconds * rate);
  const dataBytes = samples * 2;
  const buf = Buffer.alloc(44 + dataBytes);
  buf.write('RIFF', 0, 'ascii');
  buf.writeUInt32LE(36 + dataBytes, 4);
  buf.write('WAVE', 8, 'ascii');
  buf.write('fmt ', 12, 'ascii');
  buf.writeUInt32LE(16, 16);
  buf.writeUInt16LE(1, 20);
  buf.writeUInt16LE(1, 22);
  buf.writeUInt32LE(rate, 24);
  buf.writeUInt32LE(rate * 2, 28);
  buf.writeUInt16LE(2, 32);
  buf.writeUInt16LE(16, 34);
  buf.write('data', 36, 'ascii');
  buf.writeUInt32LE(dataBytes, 40);
  for (let i = 0; i < samples; i++)
    buf.writeInt16LE(Math.round(1600 * Math.sin((2 * Math.PI * 440 * i) / rate)), 44 + i * 2);
  return buf;
}
