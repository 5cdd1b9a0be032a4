// Drives Rapport's GraphQL WebSocket endpoint with the reference
// graphql-transport-ws client (npm graphql-ws) and checks what a real
// frontend or device depends on.
//
//   node check.mjs <ws-url> <http-url> <token> <write.json>
//
// write.json holds {"query": ..., "variables": ...}: a mutation this script
// POSTs to <http-url> with <token> to make a change the subscriber may see.
// Exits non-zero, naming the failed check, if anything is wrong.
import { readFileSync } from 'node:fs';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';

const [wsURL, httpURL, token, writeFile] = process.argv.slice(2);
if (!writeFile) {
  console.error('usage: node check.mjs <ws-url> <http-url> <token> <write.json>');
  process.exit(2);
}
const write = JSON.parse(readFileSync(writeFile, 'utf8'));
const SYNC_CHANGES = 'subscription Live($v: Int!) { syncChanges(protocolVersion: $v) { changesWaiting } }';

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === undefined ? '' : ': ' + detail}`);
  if (!ok) failed++;
}
// Disposing a client that is between retries rejects its pending connect
// with a normal closure (1000 "All Subscriptions Gone"): expected, not a failure.
process.on('unhandledRejection', (e) => {
  if (e && e.code === 1000) return;
  console.error('unhandled rejection', e);
  process.exit(1);
});
async function dispose(c) {
  try {
    await c.dispose();
  } catch (e) {
    if (!e || e.code !== 1000) throw e;
  }
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const withTimeout = (p, ms, what) =>
  Promise.race([p, sleep(ms).then(() => { throw new Error(`timed out waiting for ${what}`); })]);

// client returns a graphql-ws client that records its connection attempts,
// close codes and acknowledgement payloads.
function client(connectionParams, retryAttempts = 0) {
  const seen = { connecting: 0, closes: [], ackPayloads: [] };
  const c = createClient({
    url: wsURL,
    webSocketImpl: WebSocket,
    retryAttempts,
    lazy: true,
    connectionParams,
    on: {
      connecting: () => { seen.connecting++; },
      connected: (_socket, payload) => { seen.ackPayloads.push(payload); },
      closed: (event) => { seen.closes.push(event && event.code); },
    },
  });
  return { c, seen };
}

// subscribe starts a subscription and returns its results as a queue.
function subscribe(c, variables) {
  const results = [];
  let wake = () => {};
  let error = null;
  let done = false;
  const dispose = c.subscribe({ query: SYNC_CHANGES, variables }, {
    next: (r) => { results.push(r); wake(); },
    error: (e) => { error = e; wake(); },
    complete: () => { done = true; wake(); },
  });
  return {
    dispose,
    get error() { return error; },
    get done() { return done; },
    async next(ms) {
      const deadline = Date.now() + ms;
      while (!results.length && !error && !done && Date.now() < deadline) {
        await new Promise((r) => { wake = r; setTimeout(r, Math.max(0, deadline - Date.now())); });
      }
      return results.shift();
    },
  };
}

async function postWrite() {
  const res = await fetch(httpURL, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json', Authorization: `Bearer ${token}` },
    body: JSON.stringify(write),
  });
  const body = await res.json();
  if (!res.ok || body.errors) throw new Error(`write failed: ${res.status} ${JSON.stringify(body.errors)}`);
}

// 1. A subscriber hears of a change made over HTTP; the ack echoes nothing.
{
  const { c, seen } = client({ Authorization: `Bearer ${token}` });
  const sub = subscribe(c, { v: 1 });
  try {
    await withTimeout(new Promise((resolve) => {
      const t = setInterval(() => { if (seen.ackPayloads.length) { clearInterval(t); resolve(); } }, 10);
    }), 10000, 'connection_ack');
    check('connection_ack carries no payload (never the token)', seen.ackPayloads[0] === undefined,
      JSON.stringify(seen.ackPayloads[0]));
    await sleep(500); // the server is listening once the subscription runs
    await postWrite();
    const r = await sub.next(10000);
    check('syncChanges sends changesWaiting after a write', r && r.data && r.data.syncChanges.changesWaiting === true,
      JSON.stringify(r ?? sub.error));
  } catch (e) {
    check('syncChanges round trip', false, e.message);
  } finally {
    sub.dispose();
    await dispose(c);
  }
}

// 2. An unsupported protocol version is a clear BAD_USER_INPUT error.
{
  const { c } = client({ token });
  const sub = subscribe(c, { v: 99 });
  const r = await sub.next(10000);
  const errs = (r && r.errors) || (Array.isArray(sub.error) ? sub.error : []);
  check('protocolVersion 99 is refused with BAD_USER_INPUT',
    errs.length > 0 && errs[0].extensions && errs[0].extensions.code === 'BAD_USER_INPUT', JSON.stringify(r ?? sub.error));
  sub.dispose();
  await dispose(c);
}

// 3. A bad token is closed with 4403 and the client does not reconnect.
{
  const { c, seen } = client({ Authorization: 'Bearer not-a-token' });
  const sub = subscribe(c, { v: 1 });
  await sub.next(5000);
  await sleep(1000); // time for any reconnect storm to show
  const code = sub.error && sub.error.code;
  check('a bad token closes with 4403', code === 4403, `error ${JSON.stringify(sub.error && { code: sub.error.code, reason: sub.error.reason })}`);
  check('no reconnect after 4403 (retryAttempts: 0)', seen.connecting === 1, `${seen.connecting} connection attempts`);
  sub.dispose();
  await dispose(c);
}

// 4. Even with retries on, 4403 backs off instead of looping.
{
  const { c, seen } = client({ Authorization: 'Bearer not-a-token' }, 5);
  const sub = subscribe(c, { v: 1 });
  await sleep(1500);
  check('with retries on, 4403 is retried with back-off, not in a loop', seen.connecting <= 2 && seen.closes.every((x) => x === 4403),
    `${seen.connecting} attempts in 1.5 s, closes ${JSON.stringify(seen.closes.slice(0, 5))}`);
  sub.dispose();
  await dispose(c);
}

console.log(failed ? `graphql-ws: ${failed} check(s) failed` : 'graphql-ws: all checks passed');
process.exit(failed ? 1 : 0);
