// check.mjs drives real, unmodified RxDB 17 (memory storage) against a live
// Rapport server, through the query builders in examples/rxdb. Run by
// server/rxdb_test.go:
//   node check.mjs <rapport-rxdb.mjs> <http url> <ws url> <config.json>
// It asks the Go side for server-side actions and facts with lines
// "NEED {json}" on stdout and reads one JSON line on stdin for each.
import { createRxDatabase } from 'rxdb';
import { getRxStorageMemory } from 'rxdb/plugins/storage-memory';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import readline from 'node:readline';

const [modPath, http, ws, cfgPath] = process.argv.slice(2);
const R = await import(modPath);
const cfg = JSON.parse(fs.readFileSync(cfgPath, 'utf8'));
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();

async function need(action, args = {}) {
  console.log('NEED ' + JSON.stringify({ action, ...args }));
  const { value } = await lines.next();
  return JSON.parse(value);
}

let failures = 0;
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  if (!ok) failures++;
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(what, cond, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await sleep(100);
  }
  check(false, `timed out: ${what}`);
  return false;
}

// counting wraps fetch, counting pushes, pulls and the documents they carry;
// hook(kind, n, run) may delay, drop or interrupt requests.
function counting(hook) {
  const c = { pushes: 0, pulls: 0, rowsPushed: 0, docsPulled: 0 };
  c.fetch = async (req) => {
    const body = JSON.parse(await req.clone().text());
    const kind = body.operationName?.startsWith('Push') ? 'push' : 'pull';
    const n = kind === 'push' ? ++c.pushes : ++c.pulls;
    if (kind === 'push') c.rowsPushed += body.variables.rows.length;
    const run = async () => {
      const res = await fetch(req);
      const text = await res.text();
      if (kind === 'pull') {
        const data = JSON.parse(text).data;
        if (data) c.docsPulled += Object.values(data)[0].documents.length;
      }
      return new Response(text, { status: res.status, headers: res.headers });
    };
    return hook ? hook(kind, n, run) : run();
  };
  return c;
}

let dbs = 0;
async function client(token, { names = Object.keys(R.collections), hook, batchSize = 100, pushBatchSize = 50, start = true, installId = randomUUID() } = {}) {
  const db = await createRxDatabase({ name: `client${dbs++}`, storage: getRxStorageMemory(), multiInstance: false });
  const conflicts = [];
  const cols = R.rxdbCollections();
  cols.interactions.conflictHandler = R.conflictHandler((input) => { conflicts.push(input); });
  await db.addCollections(cols);
  const net = counting(hook);
  const c = {
    db, net, conflicts, reps: {}, errors: [],
    start() {
      for (const n of names) {
        const rep = R.replicateRapport({ collection: db[n], name: n, http, ws, token, installId, batchSize, pushBatchSize, retryTime: 300, fetch: net.fetch });
        rep.error$.subscribe((e) => c.errors.push(String(e?.message ?? e)));
        c.reps[n] = rep;
      }
    },
    async sync() { await Promise.all(Object.values(c.reps).map((r) => r.awaitInSync())); },
    async offline() { await Promise.all(Object.values(c.reps).map((r) => r.cancel())); c.reps = {}; },
    async online() { c.start(); await c.sync(); },
    async close() { await c.offline(); await db.close(); },
    async get(name, id) { const d = await db[name].findOne(id).exec(); return d ? d.toJSON() : null; },
    async all(name) { return (await db[name].find().exec()).map((d) => d.toJSON()); },
  };
  if (start) { c.start(); await c.sync(); }
  return c;
}

const X = cfg.draft; // a draft interaction of the nurse, patient A1

// 1. Two devices of one nurse converge after offline edits to different
// fields (merged) and to the same clinical field (server keeps its value,
// the other goes to the conflict ledger, both devices take the master).
{
  const phone = await client(cfg.nurse);
  const tablet = await client(cfg.nurse);
  check((await phone.get('interactions', X)) !== null && (await tablet.get('interactions', X)) !== null, 'both devices pulled the draft');
  await phone.offline(); await tablet.offline();
  await (await phone.db.interactions.findOne(X).exec()).incrementalPatch({ notes: 'phone: dressing changed' });
  await (await tablet.db.interactions.findOne(X).exec()).incrementalPatch({ durationMinutes: 45 });
  await phone.online(); await tablet.online();
  const merged = (d) => d && d.notes === 'phone: dressing changed' && d.durationMinutes === 45;
  await until('different fields merge on both devices', async () => merged(await phone.get('interactions', X)) && merged(await tablet.get('interactions', X)));
  check(true, 'different fields: both devices hold both edits');

  await phone.offline(); await tablet.offline();
  await (await phone.db.interactions.findOne(X).exec()).incrementalPatch({ notes: 'phone v2' });
  await (await tablet.db.interactions.findOne(X).exec()).incrementalPatch({ notes: 'tablet v2' });
  await phone.online(); await tablet.online();
  await until('same field converges to the master', async () => (await phone.get('interactions', X))?.notes === 'phone v2' && (await tablet.get('interactions', X))?.notes === 'phone v2');
  check(tablet.conflicts.length >= 1, `the tablet resolved the collision with the master (${tablet.conflicts.length})`);
  check(phone.conflicts.length === 0, 'the phone saw no conflict');
  const ledger = await need('ledger', { id: X });
  check(ledger.open === 1 && ledger.deviceValues.includes('tablet v2'), `the ledger holds the tablet's notes once (${JSON.stringify(ledger)})`);
  await phone.close(); await tablet.close();
}

// 2. A 1,000-document offline push, and a fresh device's initial pull, match
// the server. Deletes propagate both ways.
let bulk = [];
{
  const phone = await client(cfg.nurse, { start: false });
  const at = new Date(Date.now() - 3600e3).toISOString();
  bulk = Array.from({ length: 1000 }, (_, i) => ({ id: randomUUID(), patientId: cfg.patientA2, mode: 'HOME_VISIT', occurredAt: at,
    durationMinutes: 10 + (i % 50), purpose: 'bulk', notes: `bulk ${i}`, participantIds: [], otherPresent: [] }));
  await phone.db.interactions.bulkInsert(bulk);
  const t0 = Date.now();
  await phone.online();
  const server = await need('count', { purpose: 'bulk' });
  check(server.n === 1000, `1,000 offline visits pushed once each (${server.n} on the server, ${Date.now() - t0} ms)`);
  check(phone.conflicts.length === 0, 'no conflicts for new visits');

  const fresh = await client(cfg.nurse, { batchSize: 100 });
  const mine = new Map((await fresh.all('interactions')).map((d) => [d.id, d]));
  const total = await need('visible', {});
  check(mine.size === total.interactions, `a fresh device pulled every visible interaction (${mine.size} of ${total.interactions})`);
  check(bulk.every((b) => mine.get(b.id)?.notes === b.notes && mine.get(b.id)?.version === 1), 'the pulled visits match what was pushed');
  check((await fresh.all('patients')).length === total.patients, `patients: ${total.patients}`);

  // deletes, device → server → other device, and server → device
  await (await phone.db.interactions.findOne(bulk[0].id).exec()).remove();
  await until('a delete on one device reaches the other', async () => (await fresh.get('interactions', bulk[0].id)) === null);
  check((await need('exists', { id: bulk[0].id })).exists === false, 'the server deleted the draft');
  await need('delete', { id: bulk[1].id });
  await until('a delete on the server reaches the devices', async () => (await phone.get('interactions', bulk[1].id)) === null && (await fresh.get('interactions', bulk[1].id)) === null);
  check(true, 'deletes propagate both ways');
  await phone.close(); await fresh.close();
}

// 3. An interrupted pull and an interrupted push resume from their
// checkpoints; answers delayed or lost never make a device see its own push
// as a conflict.
{
  const total = (await need('visible', {})).interactions;
  let cut = true;
  const reader = await client(cfg.nurse, { names: ['interactions'], batchSize: 100, start: false,
    hook: async (kind, n, run) => {
      const res = await run();
      if (kind === 'pull' && n === 4 && cut) { cut = false; throw new Error('connection lost after the server answered'); }
      return res;
    } });
  reader.start();
  await until('three pages pulled', async () => reader.net.pulls >= 3);
  await reader.offline(); // the app is killed
  const before = reader.net.docsPulled;
  await reader.online();
  const got = (await reader.all('interactions')).length;
  check(got === total, `interrupted pull completes (${got} of ${total})`);
  check(reader.net.docsPulled <= total + 2 * 100, `and resumes from its checkpoint (${reader.net.docsPulled} documents sent for ${total}; ${before} before the restart)`);

  let dropped = 0;
  const writer = await client(cfg.nurse, { names: ['interactions'], pushBatchSize: 50, start: false,
    hook: async (kind, n, run) => {
      if (kind !== 'push') return run();
      await sleep(200); // a slow network
      const res = await run();
      if (n % 3 === 2) { dropped++; throw new Error('answer lost'); }
      return res;
    } });
  const at = new Date(Date.now() - 7200e3).toISOString();
  await writer.db.interactions.bulkInsert(Array.from({ length: 300 }, (_, i) => ({ id: randomUUID(), patientId: cfg.patientA2, mode: 'PHONE',
    occurredAt: at, purpose: 'resume', notes: `resume ${i}`, participantIds: [], otherPresent: [] })));
  await writer.online();
  // then edit them all once more, with more answers lost
  for (const d of await writer.db.interactions.find({ selector: { purpose: 'resume' } }).exec()) await d.incrementalPatch({ durationMinutes: 15 });
  await writer.sync();
  const n = await need('count', { purpose: 'resume', durationMinutes: 15 });
  check(n.n === 300, `300 visits pushed and edited once each despite ${dropped} lost answers (${n.n})`);
  check(writer.net.rowsPushed <= 600 + 50 * dropped, `retries resend only the unanswered batches (${writer.net.rowsPushed} rows)`);
  check(writer.conflicts.length === 0, `no push seen as a conflict (${writer.conflicts.length})`);
  const ledger = await need('ledger', { purpose: 'resume' });
  check(ledger.open === 0 && ledger.total === 0, 'no conflict recorded for retries');
  await reader.close(); await writer.close();
}

// 4. Scope: a patient leaving the caseload disappears without anything
// pushed back; one entering is backfilled with the records it names.
{
  const phone = await client(cfg.nurse);
  check((await phone.get('patients', cfg.patientA1)) !== null, 'patient A1 is on the phone');
  const pushes = phone.net.pushes;
  await need('leave', { patient: cfg.patientA1 });
  await until('the patient who left disappears', async () => (await phone.get('patients', cfg.patientA1)) === null
    && (await phone.all('interactions')).every((d) => d.patientId !== cfg.patientA1));
  check(true, 'the patient who left and her visits are gone from the phone');
  await sleep(500);
  check(phone.net.pushes === pushes, 'nothing was pushed back');
  await need('enter', { patient: cfg.patientB1 });
  await until('the patient who entered is backfilled', async () => (await phone.get('patients', cfg.patientB1)) !== null
    && (await phone.all('interactions')).some((d) => d.patientId === cfg.patientB1));
  const b1 = await phone.get('patients', cfg.patientB1);
  const b1Visit = (await phone.all('interactions')).find((d) => d.patientId === cfg.patientB1);
  await until("the newcomer's practice and clinician arrive", async () => (await phone.get('organizations', b1.registeredPracticeId)) !== null
    && (await phone.get('practitioners', b1Visit.practitionerId)) !== null);
  check(true, "the newcomer's practice and clinician came with her");
  check(phone.errors.length === 0, `no replication errors (${phone.errors.join('; ')})`);
  await phone.close();
}

// 5. A token from another caseload sees nothing of this one.
{
  const other = await client(cfg.outsider);
  const ids = new Set([cfg.patientA1, cfg.patientA2, cfg.patientB1]);
  const pats = await other.all('patients');
  const ints = await other.all('interactions');
  check(pats.every((p) => !ids.has(p.id)) && ints.every((i) => !ids.has(i.patientId)) && ints.every((i) => i.id !== X),
    `another caseload's token sees none of it (${pats.length} patients, ${ints.length} interactions)`);
  // and cannot write to it: an edit of the nurse's draft is refused without a trace
  await other.offline();
  await other.db.interactions.insert({ id: X, patientId: cfg.patientA1, mode: 'PHONE', occurredAt: new Date().toISOString(), purpose: 'x', notes: 'intruder', participantIds: [], otherPresent: [] });
  await other.online();
  check((await need('notes', { id: X })).notes !== 'intruder', 'its push did not touch the record');
  await other.close();
}

// 6. A caseload of 40 patients with up to 25 visits each, pulled onto a
// fresh device in pages of 7, so pages end inside one patient's visits and
// between patients: while it pulls, five patients of another practice enter
// the caseload and ten visits are edited. The device must end with exactly
// the server's patients and visits, at the server's versions, and must not
// have been sent the caseload over and over.
{
  const made = await need('caseload', { patients: 40, perPatient: 25, outside: 5 });
  let step = 0;
  const fresh = await client(cfg.nurse, { batchSize: 7, start: false,
    hook: async (kind, n, run) => {
      const res = await run();
      if (kind === 'pull' && n >= 8 && step === 0) { step = 1; await need('enterCaseload', {}); }
      else if (kind === 'pull' && n >= 30 && step === 1) { step = 2; await need('editSome', { n: 10 }); }
      return res;
    } });
  fresh.start();
  await fresh.sync();
  let diff = 'not compared';
  const same = async () => {
    const truth = await need('truth', {});
    const ints = new Map((await fresh.all('interactions')).map((d) => [d.id, d.version]));
    const pats = new Set((await fresh.all('patients')).map((d) => d.id));
    const want = Object.entries(truth.interactions);
    const missing = want.filter(([id, v]) => ints.get(id) !== v);
    const extra = [...ints.keys()].filter((id) => !(id in truth.interactions));
    const patsOff = truth.patients.filter((id) => !pats.has(id)).length + [...pats].filter((id) => !truth.patients.includes(id)).length;
    diff = `${want.length} visits on the server, ${ints.size} on the device, ${missing.length} missing or stale, ${extra.length} extra, ${patsOff} patients differ`;
    return missing.length === 0 && extra.length === 0 && patsOff === 0;
  };
  await until('the fresh device holds the caseload as the server does', same);
  check(step === 2, `the caseload changed while the device pulled (step ${step}, ${made.interactions} visits made)`);
  check(await same(), `the device holds exactly the server's patients and visits, at its versions (${diff})`);
  const visits = Object.keys((await need('truth', {})).interactions).length;
  check(fresh.net.docsPulled <= 2 * (visits + 200), `the caseload was not sent over and over (${fresh.net.docsPulled} documents for ${visits} visits)`);
  check(fresh.errors.length === 0, `no replication errors (${fresh.errors.join('; ')})`);
  await fresh.close();
}

if (failures > 0) {
  console.log(`rxdb: ${failures} checks failed`);
  process.exit(1);
}
console.log('rxdb: all checks passed');
process.exit(0);
