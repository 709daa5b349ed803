import { createHash } from 'node:crypto';
import { mediaInfo, mediaPrompt, resourceIdFor, resourceIdsCached } from '../../shared/ivr/media';
import {
  describeOutboundTarget,
  invitationOf,
  outcomeOf,
  type OutboundTarget,
} from '../../shared/ivr/outbound';
import type { FlowFile } from '../../shared/flows/schema';

/** The pure helpers behind outbound calls and prompts: targets, invitations, outcomes, resource ids. */

describe('outbound targets', () => {
  const meetingById: OutboundTarget = {
    kind: 'meeting',
    meetingInfo: {
      '@odata.type': '#microsoft.graph.joinMeetingIdMeetingInfo',
      joinMeetingId: '1234567890',
      passcode: undefined,
    },
  };
  const meetingByThread: OutboundTarget = {
    kind: 'meeting',
    chatInfo: {
      '@odata.type': '#microsoft.graph.chatInfo',
      threadId: '19:meeting_x@thread.v2',
      messageId: '0',
    },
    meetingInfo: {
      '@odata.type': '#microsoft.graph.organizerMeetingInfo',
      organizer: { '@odata.type': '#microsoft.graph.identitySet' },
    },
  };

  test('each kind is shown in records as the number, user:<id> or meeting:<join id or thread>', () => {
    expect(describeOutboundTarget({ kind: 'phone', phone: '+14255550100' })).toBe('+14255550100');
    expect(describeOutboundTarget({ kind: 'user', user: 'u-1', tenantId: 't-1' })).toBe('user:u-1');
    expect(describeOutboundTarget(meetingById)).toBe('meeting:1234567890');
    expect(describeOutboundTarget(meetingByThread)).toBe('meeting:19:meeting_x@thread.v2');
    expect(describeOutboundTarget({ ...meetingByThread, chatInfo: undefined } as OutboundTarget)).toBe(
      'meeting:',
    );
  });

  test('a phone or a user is invited by identity; a meeting is joined, not invited', () => {
    expect(invitationOf({ kind: 'phone', phone: '+14255550100' })).toEqual({
      '@odata.type': '#microsoft.graph.invitationParticipantInfo',
      identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+14255550100' } },
    });
    expect(invitationOf({ kind: 'user', user: 'u-1', tenantId: 't-1' })).toEqual({
      '@odata.type': '#microsoft.graph.invitationParticipantInfo',
      identity: { user: { '@odata.type': '#microsoft.graph.identity', id: 'u-1', tenantId: 't-1' } },
    });
    expect(invitationOf({ kind: 'user', user: 'u-1' })).toEqual({
      '@odata.type': '#microsoft.graph.invitationParticipantInfo',
      identity: { user: { '@odata.type': '#microsoft.graph.identity', id: 'u-1' } },
    });
    expect(invitationOf(meetingById)).toBeNull();
  });

  test.each([
    [486, 'busy'],
    [603, 'declined'],
    [408, 'notAnswered'],
    [480, 'notAnswered'],
    [487, 'notAnswered'],
    [500, 'failed'],
    [200, 'failed'],
  ])('an unanswered attempt ending with %i is %s', (code, outcome) => {
    expect(outcomeOf(false, { code })).toBe(outcome);
  });

  test('an answered attempt is answered whatever its result; no result is a failure', () => {
    expect(outcomeOf(true, { code: 486 })).toBe('answered');
    expect(outcomeOf(true, null)).toBe('answered');
    expect(outcomeOf(false, null)).toBe('failed');
  });
});

describe('prompts', () => {
  /** The documented rule, computed here: SHA-256 of the URI, its first 32 hex digits as an upper-case GUID. */
  const expectedId = (uri: string) => {
    const h = createHash('sha256').update(uri).digest('hex').toUpperCase();
    return [h.slice(0, 8), h.slice(8, 12), h.slice(12, 16), h.slice(16, 20), h.slice(20, 32)].join('-');
  };
  const flow = { prompts: { hello: 'https://media.example.com/hello.wav' } } as unknown as FlowFile;

  test('a prompt has a stable resource id derived from its URI', () => {
    const uri = 'https://media.example.com/hello.wav';
    expect(resourceIdFor(uri)).toBe(expectedId(uri));
    expect(resourceIdFor(uri)).toBe(expectedId(uri));
    expect(resourceIdFor(`${uri}?v=2`)).toBe(expectedId(`${uri}?v=2`));
    expect(resourceIdFor(uri)).toMatch(/^[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}$/);
  });

  test('the cache of ids holds up to 10,000 URIs, then starts again; a URI seen is not added twice', () => {
    const start = resourceIdsCached();
    resourceIdFor('https://media.example.com/cache-a.wav');
    resourceIdFor('https://media.example.com/cache-a.wav');
    resourceIdFor('https://media.example.com/cache-b.wav');
    expect(resourceIdsCached()).toBe(start + 2);
    for (let i = 0; resourceIdsCached() < 10_000; i++)
      resourceIdFor(`https://media.example.com/fill-${i}.wav`);
    expect(resourceIdsCached()).toBe(10_000);
    // A URI already cached is answered from the cache: the full cache is kept.
    resourceIdFor('https://media.example.com/cache-a.wav');
    expect(resourceIdsCached()).toBe(10_000);
    // The 10,001st URI clears the full cache and is the only one kept.
    resourceIdFor('https://media.example.com/one-more.wav');
    expect(resourceIdsCached()).toBe(1);
  });

  test('the ids stay right after the cache of ids is cleared', () => {
    for (let i = 0; i < 10_001; i++) resourceIdFor(`https://media.example.com/${i}.wav`);
    expect(resourceIdFor('https://media.example.com/0.wav')).toBe(
      expectedId('https://media.example.com/0.wav'),
    );
  });

  test("a flow's prompt becomes Graph's mediaPrompt; an unknown name is an error", () => {
    const uri = 'https://media.example.com/hello.wav';
    expect(mediaPrompt(flow, 'hello')).toEqual({
      '@odata.type': '#microsoft.graph.mediaPrompt',
      mediaInfo: { uri, resourceId: expectedId(uri) },
    });
    expect(() => mediaInfo(flow, 'nope')).toThrow('no prompt named "nope"');
  });
});
