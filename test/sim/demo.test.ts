import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

/** `npm run demo` as users run it (compiled; `npm test` builds first): every scenario, exit code 0. */
const ROOT = join(__dirname, '..', '..');

test('the demo places every sample call and prints their timelines', async () => {
  const { stdout } = await promisify(execFile)(process.execPath, [join(ROOT, 'dist', 'sim', 'demo.js')], {
    cwd: ROOT,
    timeout: 90_000,
  });
  const sections = stdout.split(/^=== /m).slice(1);
  expect(sections).toHaveLength(7);
  const [menu, voicemail, afterHours, blocked, hangUp, order, alert] = sections as [
    string,
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  expect(menu).toMatch(/transfer to \+14255550150/);
  expect(menu).toMatch(/nodes: +welcome > mainMenu > openingHours > mainMenu > frontDesk/);
  expect(menu).toMatch(/result: +answered by \+14255550150 \(0\/7015\)/);
  expect(voicemail).toMatch(
    /recording: stored in blob recordings\/\+14255550100\/.+\.wav \(192044 bytes, 6 s\)/,
  );
  expect(afterHours).toMatch(/redirect to \+14255550177, \+14255550178/);
  expect(afterHours).toMatch(/answered by \+14255550178/);
  expect(blocked).toMatch(/reject \(forbidden\)/);
  expect(blocked).toMatch(/decision: +reject \(rule: blocked callers\)/);
  expect(hangUp).toMatch(/200\/540000/);
  expect(hangUp).not.toMatch(/recording: stored/);
  // The order number is looked up over HTTP (the simulator's order desk), its status chooses the
  // prompt, and the message left after it arrives as an e-mail with the audio and a transcript.
  expect(order).toMatch(/playPrompt one-moment-please\.wav/);
  expect(order).toMatch(/playPrompt order-delayed\.wav/);
  expect(order).toMatch(/nodes: +orderNumber > orderLookup > orderStatus > voicemail > thanks/);
  expect(order).toMatch(/lookup: +orderLookup: success \(200\)/);
  expect(order).toMatch(/variables: orderNumber=4711, orderStatus=delayed/);
  expect(order).toMatch(/recording: stored in blob/);
  // The outbound alert: missed, redialled, acknowledged with 1, reported by one verified webhook.
  expect(alert).toMatch(/attempt 1: notAnswered \(480\)/);
  expect(alert).toMatch(/attempt 2: answered \(200\)/);
  expect(alert).toMatch(/target +pressed 1/);
  expect(alert).toMatch(/outcome: +answered; keys: 1/);
  expect(
    alert.match(/webhook: +outboundCall\.completed .* signature verified; delivered after 1 attempt\(s\)/g),
  ).toHaveLength(1);
  expect(order).toMatch(
    /mailed: +from voicemail@contoso\.com to frontdesk@contoso\.com: "Contoso Dental voicemail from \+12065550127 \(8 s\)"/,
  );
  expect(order).toMatch(/attached: +voicemail-\d{14}-\d+\.wav \(audio\/wav, 256044 bytes\)/);
  expect(order).toMatch(
    /transcript: Hi, this is Dana Smith\. I need to move my cleaning on Thursday\. Please call me back\./,
  );
  expect(stdout).toMatch(/0 refused by the CSDL\/limits check/);
}, 120_000);
