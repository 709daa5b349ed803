import { validateFlow, type FlowProblem } from '../../shared/flows/loader';
import { realisticFlowInput, type Mutable } from './fixtures';

/** The loader's checks of `recordings.deliver` and `recordings.transcribe`. */

const FILE = '/flows/contoso.json';

function validate(recordings: unknown, allowLoopbackUrls = false): FlowProblem[] {
  const input = structuredClone(realisticFlowInput()) as Mutable;
  input.recordings = recordings;
  return validateFlow(input, FILE, { allowLoopbackUrls }).problems;
}

test('mail and webhook delivery with a transcript load, and the flow keeps them', () => {
  const input = structuredClone(realisticFlowInput()) as Mutable;
  input.recordings = {
    timeZone: 'America/Los_Angeles',
    transcribe: { language: 'en-US' },
    deliver: {
      mail: { to: ['frontdesk@contoso.com', 'dental-team@contoso.com'], subject: 'Front desk voicemail' },
      webhook: {
        url: 'https://prod-01.westus.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=x',
      },
    },
  };
  const result = validateFlow(input, FILE);
  expect(result.problems).toEqual([]);
  expect(result.flow?.flow.recordings).toEqual({
    persist: true,
    retentionDays: 30,
    ...(input.recordings as object),
  });
});

test('delivery needs the audio kept, a transcript needs a delivery', () => {
  expect(validate({ persist: false, deliver: { mail: { to: ['a@contoso.com'] } } })).toEqual([
    {
      file: FILE,
      path: '$.recordings.deliver',
      message: 'delivering voicemail needs persist: true (the audio must be stored first)',
    },
  ]);
  expect(validate({ transcribe: { language: 'en-US' } })).toEqual([
    {
      file: FILE,
      path: '$.recordings.transcribe',
      message: 'transcripts go with delivered messages: set recordings.deliver too',
    },
  ]);
});

test('a webhook URL must be https and public; loopback only where local runs allow it', () => {
  const hook = (url: string) => ({ deliver: { webhook: { url } } });
  expect(validate(hook('http://hooks.contoso.com/vm'))).toEqual([
    { file: FILE, path: '$.recordings.deliver.webhook.url', message: 'the webhook URL must be an https URL' },
  ]);
  expect(validate(hook('https://192.168.1.10/vm'))).toEqual([
    {
      file: FILE,
      path: '$.recordings.deliver.webhook.url',
      message: 'the webhook URL must not point at a private address',
    },
  ]);
  expect(validate(hook('http://127.0.0.1:8080/vm'))).toHaveLength(1);
  expect(validate(hook('http://127.0.0.1:8080/vm'), true)).toEqual([]);
});

test('addresses, recipients, languages and an empty delivery are refused by the schema', () => {
  const paths = (r: unknown) => validate(r).map((p) => p.path);
  expect(paths({ deliver: { mail: { to: ['not-an-address'] } } })).toEqual([
    '$.recordings.deliver.mail.to[0]',
  ]);
  expect(paths({ deliver: { mail: { to: [] } } })).toEqual(['$.recordings.deliver.mail.to']);
  expect(
    paths({ deliver: { mail: { to: Array.from({ length: 21 }, (_, i) => `p${i}@contoso.com`) } } }),
  ).toEqual(['$.recordings.deliver.mail.to']);
  expect(
    paths({ transcribe: { language: 'english' }, deliver: { mail: { to: ['a@contoso.com'] } } }),
  ).toEqual(['$.recordings.transcribe.language']);
  expect(validate({ deliver: {} })).toEqual([
    { file: FILE, path: '$.recordings.deliver', message: 'name mail, webhook or both' },
  ]);
  expect(paths({ timeZone: 'Mars/Olympus', deliver: { mail: { to: ['a@contoso.com'] } } })).toEqual([
    '$.recordings.timeZone',
  ]);
});
