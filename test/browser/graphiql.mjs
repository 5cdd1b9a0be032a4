// Drives Rapport's GraphiQL page in a real headless Chromium and checks what
// a newcomer depends on: /favicon.ico is served; before a token is given no
// request carries a made-up bearer token (nor any request is made); with a
// token the schema loads; and a subscription runs over the WebSocket
// (graphql-transport-ws, token in connection_init) and shows an event after
// a write.
//
//   node graphiql.mjs <base-url> <token> <write-request-json>
//
// <write-request-json> is a GraphQL request body the script POSTs (with the
// token) once the subscription is running, to cause an event. Exits non-zero,
// naming the failed check, if anything is wrong.
import { chromium } from 'playwright-core';

const [base, token, write] = process.argv.slice(2);
if (!base || !token || !write) {
  console.error('usage: node graphiql.mjs <base-url> <token> <write-request-json>');
  process.exit(2);
}

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === undefined ? '' : ': ' + detail}`);
  if (!ok) failed++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(pred, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await sleep(100);
  }
  return false;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const gqlRequests = [];
  page.on('request', (r) => {
    if (new URL(r.url()).pathname === '/graphql') gqlRequests.push({ auth: r.headers()['authorization'] || '', body: r.postData() || '' });
  });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const frames = { sent: [], received: [] };
  page.on('websocket', (ws) => {
    ws.on('framesent', (f) => frames.sent.push(String(f.payload)));
    ws.on('framereceived', (f) => frames.received.push(String(f.payload)));
  });

  const icon = await page.request.get(base + '/favicon.ico');
  check('/favicon.ico is served as an icon', icon.status() === 200 && (icon.headers()['content-type'] || '').startsWith('image/'),
    `${icon.status()} ${icon.headers()['content-type']}`);

  const resp = await page.goto(base + '/graphiql');
  check('GraphiQL opens with 200', resp.status() === 200, resp.status());
  await page.waitForSelector('.graphiql-container', { timeout: 15000 });
  await sleep(1500);
  check('before a token, no request carries an Authorization header',
    gqlRequests.every((r) => r.auth === ''), JSON.stringify(gqlRequests.map((r) => r.auth)));
  check('before a token, the page says a token is needed',
    (await page.locator('#token-status').innerText()).includes('No token'));

  await page.locator('#token').fill(token);
  await page.getByRole('button', { name: 'Use token' }).click();
  const introspected = await until(() => gqlRequests.some((r) => r.auth === 'Bearer ' + token && r.body.includes('__schema')), 15000);
  check('with a token, the schema is fetched with it', introspected, JSON.stringify(gqlRequests.map((r) => r.auth.slice(0, 20))));

  // Type a subscription into the editor (CodeMirror 5) and run it.
  await page.waitForSelector('.graphiql-query-editor .CodeMirror', { timeout: 15000 });
  await page.evaluate(() => {
    document.querySelector('.graphiql-query-editor .CodeMirror').CodeMirror
      .setValue('subscription Live { syncChanges(protocolVersion: 1) { changesWaiting } }');
  });
  await sleep(1000); // GraphiQL reads the operation name from the edit after a debounce
  await page.locator('.graphiql-execute-button').click();
  const acked = await until(() => frames.received.some((f) => f.includes('"connection_ack"')) &&
    frames.sent.some((f) => f.includes('"subscribe"') && f.includes('syncChanges')), 15000);
  check('the subscription runs over the WebSocket', acked, JSON.stringify(frames));
  check('connection_init carries the token',
    frames.sent.some((f) => f.includes('"connection_init"') && f.includes('Bearer ' + token)));

  // The server starts the subscription a moment after the client sends
  // "subscribe" (graphql-transport-ws acknowledges nothing then), and a
  // change committed before it started is not waiting for it. On a loaded
  // machine the write could land first, and no event was due. So: write,
  // and write again if no event followed within 5 s (at most 3 writes); an
  // event must follow a write made while the subscription runs.
  let got = false;
  const writes = [];
  for (let attempt = 0; attempt < 3 && !got; attempt++) {
    const w = await fetch(base + '/graphql', {
      method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: write,
    });
    const wb = await w.text();
    writes.push({ ok: w.status === 200 && !wb.includes('"errors"'), text: `${w.status} ${wb}` });
    got = await until(() => frames.received.some((f) => f.includes('"next"') && f.includes('changesWaiting')), 5000);
  }
  check('the write succeeds', writes.every((w) => w.ok), writes.map((w) => w.text).join(' | '));
  check('an event arrives after the write', got, JSON.stringify(frames.received));
  const shown = await until(async () => (await page.locator('.graphiql-response').innerText()).includes('changesWaiting'), 10000);
  check('the event is shown in the result pane', shown, await page.locator('.graphiql-response').innerText());
  check('no "not properly configured for websocket" error',
    !consoleErrors.some((e) => e.includes('not properly configured')) &&
    !(await page.locator('.graphiql-response').innerText()).includes('not properly configured'), consoleErrors.join(' | '));
} finally {
  await browser.close();
}
if (failed) {
  console.log(`graphiql page: ${failed} check(s) failed`);
  process.exit(1);
}
console.log('graphiql page: all checks passed');
