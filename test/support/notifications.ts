import { parseNotifications, type ParsedNotification } from '../../shared/graph/notifications';

/** An incoming call to `to` from +12065550123, as the platform notifies it, parsed as the callback parses it. */
export function incomingCall(callId: string, to: string): ParsedNotification {
  return parseNotifications({
    value: [
      {
        changeType: 'created',
        resourceUrl: `/communications/calls/${callId}`,
        resourceData: {
          state: 'incoming',
          callRoutes: [{ original: { phone: { id: to } }, final: { phone: { id: to } } }],
          source: { identity: { phone: { id: '+12065550123' } } },
        },
      },
    ],
  })[0]!;
}
