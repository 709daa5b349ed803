import { decideIncoming, isOpen, localTime, matchesCallerPattern } from '../../shared/flows/rules';
import { scheduleSchema, type FlowFile, type FlowFileInput, type Schedule } from '../../shared/flows/schema';
import { fixtureFlow, loadFlow } from './fixtures';

const t = (iso: string) => new Date(iso);

describe('caller patterns', () => {
  it.each<[string, string | null, boolean]>([
    ['+14255550100', '+14255550100', true],
    ['+14255550100', '+14255550101', false],
    ['+14255550100', '+142555501000', false],
    ['+14255550100', null, false],
    ['+1425*', '+14255550100', true],
    ['+1425*', '+1425', true],
    ['+1425*', '+14265550100', false],
    ['+1425*', '+33142555501', false],
    ['+1425*', null, false],
    ['*', '+33612345678', true],
    ['*', 'user:a1b2c3', true],
    ['*', null, true],
    ['anonymous', null, true],
    ['anonymous', '+33612345678', false],
    ['anonymous', 'user:a1b2c3', false],
    ['+*', '+33612345678', true],
    ['+*', 'user:a1b2c3', false],
    ['+*', null, false],
  ])('%s vs %s -> %s', (pattern, caller, expected) => {
    expect(matchesCallerPattern(caller, pattern)).toBe(expected);
  });
});

describe('callerIn / callerNotIn', () => {
  const input: FlowFileInput = {
    number: '+14255550100',
    prompts: {},
    rules: [
      {
        name: 'us but not the boss',
        when: { callerIn: ['+1*'], callerNotIn: ['+14255550123', '+1206*'] },
        then: { type: 'reject', reason: 'busy' },
      },
      {
        name: 'not a phone',
        when: { callerNotIn: ['+*', 'anonymous'] },
        then: { type: 'reject', reason: 'forbidden' },
      },
      {
        when: { callerIn: ['anonymous', '+33*'] },
        then: { type: 'redirect', targets: [{ phone: '+33140000000' }] },
      },
    ],
    default: { type: 'reject', reason: 'none' },
  };
  let loaded: FlowFile | undefined;
  const f = () => (loaded ??= loadFlow(input).flow);
  const now = t('2025-06-02T10:00:00Z');

  it.each<[string | null, string, string]>([
    ['+14255550111', 'us but not the boss', 'reject'],
    ['+14255550123', 'default', 'reject'], // excluded by callerNotIn
    ['+12065550100', 'default', 'reject'], // excluded by a prefix in callerNotIn
    ['user:a1b2c3', 'not a phone', 'reject'],
    [null, 'rules[2]', 'redirect'], // unnamed rules report their index
    ['+33612345678', 'rules[2]', 'redirect'],
    ['+4930123456', 'default', 'reject'],
  ])('caller %s -> %s', (caller, matched, type) => {
    const d = decideIncoming(f(), caller, now);
    expect(d.matched).toBe(matched);
    expect(d.action.type).toBe(type);
  });

  it('reports the action of the matching rule', () => {
    expect(decideIncoming(f(), '+14255550111', now).action).toEqual({ type: 'reject', reason: 'busy' });
    expect(decideIncoming(f(), 'user:x', now).action).toEqual({ type: 'reject', reason: 'forbidden' });
    expect(decideIncoming(f(), '+4930123456', now).action).toEqual({ type: 'reject', reason: 'none' });
  });
});

describe('local time', () => {
  it('gives date, weekday and HH:MM in the zone', () => {
    expect(localTime(t('2025-03-31T07:30:00Z'), 'Europe/Paris')).toEqual({
      date: '2025-03-31',
      day: 'mon',
      time: '09:30',
    });
    expect(localTime(t('2025-03-28T07:30:00Z'), 'Europe/Paris')).toEqual({
      date: '2025-03-28',
      day: 'fri',
      time: '08:30',
    });
    expect(localTime(t('2025-06-04T00:59:00Z'), 'America/Los_Angeles')).toEqual({
      date: '2025-06-03',
      day: 'tue',
      time: '17:59',
    });
  });

  it('writes midnight as 00:00, not 24:00', () => {
    expect(localTime(t('2025-03-31T22:00:00Z'), 'Europe/Paris')).toEqual({
      date: '2025-04-01',
      day: 'tue',
      time: '00:00',
    });
    expect(localTime(t('2025-06-07T07:00:00Z'), 'America/Los_Angeles')).toEqual({
      date: '2025-06-07',
      day: 'sat',
      time: '00:00',
    });
  });
});

describe('schedules', () => {
  const paris = () => fixtureFlow().flow.schedules.office!;
  const la: Schedule = scheduleSchema.parse({
    timeZone: 'America/Los_Angeles',
    weekly: {
      mon: ['08:00-18:00'],
      tue: ['08:00-18:00'],
      wed: ['08:00-18:00'],
      thu: ['08:00-18:00'],
      fri: ['08:00-18:00'],
      sat: ['00:00-24:00'],
    },
    holidays: ['2025-07-04'],
  });

  it.each<[string, string, boolean]>([
    // Paris: the same UTC time of day on either side of the switch to summer time (2025-03-30).
    ['Paris Fri 08:30 CET (before DST)', '2025-03-28T07:30:00Z', false],
    ['Paris Mon 09:30 CEST (after DST)', '2025-03-31T07:30:00Z', true],
    ['Paris Mon 08:59', '2025-06-02T06:59:00Z', false],
    ['Paris Mon 09:00 (opening)', '2025-06-02T07:00:00Z', true],
    ['Paris Mon 12:29', '2025-06-02T10:29:00Z', true],
    ['Paris Mon 12:30 (lunch)', '2025-06-02T10:30:00Z', false],
    ['Paris Mon 13:30 (after lunch)', '2025-06-02T11:30:00Z', true],
    ['Paris Tue 17:29 (just before closing)', '2025-06-03T15:29:00Z', true],
    ['Paris Tue 17:30 (closing)', '2025-06-03T15:30:00Z', false],
    ['Paris Fri 16:59', '2025-06-06T14:59:00Z', true],
    ['Paris Fri 17:00 (closes earlier on Fridays)', '2025-06-06T15:00:00Z', false],
    ['Paris Sat 11:00 (no hours)', '2025-06-07T09:00:00Z', false],
    ['Paris Wed Dec 24 09:30', '2025-12-24T08:30:00Z', true],
    ['Paris Thu Dec 25 09:30 (holiday)', '2025-12-25T08:30:00Z', false],
    ['Paris Thu Dec 25 15:00 (holiday)', '2025-12-25T14:00:00Z', false],
  ])('%s', (_what, iso, open) => {
    expect(isOpen(paris(), t(iso))).toBe(open);
  });

  it.each<[string, string, boolean]>([
    // Los Angeles switched to PDT on 2025-03-09.
    ['LA Fri 07:30 PST (before DST)', '2025-03-07T15:30:00Z', false],
    ['LA Mon 08:30 PDT (after DST)', '2025-03-10T15:30:00Z', true],
    // Tuesday evening in LA is already Wednesday in UTC.
    ['LA Tue 17:59 (just before closing)', '2025-06-04T00:59:00Z', true],
    ['LA Tue 18:00 (closing)', '2025-06-04T01:00:00Z', false],
    ['LA Sun 10:00 (no hours)', '2025-06-08T17:00:00Z', false],
    ['LA Sat 00:00 (00:00-24:00)', '2025-06-07T07:00:00Z', true],
    ['LA Sat 23:59 (00:00-24:00)', '2025-06-08T06:59:00Z', true],
    ['LA Sun 00:00', '2025-06-08T07:00:00Z', false],
    // The holiday is a date in the schedule's zone, not in UTC.
    ['LA Thu Jul 3 17:30 (UTC already Jul 4)', '2025-07-04T00:30:00Z', true],
    ['LA Fri Jul 4 09:00 (holiday)', '2025-07-04T16:00:00Z', false],
    ['LA Fri Jul 4 17:30 (holiday; UTC already Jul 5)', '2025-07-05T00:30:00Z', false],
    ['LA Thu Jul 3 09:00', '2025-07-03T16:00:00Z', true],
  ])('%s', (_what, iso, open) => {
    expect(isOpen(la, t(iso))).toBe(open);
  });
});

describe('decideIncoming on the realistic flow', () => {
  const mondayNoon = t('2025-06-02T10:00:00Z');
  const saturday = t('2025-06-07T10:00:00Z');

  it('answers at the default start when no rule matches', () => {
    expect(decideIncoming(fixtureFlow().flow, '+14255550111', mondayNoon)).toEqual({
      action: { type: 'answer', start: 'welcome' },
      matched: 'default',
    });
  });

  it('answers at the after-hours start while the office is closed, holidays included', () => {
    const closed = { action: { type: 'answer', start: 'closed' }, matched: 'after hours' };
    expect(decideIncoming(fixtureFlow().flow, '+14255550111', saturday)).toEqual(closed);
    expect(decideIncoming(fixtureFlow().flow, '+14255550111', t('2025-06-03T15:30:00Z'))).toEqual(closed);
    expect(decideIncoming(fixtureFlow().flow, '+14255550111', t('2025-06-03T15:29:00Z')).matched).toBe(
      'default',
    );
    expect(decideIncoming(fixtureFlow().flow, '+14255550111', t('2025-12-25T08:30:00Z'))).toEqual(closed);
  });

  it('rejects blocked and withheld callers, with the rule name', () => {
    expect(decideIncoming(fixtureFlow().flow, '+33999123456', mondayNoon)).toEqual({
      action: { type: 'reject', reason: 'busy' },
      matched: 'blocked',
    });
    expect(decideIncoming(fixtureFlow().flow, null, mondayNoon)).toEqual({
      action: { type: 'reject', reason: 'forbidden' },
      matched: 'withheld',
    });
  });

  it('the first matching rule wins', () => {
    // A blocked caller after hours matches both 'blocked' and 'after hours'.
    expect(decideIncoming(fixtureFlow().flow, '+33999123456', saturday).matched).toBe('blocked');
    // A UK caller during office hours matches both 'uk forward' rules; the first has the 30 s timeout.
    const open = decideIncoming(fixtureFlow().flow, '+447700900123', mondayNoon);
    expect(open.matched).toBe('uk forward');
    expect(open.action).toEqual({
      type: 'redirect',
      targets: [{ phone: '+442071234567' }],
      timeoutSeconds: 30,
    });
    // Out of hours the open condition fails and the next rule (not 'after hours') decides.
    expect(decideIncoming(fixtureFlow().flow, '+447700900123', saturday).matched).toBe('uk forward closed');
  });

  it('redirects the VIP caller to several targets', () => {
    const d = decideIncoming(fixtureFlow().flow, '+14255550123', saturday);
    expect(d.matched).toBe('vip');
    expect(d.action.type === 'redirect' && d.action.targets).toHaveLength(2);
  });
});

describe('rules on variables', () => {
  const withRules = (rules: unknown[]) =>
    loadFlow({ number: '+14255550100', prompts: {}, rules, default: { type: 'reject', reason: 'none' } })
      .flow;
  const now = t('2025-06-02T10:00:00Z');

  it('an anonymous caller has the empty string as caller', () => {
    const f = withRules([
      {
        name: 'no caller id',
        when: { variables: [{ variable: 'caller', equals: '' }] },
        then: { type: 'reject', reason: 'forbidden' },
      },
    ]);
    expect(decideIncoming(f, null, now).matched).toBe('no caller id');
    expect(decideIncoming(f, '+14255550111', now).matched).toBe('default');
  });

  it('every test of a rule must hold', () => {
    const f = withRules([
      {
        name: 'us to this number',
        when: {
          variables: [
            { variable: 'caller', matches: '\\+1.*' },
            { variable: 'called', equals: '+14255550100' },
            { variable: 'number', in: ['+14255550199'] },
          ],
        },
        then: { type: 'reject', reason: 'busy' },
      },
      {
        name: 'us',
        when: {
          variables: [
            { variable: 'caller', matches: '\\+1.*' },
            { variable: 'called', equals: '+14255550100' },
          ],
        },
        then: { type: 'reject', reason: 'busy' },
      },
    ]);
    expect(decideIncoming(f, '+14255550111', now).matched).toBe('us');
    expect(decideIncoming(f, '+33612345678', now).matched).toBe('default');
  });
});
