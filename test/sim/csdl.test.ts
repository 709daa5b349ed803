import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  classifyCallsRequest,
  loadCsdl,
  validateActionBody,
  validateEntity,
  validateGraphLimits,
  type ValidationIssue,
} from '../../sim/graph/csdl';

const repoRoot = join(__dirname, '..', '..');
const vendoredCsdl = join(repoRoot, 'sim', 'graph', 'v1.0-calls.csdl.xml');
const sharedCsdl = join(repoRoot, '..', 'shared', 'graph', 'v1.0-calls.csdl.xml');

const model = loadCsdl(vendoredCsdl);

const paths = (issues: ValidationIssue[]): string[] => issues.map((issue) => issue.path);
const actionPaths = (action: string, body: unknown): string[] =>
  paths(validateActionBody(model, action, body));
const limitPaths = (action: string, body: unknown, allowHttpLoopback = false): string[] =>
  paths(validateGraphLimits(action, body, { allowHttpLoopback }));

// ---- bodies from the official Graph v1.0 examples (factories: tests mutate them) ------------------

const answerBody = () => ({
  callbackUri: 'https://bot.contoso.com/api/calls',
  acceptedModalities: ['audio'],
  mediaConfig: {
    '@odata.type': '#microsoft.graph.serviceHostedMediaConfig',
    preFetchMedia: [
      { uri: 'https://cdn.contoso.com/beep.wav', resourceId: 'f8971b04-b53e-418c-9222-c82ce681a582' },
      { uri: 'https://cdn.contoso.com/cool.wav', resourceId: '86dc814b-c172-4428-9112-60f8ecae1edb' },
    ],
  },
  participantCapacity: 200,
});

const rejectBody = () => ({ reason: 'busy' });

const pstnTarget = (phoneNumber: string) => ({
  '@odata.type': '#microsoft.graph.invitationParticipantInfo',
  identity: {
    '@odata.type': '#microsoft.graph.identitySet',
    phone: { '@odata.type': '#microsoft.graph.identity', id: phoneNumber },
  },
});

const redirectBody = () => ({
  targets: [pstnTarget('+12345678901'), pstnTarget('+12345678902')],
  timeout: 60,
  callbackUri: 'https://bot.contoso.com/api/calls/24701998-1a73-4d42-8085-bf46ed0ae039',
});

const mediaPrompt = (uri = 'https://cdn.contoso.com/beep.wav') => ({
  '@odata.type': '#microsoft.graph.mediaPrompt',
  mediaInfo: {
    '@odata.type': '#microsoft.graph.mediaInfo',
    uri,
    resourceId: '1D6DE2D4-CD51-4309-8DAA-70768651088E',
  },
});

const playPromptBody = () => ({
  clientContext: 'd45324c1-fcb5-430a-902c-f20af696537c',
  prompts: [mediaPrompt()],
});

const recordResponseBody = () => ({
  bargeInAllowed: true,
  clientContext: 'd45324c1-fcb5-430a-902c-f20af696537c',
  prompts: [mediaPrompt()],
  maxRecordDurationInSeconds: 10,
  initialSilenceTimeoutInSeconds: 5,
  maxSilenceTimeoutInSeconds: 2,
  playBeep: true,
  stopTones: ['#', '1', '*'],
});

const subscribeToToneBody = () => ({ clientContext: 'fd1c7836-4d84-4e24-b6aa-23188688cc54' });

const transferBody = () => ({
  transferTarget: {
    endpointType: 'default',
    identity: { phone: { '@odata.type': '#microsoft.graph.identity', id: '+12345678901' } },
    languageId: 'languageId-value',
    region: 'region-value',
  },
});

const createCallBody = () => ({
  '@odata.type': '#microsoft.graph.call',
  callbackUri: 'https://bot.contoso.com/callback',
  source: {
    '@odata.type': '#microsoft.graph.participantInfo',
    identity: {
      '@odata.type': '#microsoft.graph.identitySet',
      applicationInstance: {
        '@odata.type': '#microsoft.graph.identity',
        displayName: 'Calling Bot',
        id: '3d913abb-aec0-4964-8fa6-3c6850c4f278',
      },
    },
    countryCode: null,
    endpointType: null,
    region: null,
    languageId: null,
  },
  targets: [pstnTarget('+12345678901')],
  requestedModalities: ['audio'],
  mediaConfig: { '@odata.type': '#microsoft.graph.serviceHostedMediaConfig' },
  tenantId: 'aa67bd4c-8475-432d-bd41-39f255720e0a',
});

// ---- loading ------------------------------------------------------------------------------------

describe('loadCsdl', () => {
  const savedEnv = process.env.GRAPH_CSDL_PATH;
  afterEach(() => {
    if (savedEnv === undefined) delete process.env.GRAPH_CSDL_PATH;
    else process.env.GRAPH_CSDL_PATH = savedEnv;
  });

  it('defaults to the shared CSDL next to the repository, else the vendored copy', () => {
    delete process.env.GRAPH_CSDL_PATH;
    expect(loadCsdl().source).toBe(existsSync(sharedCsdl) ? sharedCsdl : vendoredCsdl);
  });

  it('honours GRAPH_CSDL_PATH', () => {
    process.env.GRAPH_CSDL_PATH = vendoredCsdl;
    expect(loadCsdl().source).toBe(vendoredCsdl);
  });

  it('parses each file once', () => {
    expect(loadCsdl(vendoredCsdl)).toBe(model);
  });

  it('parses types, inheritance, facets, enums and call-bound actions', () => {
    const call = model.structuredTypes.get('microsoft.graph.call');
    expect(call).toMatchObject({
      kind: 'entity',
      baseType: 'microsoft.graph.entity',
      open: true,
      abstract: false,
    });
    expect(call?.properties.get('callbackUri')).toEqual({
      name: 'callbackUri',
      type: { name: 'Edm.String', collection: false },
      nullable: false,
      asciiOnly: false,
    });
    expect(call?.properties.get('targets')?.type).toEqual({
      name: 'microsoft.graph.invitationParticipantInfo',
      collection: true,
    });
    expect([...(call?.navigationProperties.keys() ?? [])]).toEqual([
      'audioRoutingGroups',
      'contentSharingSessions',
      'operations',
      'participants',
    ]);
    expect(model.structuredTypes.get('microsoft.graph.entity')?.keys).toEqual(['id']);
    expect(model.structuredTypes.get('microsoft.graph.mediaConfig')?.abstract).toBe(true);
    expect(model.enumTypes.get('microsoft.graph.rejectReason')?.members).toEqual([
      'none',
      'busy',
      'forbidden',
      'unknownFutureValue',
    ]);
    expect(model.enumTypes.get('microsoft.graph.onlineMeetingVideoDisabledReason')?.flags).toBe(true);

    const callActions = model.actions
      .filter((action) => action.binding?.name === 'microsoft.graph.call' && !action.binding.collection)
      .map((action) => action.name.replace('microsoft.graph.', ''));
    expect(callActions).toEqual(
      expect.arrayContaining([
        'answer',
        'reject',
        'redirect',
        'playPrompt',
        'recordResponse',
        'subscribeToTone',
        'cancelMediaProcessing',
        'transfer',
        'keepAlive',
      ]),
    );
    const answer = model.actions.find((action) => action.name === 'microsoft.graph.answer');
    expect(answer?.parameters.map((p) => [p.name, p.nullable, p.optional, p.asciiOnly])).toEqual([
      ['callbackUri', false, false, true],
      ['mediaConfig', false, false, false],
      ['acceptedModalities', true, false, false],
      ['participantCapacity', true, false, false],
      ['callOptions', true, true, false],
    ]);
  });

  describe('with other CSDL documents', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'csdl-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (name: string, xml: string): string => {
      const file = join(dir, name);
      writeFileSync(file, xml);
      return file;
    };

    it('reads an edmx:Edmx document and honours a declared Alias', () => {
      const file = write(
        'edmx.xml',
        `<?xml version="1.0"?>
        <edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">
          <edmx:DataServices>
            <Schema Namespace="contoso.ivr" Alias="ivr" xmlns="http://docs.oasis-open.org/odata/ns/edm">
              <ComplexType Name="sample"><Property Name="when" Type="Edm.Date" /></ComplexType>
            </Schema>
          </edmx:DataServices>
        </edmx:Edmx>`,
      );
      const edmx = loadCsdl(file);
      expect(validateEntity(edmx, 'ivr.sample', { when: '2024-02-29' })).toEqual([]);
      expect(paths(validateEntity(edmx, 'contoso.ivr.sample', { when: '2024-2-29' }))).toEqual(['when']);
    });

    it('refuses a CSDL that references undeclared types', () => {
      const file = write(
        'dangling.xml',
        `<Schema Namespace="microsoft.graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
          <ComplexType Name="a" BaseType="graph.missingBase"><Property Name="b" Type="graph.missing" /></ComplexType>
          <ComplexType Name="c"><Property Name="d" Type="Edm.Stream" /></ComplexType>
        </Schema>`,
      );
      expect(() => loadCsdl(file)).toThrow(
        /unknown BaseType microsoft\.graph\.missingBase[\s\S]*unknown type microsoft\.graph\.missing[\s\S]*unknown type Edm\.Stream/,
      );
    });

    it('refuses malformed XML', () => {
      const file = write('broken.xml', '<Schema Namespace="x"><ComplexType Name="a"></Schema>');
      expect(() => loadCsdl(file)).toThrow();
    });
  });

  (existsSync(sharedCsdl) ? it : it.skip)('vendors a byte-identical copy of the shared CSDL', () => {
    expect(readFileSync(vendoredCsdl).equals(readFileSync(sharedCsdl))).toBe(true);
  });
});

// ---- CSDL validation ------------------------------------------------------------------------------

describe('validateActionBody / validateEntity accept the official examples', () => {
  it.each([
    ['answer', answerBody()],
    ['reject', rejectBody()],
    ['redirect', redirectBody()],
    ['playPrompt', playPromptBody()],
    ['recordResponse', recordResponseBody()],
    ['subscribeToTone', subscribeToToneBody()],
    ['cancelMediaProcessing', subscribeToToneBody()],
    ['transfer', transferBody()],
    ['keepAlive', {}],
    ['keepAlive', undefined],
  ])('%s', (action, body) => {
    expect(validateActionBody(model, action, body)).toEqual([]);
    expect(validateGraphLimits(action, body)).toEqual([]);
  });

  it('create call', () => {
    expect(validateEntity(model, 'graph.call', createCallBody())).toEqual([]);
    expect(validateEntity(model, 'microsoft.graph.call', createCallBody())).toEqual([]);
    expect(validateGraphLimits('create', createCallBody())).toEqual([]);
  });

  it('namespace-qualified action names', () => {
    expect(validateActionBody(model, 'microsoft.graph.answer', answerBody())).toEqual([]);
    expect(validateActionBody(model, 'graph.reject', rejectBody())).toEqual([]);
  });

  it('@odata control information anywhere', () => {
    const body = { ...playPromptBody(), 'prompts@odata.type': '#Collection(microsoft.graph.prompt)' };
    expect(validateActionBody(model, 'playPrompt', body)).toEqual([]);
  });
});

describe('validateActionBody reports', () => {
  it('a misspelled parameter (and the required one it was meant to be)', () => {
    const { callbackUri, ...rest } = answerBody();
    const issues = validateActionBody(model, 'answer', { ...rest, callbackUrl: callbackUri });
    expect(paths(issues)).toEqual(['callbackUrl', 'callbackUri']);
    expect(issues[0]?.message).toMatch(/unknown parameter "callbackUrl" of answer/);
    expect(issues[1]?.message).toMatch(/required parameter "callbackUri"/);
  });

  it('a wrong primitive type', () => {
    const issues = validateActionBody(model, 'redirect', { ...redirectBody(), timeout: '60' });
    expect(issues).toEqual([
      { path: 'timeout', message: expect.stringMatching(/expected Edm\.Int32.*got "60"/) },
    ]);
    expect(actionPaths('redirect', { ...redirectBody(), timeout: 60.5 })).toEqual(['timeout']);
    expect(actionPaths('answer', { ...answerBody(), participantCapacity: 2 ** 31 })).toEqual([
      'participantCapacity',
    ]);
    expect(actionPaths('recordResponse', { ...recordResponseBody(), bargeInAllowed: 'yes' })).toEqual([
      'bargeInAllowed',
    ]);
  });

  it('an enum violation', () => {
    const issues = validateActionBody(model, 'reject', { reason: 'later' });
    expect(issues).toEqual([
      {
        path: 'reason',
        message: expect.stringMatching(/"later" is not a member of microsoft\.graph\.rejectReason/),
      },
    ]);
    expect(actionPaths('answer', { ...answerBody(), acceptedModalities: ['audio', 'smell'] })).toEqual([
      'acceptedModalities[1]',
    ]);
  });

  it('a missing required parameter', () => {
    const { mediaConfig: _mediaConfig, ...body } = answerBody();
    expect(validateActionBody(model, 'answer', body)).toEqual([
      { path: 'mediaConfig', message: 'required parameter "mediaConfig" of answer is missing' },
    ]);
    expect(actionPaths('playPrompt', { clientContext: 'x' })).toEqual(['prompts']);
    expect(actionPaths('transfer', {})).toEqual(['transferTarget']);
  });

  it('null where Nullable="false"', () => {
    expect(actionPaths('redirect', { ...redirectBody(), targets: null })).toEqual(['targets']);
    expect(actionPaths('playPrompt', { prompts: [null] })).toEqual(['prompts[0]']);
    const target = { ...pstnTarget('+1'), identity: null };
    expect(actionPaths('redirect', { targets: [target] })).toEqual(['targets[0].identity']);
    // Nullable parameters accept null.
    expect(actionPaths('reject', { reason: null, callbackUri: null })).toEqual([]);
  });

  it('an abstract type without @odata.type', () => {
    const issues = validateActionBody(model, 'answer', {
      ...answerBody(),
      mediaConfig: { preFetchMedia: [] },
    });
    expect(issues).toEqual([
      {
        path: 'mediaConfig',
        message: expect.stringMatching(
          /mediaConfig is abstract.*appHostedMediaConfig, .*serviceHostedMediaConfig/,
        ),
      },
    ]);
    const { '@odata.type': _type, ...untypedPrompt } = mediaPrompt();
    expect(actionPaths('playPrompt', { prompts: [untypedPrompt] })).toEqual(['prompts[0]']);
    expect(actionPaths('playPrompt', { prompts: [{ '@odata.type': '#microsoft.graph.prompt' }] })).toEqual([
      'prompts[0].@odata.type',
    ]);
  });

  it('a wrong or unknown @odata.type', () => {
    const wrong = { ...answerBody(), mediaConfig: { '@odata.type': '#microsoft.graph.mediaPrompt' } };
    expect(validateActionBody(model, 'answer', wrong)).toEqual([
      {
        path: 'mediaConfig.@odata.type',
        message: 'microsoft.graph.mediaPrompt is neither microsoft.graph.mediaConfig nor derived from it',
      },
    ]);
    const unknown = {
      ...answerBody(),
      mediaConfig: { '@odata.type': '#microsoft.graph.serviceHostedMedia' },
    };
    expect(actionPaths('answer', unknown)).toEqual(['mediaConfig.@odata.type']);
    expect(actionPaths('answer', { ...answerBody(), mediaConfig: { '@odata.type': 42 } })).toEqual([
      'mediaConfig.@odata.type',
    ]);
  });

  it('properties a derived type does not declare', () => {
    const appHosted = { '@odata.type': '#microsoft.graph.appHostedMediaConfig', preFetchMedia: [] };
    expect(actionPaths('answer', { ...answerBody(), mediaConfig: appHosted })).toEqual([
      'mediaConfig.preFetchMedia',
    ]);
  });

  it('unknown and missing properties of closed complex types', () => {
    const prompt = mediaPrompt();
    const { uri: _uri, ...mediaInfo } = prompt.mediaInfo;
    const body = {
      prompts: [{ ...prompt, loop: false, mediaInfo: { ...mediaInfo, url: 'https://x/y.wav' } }],
    };
    expect(actionPaths('playPrompt', body)).toEqual([
      'prompts[0].mediaInfo.url',
      'prompts[0].mediaInfo.uri',
      'prompts[0].loop',
    ]);
  });

  it('typed dynamic properties of open types, down to the leaf', () => {
    const body = redirectBody();
    body.targets[0]!.identity.phone.id = 12345678901 as unknown as string;
    expect(validateActionBody(model, 'redirect', body)).toEqual([
      { path: 'targets[0].identity.phone.id', message: 'expected Edm.String, got 12345678901' },
    ]);
    const unknownType = transferBody();
    unknownType.transferTarget.identity.phone['@odata.type'] = '#microsoft.graph.telephone';
    expect(actionPaths('transfer', unknownType)).toEqual(['transferTarget.identity.phone.@odata.type']);
  });

  it('collections that are not arrays and objects that are not objects', () => {
    expect(actionPaths('answer', { ...answerBody(), acceptedModalities: 'audio' })).toEqual([
      'acceptedModalities',
    ]);
    expect(actionPaths('transfer', { transferTarget: 'sip:alice@contoso.com' })).toEqual(['transferTarget']);
  });

  it('non-ASCII text in a Unicode="false" parameter', () => {
    expect(validateActionBody(model, 'subscribeToTone', { clientContext: 'café' })).toEqual([
      { path: 'clientContext', message: 'must contain only ASCII characters (Unicode="false")' },
    ]);
  });

  it('instance annotations other than @odata.*', () => {
    const body = redirectBody();
    expect(
      actionPaths('redirect', { ...body, targets: [{ ...body.targets[0], '@contoso.tag': 'x' }] }),
    ).toEqual(['targets[0].@contoso.tag']);
  });

  it('parameters of parameterless keepAlive', () => {
    expect(validateActionBody(model, 'keepAlive', { clientContext: 'x' })).toEqual([
      { path: 'clientContext', message: 'unknown parameter "clientContext" of keepAlive (parameters: none)' },
    ]);
  });

  it('unknown actions, actions not bound to a call, and bodies that are not objects', () => {
    expect(validateActionBody(model, 'hangUp', {})).toEqual([
      { path: '', message: 'unknown action "hangUp"' },
    ]);
    expect(paths(validateActionBody(model, 'logTeleconferenceDeviceQuality', {}))).toEqual(['']);
    expect(actionPaths('reject', null)).toEqual(['']);
    expect(actionPaths('reject', ['busy'])).toEqual(['']);
    expect(actionPaths('reject', 'busy')).toEqual(['']);
  });
});

describe('validateEntity reports', () => {
  it('navigation properties in a create body', () => {
    expect(validateEntity(model, 'graph.call', { ...createCallBody(), participants: [] })).toEqual([
      {
        path: 'participants',
        message: 'navigation property "participants" of microsoft.graph.call cannot be set in a request body',
      },
    ]);
  });

  it('a missing or null callbackUri (not nullable) but not the service-assigned key id', () => {
    const { callbackUri: _callbackUri, ...body } = createCallBody();
    expect(paths(validateEntity(model, 'graph.call', body))).toEqual(['callbackUri']);
    expect(paths(validateEntity(model, 'graph.call', { ...body, callbackUri: null }))).toEqual([
      'callbackUri',
    ]);
  });

  it('an @odata.type that is not the declared type or derived from it', () => {
    const body = { ...createCallBody(), '@odata.type': '#microsoft.graph.participant' };
    expect(paths(validateEntity(model, 'graph.call', body))).toEqual(['@odata.type']);
  });

  it('wrong values deep in the body, while open types keep untyped extras', () => {
    const body = createCallBody();
    body.source.identity.applicationInstance.id = 7 as unknown as string;
    const issues = validateEntity(model, 'graph.call', {
      ...body,
      requestedModalities: ['audio', 'smell'],
      subject: 42,
      contosoTrackingId: 'allowed: microsoft.graph.call is an open type',
    });
    expect(paths(issues)).toEqual([
      'source.identity.applicationInstance.id',
      'requestedModalities[1]',
      'subject',
    ]);
  });

  it('values that are not objects', () => {
    expect(validateEntity(model, 'graph.call', [])).toEqual([
      { path: '', message: 'expected an object (microsoft.graph.call), got an array' },
    ]);
  });

  it('flags enums, Int32 and Guid values of other types', () => {
    const restricted = (contentSharingDisabled: string) =>
      validateEntity(model, 'graph.onlineMeetingRestricted', { contentSharingDisabled });
    expect(restricted('watermarkProtection,unknownFutureValue')).toEqual([]);
    expect(paths(restricted('watermarkProtection,screenshot'))).toEqual(['contentSharingDisabled']);
    expect(paths(validateEntity(model, 'graph.resultInfo', { code: 200, subcode: 5.5 }))).toEqual([
      'subcode',
    ]);
    const quality = {
      callChainId: '3d913abb-aec0-4964-8fa6-3c6850c4f278',
      deviceDescription: 'Room system',
      deviceName: 'Contoso Room 1',
      mediaLegId: '3d913abb-aec0-4964-8fa6-3c6850c4f279',
      mediaQualityList: [],
      participantId: 'not-a-guid',
    };
    expect(paths(validateEntity(model, 'graph.teleconferenceDeviceQuality', quality))).toEqual([
      'participantId',
    ]);
  });

  it('throws for a type the model does not declare', () => {
    expect(() => validateEntity(model, 'graph.meeting', {})).toThrow(
      /no structured type microsoft\.graph\.meeting/,
    );
  });
});

describe('primitive formats', () => {
  let dir: string;
  let primitives: ReturnType<typeof loadCsdl>;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'csdl-'));
    const file = join(dir, 'primitives.xml');
    writeFileSync(
      file,
      `<Schema Namespace="microsoft.graph" xmlns="http://docs.oasis-open.org/odata/ns/edm">
        <ComplexType Name="sample">
          <Property Name="at" Type="Edm.DateTimeOffset" />
          <Property Name="on" Type="Edm.Date" />
          <Property Name="id" Type="Edm.Guid" />
          <Property Name="took" Type="Edm.Duration" />
          <Property Name="count" Type="Edm.Int64" />
          <Property Name="ratio" Type="Edm.Double" />
        </ComplexType>
      </Schema>`,
    );
    primitives = loadCsdl(file);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const check = (property: string, value: unknown): string[] =>
    paths(validateEntity(primitives, 'graph.sample', { [property]: value }));

  it.each([
    ['at', '2024-01-31T09:30:00Z'],
    ['at', '2024-01-31T09:30:00.1234567+05:30'],
    ['at', '2024-01-31T09:30-08:00'],
    ['on', '2024-12-31'],
    ['id', 'F8971B04-B53E-418C-9222-C82CE681A582'],
    ['took', 'PT0.045S'],
    ['took', 'P1DT2H'],
    ['took', '-PT5M'],
    ['count', 9007199254740991],
    ['ratio', 0.25],
    ['ratio', 'INF'],
  ])('%s accepts %p', (property, value) => {
    expect(check(property, value)).toEqual([]);
  });

  it.each([
    ['at', '2024-01-31T09:30:00'],
    ['at', '2024-01-31 09:30:00Z'],
    ['at', '2024-13-01T00:00:00Z'],
    ['on', '2024-1-31'],
    ['id', 'f8971b04b53e418c9222c82ce681a582'],
    ['took', 'PT'],
    ['took', 'P1Y'],
    ['took', 60],
    ['count', 1.5],
    ['ratio', '0.25'],
  ])('%s rejects %p', (property, value) => {
    expect(check(property, value)).toEqual([property]);
  });
});

// ---- documented limits ----------------------------------------------------------------------------

describe('validateGraphLimits reports', () => {
  it('redirect target count and timeout range', () => {
    const targets = Array.from({ length: 26 }, (_, i) => pstnTarget(`+1234567${String(i).padStart(4, '0')}`));
    expect(validateGraphLimits('redirect', { ...redirectBody(), targets })).toEqual([
      { path: 'targets', message: 'must hold 1 to 25 items, got 26' },
    ]);
    expect(limitPaths('redirect', { ...redirectBody(), targets: targets.slice(0, 25) })).toEqual([]);
    expect(limitPaths('redirect', { ...redirectBody(), targets: [] })).toEqual(['targets']);
    expect(validateGraphLimits('redirect', { ...redirectBody(), timeout: 10 })).toEqual([
      { path: 'timeout', message: 'must be an integer from 15 to 90, got 10' },
    ]);
    expect(limitPaths('redirect', { ...redirectBody(), timeout: 91 })).toEqual(['timeout']);
    expect(limitPaths('redirect', { ...redirectBody(), timeout: 15 })).toEqual([]);
    expect(limitPaths('redirect', { ...redirectBody(), timeout: 90 })).toEqual([]);
  });

  it('playPrompt prompt count', () => {
    const prompts = Array.from({ length: 21 }, () => mediaPrompt());
    expect(limitPaths('playPrompt', { prompts })).toEqual(['prompts']);
    expect(limitPaths('playPrompt', { prompts: prompts.slice(0, 20) })).toEqual([]);
    expect(limitPaths('playPrompt', { prompts: [] })).toEqual(['prompts']);
  });

  it('recordResponse prompt count, second ranges and stop tones', () => {
    expect(
      validateGraphLimits('recordResponse', {
        ...recordResponseBody(),
        prompts: [mediaPrompt(), mediaPrompt()],
      }),
    ).toEqual([{ path: 'prompts', message: 'must hold at most 1 items, got 2' }]);
    expect(
      limitPaths('recordResponse', { ...recordResponseBody(), maxRecordDurationInSeconds: 121 }),
    ).toEqual(['maxRecordDurationInSeconds']);
    expect(
      limitPaths('recordResponse', { ...recordResponseBody(), maxRecordDurationInSeconds: 120 }),
    ).toEqual([]);
    expect(
      limitPaths('recordResponse', { initialSilenceTimeoutInSeconds: 0, maxSilenceTimeoutInSeconds: 200 }),
    ).toEqual(['initialSilenceTimeoutInSeconds', 'maxSilenceTimeoutInSeconds']);
    expect(validateGraphLimits('recordResponse', { ...recordResponseBody(), stopTones: ['#', 'x'] })).toEqual(
      [{ path: 'stopTones[1]', message: 'must be one of 0 1 2 3 4 5 6 7 8 9 * #, got "x"' }],
    );
    expect(limitPaths('recordResponse', { stopTones: ['x'] })).toEqual(['stopTones[0]']);
  });

  it('clientContext longer than 256 characters, on any action', () => {
    expect(limitPaths('subscribeToTone', { clientContext: 'c'.repeat(256) })).toEqual([]);
    for (const action of ['subscribeToTone', 'playPrompt', 'recordResponse', 'cancelMediaProcessing']) {
      expect(validateGraphLimits(action, { clientContext: 'c'.repeat(257) })).toEqual([
        { path: 'clientContext', message: 'must be at most 256 characters, got 257' },
      ]);
    }
  });

  it('callbackUri that is not absolute https, unless loopback http is allowed', () => {
    const answer = (callbackUri: string) => ({ ...answerBody(), callbackUri });
    expect(validateGraphLimits('answer', answer('http://bot.contoso.com/api/calls'))).toEqual([
      {
        path: 'callbackUri',
        message: 'must be an absolute https URL, got "http://bot.contoso.com/api/calls"',
      },
    ]);
    expect(limitPaths('answer', answer('http://127.0.0.1:7071/api/calls'))).toEqual(['callbackUri']);
    for (const loopback of [
      'http://127.0.0.1:7071/api/calls',
      'http://127.8.9.10/x',
      'http://localhost/x',
      'http://[::1]:80/x',
    ]) {
      expect(limitPaths('answer', answer(loopback), true)).toEqual([]);
    }
    expect(limitPaths('answer', answer('http://bot.contoso.com/api/calls'), true)).toEqual(['callbackUri']);
    expect(limitPaths('answer', answer('http://127.0.0.1.nip.io/x'), true)).toEqual(['callbackUri']);
    for (const notAbsolute of [
      '/api/calls',
      'https:bot.contoso.com',
      ' https://bot.contoso.com',
      'https://',
    ]) {
      expect(limitPaths('reject', { callbackUri: notAbsolute })).toEqual(['callbackUri']);
    }
    expect(limitPaths('create', { ...createCallBody(), callbackUri: 'ftp://bot.contoso.com' })).toEqual([
      'callbackUri',
    ]);
  });

  it('media URIs that are not absolute https', () => {
    const answer = answerBody();
    answer.mediaConfig.preFetchMedia[1]!.uri = 'http://cdn.contoso.com/cool.wav';
    expect(limitPaths('answer', answer)).toEqual(['mediaConfig.preFetchMedia[1].uri']);
    expect(limitPaths('playPrompt', { prompts: [mediaPrompt(), mediaPrompt('beep.wav')] })).toEqual([
      'prompts[1].mediaInfo.uri',
    ]);
    expect(
      limitPaths('recordResponse', { prompts: [mediaPrompt('http://localhost:10000/beep.wav')] }, true),
    ).toEqual([]);
  });

  it('answer without audio or with app-hosted media', () => {
    expect(limitPaths('answer', { ...answerBody(), acceptedModalities: ['video'] })).toEqual([
      'acceptedModalities',
    ]);
    const { acceptedModalities: _modalities, ...withoutModalities } = answerBody();
    expect(limitPaths('answer', withoutModalities)).toEqual(['acceptedModalities']);
    const appHosted = {
      ...answerBody(),
      mediaConfig: { '@odata.type': '#microsoft.graph.appHostedMediaConfig' },
    };
    expect(limitPaths('answer', appHosted)).toEqual(['mediaConfig.@odata.type']);
  });

  it('reject reasons outside none|busy|forbidden', () => {
    expect(limitPaths('reject', { reason: 'unknownFutureValue' })).toEqual(['reason']);
    expect(limitPaths('reject', { reason: 'later' })).toEqual(['reason']);
    expect(limitPaths('reject', { reason: 'forbidden' })).toEqual([]);
  });

  it('transfer targets naming no party or several', () => {
    const transfer = (identity: object) => ({ transferTarget: { identity } });
    expect(limitPaths('transfer', transfer({ user: { id: 'a' }, phone: { id: '+1' } }))).toEqual([
      'transferTarget.identity',
    ]);
    expect(limitPaths('transfer', transfer({ device: { id: 'd' } }))).toEqual(['transferTarget.identity']);
    expect(limitPaths('transfer', transfer({ applicationInstance: { id: 'a' }, user: null }))).toEqual([]);
  });

  it('nothing for bodies the CSDL validator already refuses', () => {
    expect(validateGraphLimits('redirect', null)).toEqual([]);
    expect(validateGraphLimits('redirect', { targets: 'all', timeout: '60' })).toEqual([]);
  });
});

// ---- routing --------------------------------------------------------------------------------------

describe('classifyCallsRequest', () => {
  it.each([
    ['POST', '/communications/calls', { kind: 'create' }],
    ['POST', '/v1.0/communications/calls/', { kind: 'create' }],
    [
      'POST',
      '/v1.0/communications/calls/abc-123/answer',
      { kind: 'action', action: 'answer', callId: 'abc-123' },
    ],
    [
      'post',
      '/communications/calls/abc/microsoft.graph.playPrompt',
      { kind: 'action', action: 'playPrompt', callId: 'abc' },
    ],
    [
      'POST',
      '/communications/calls/abc/keepAlive?x=1',
      { kind: 'action', action: 'keepAlive', callId: 'abc' },
    ],
    ['POST', '/v1.0/Communications/Calls/a%2Fb/reject', { kind: 'action', action: 'reject', callId: 'a/b' }],
    ['DELETE', '/v1.0/communications/calls/abc', { kind: 'delete', callId: 'abc' }],
    ['GET', '/communications/calls/abc', { kind: 'get', callId: 'abc' }],
    [
      'GET',
      '/v1.0/communications/calls/abc/operations/op-1',
      { kind: 'get', callId: 'abc', operationId: 'op-1' },
    ],
    ['GET', '/communications/calls', { kind: 'unknown' }],
    ['PATCH', '/communications/calls/abc', { kind: 'unknown' }],
    ['GET', '/communications/calls/abc/answer', { kind: 'unknown' }],
    ['POST', '/communications/calls/abc/operations/op-1', { kind: 'unknown' }],
    ['POST', '/communications/calls/abc/participants/invite', { kind: 'unknown' }],
    ['POST', '/beta/communications/calls', { kind: 'unknown' }],
    ['POST', '/communications/onlineMeetings', { kind: 'unknown' }],
    ['DELETE', '/communications/calls/%E0%A4%A', { kind: 'unknown' }],
  ])('%s %s', (method, path, expected) => {
    expect(classifyCallsRequest(method, path)).toEqual(expected);
  });
});
