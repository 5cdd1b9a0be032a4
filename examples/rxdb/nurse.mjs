// nurse.mjs: a minimal offline nurse app on RxDB (in-memory storage) that
// replicates with Rapport. Copy it, with rapport-rxdb.mjs, to start an app.
//
//   npm install                       # in this directory (package.json pins RxDB)
//   node nurse.mjs http://localhost:8080/graphql "$TOKEN"
//
// It signs in with a nurse's token, lists her caseload, records a visit
// offline, goes online and syncs, then shows a conflict between her phone
// and her tablet being resolved. docs/rxdb.md explains each step.
import { createRxDatabase } from 'rxdb';
import { getRxStorageMemory } from 'rxdb/plugins/storage-memory';
import { randomUUID } from 'node:crypto';
import { collections, rxdbCollections, replicateRapport, conflictHandler } from './rapport-rxdb.mjs';

const [http = 'http://localhost:8080/graphql', token = process.env.TOKEN] = process.argv.slice(2);
if (!token) throw new Error('usage: node nurse.mjs <graphql url> <token>');
const ws = http.replace(/^http/, 'ws');

// A device: one RxDB database, its six collections replicating with Rapport.
// The install id is made once, at install, and kept (here: in memory).
async function device(name) {
  const db = await createRxDatabase({ name, storage: getRxStorageMemory(), multiInstance: false });
  const cols = rxdbCollections();
  cols.interactions.conflictHandler = conflictHandler(({ realMasterState, newDocumentState }) => {
    console.log(`${name}: conflict on visit ${realMasterState.id}: the server kept "${realMasterState.notes}";`
      + ` "${newDocumentState.notes}" waits in the conflict ledger for a person to resolve`);
  });
  await db.addCollections(cols);
  const installId = randomUUID();
  let reps = [];
  return {
    db,
    async online() {
      reps = Object.keys(collections).map((n) => replicateRapport({ collection: db[n], name: n, http, ws, token, installId, batchSize: 200 }));
      for (const r of reps) r.error$.subscribe((e) => console.error(`${name}: sync error: ${e.message}`));
      await Promise.all(reps.map((r) => r.awaitInSync()));
    },
    async offline() {
      await Promise.all(reps.map((r) => r.cancel()));
      reps = [];
    },
    async close() { await this.offline(); await db.close(); },
  };
}

// 1. Sign in and sync: the caseload arrives.
const phone = await device('phone');
await phone.online();
const patients = await phone.db.patients.find({ sort: [{ id: 'asc' }] }).exec();
console.log(`caseload: ${patients.length} patients`);
for (const p of patients) console.log(`  ${p.givenName} ${p.familyName}, born ${p.birthDate}`);
if (patients.length === 0) throw new Error('the token sees no patients');

// 2. No signal: record a visit. It is stored locally at once.
await phone.offline();
const visit = await phone.db.interactions.insert({
  id: randomUUID(), patientId: patients[0].id, mode: 'HOME_VISIT', occurredAt: new Date(Date.now() - 30 * 60e3).toISOString(),
  durationMinutes: 25, purpose: 'Wound dressing', notes: 'Dressing changed, healing well.', participantIds: [], otherPresent: [],
});
console.log(`offline: recorded visit ${visit.id} for ${patients[0].givenName} ${patients[0].familyName}`);

// 3. Signal returns: push the visit, pull what changed.
await phone.online();
// The push's own commit fires the stream; its RESYNC pulls the server's version back.
let version;
for (let i = 0; i < 100 && !version; i++) {
  version = (await phone.db.interactions.findOne(visit.id).exec()).version;
  if (!version) await new Promise((r) => setTimeout(r, 100));
}
console.log(`synced: visit ${visit.id} is on the server (version ${version})`);

// 4. Her tablet edits the same note while both are offline.
const tablet = await device('tablet');
await tablet.online();
await phone.offline();
await tablet.offline();
await (await phone.db.interactions.findOne(visit.id).exec()).incrementalPatch({ notes: 'Dressing changed; slight redness, review Thursday.' });
await (await tablet.db.interactions.findOne(visit.id).exec()).incrementalPatch({ notes: 'Dressing changed, healing well. Daughter present.' });
await phone.online();
await tablet.online();
const onPhone = (await phone.db.interactions.findOne(visit.id).exec()).notes;
const onTablet = (await tablet.db.interactions.findOne(visit.id).exec()).notes;
console.log(`converged: phone "${onPhone}", tablet "${onTablet}"`);
if (onPhone !== onTablet) throw new Error('devices did not converge');
await phone.close();
await tablet.close();
console.log('example: done');
process.exit(0);
