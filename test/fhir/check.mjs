// Reads Rapport's FHIR R4 API with a real FHIR client (fhir-kit-client) and
// validates every resource it emits with an independent R4 validator (the
// `fhir` package, FHIR.js). Run by server/fhir_node_test.go:
//
//   node check.mjs <base URL> <bearer token> <JSON: {"amendedEncounter": id, "missingPatient": id}> [bulk token]
//
// It searches every type the CapabilityStatement lists with _count=2,
// follows every `next` link to the end, reads each match back by id, and
// validates the CapabilityStatement, every Bundle, every resource and an
// OperationOutcome. With a bulk token it runs a Bulk Data $export (kick-off,
// status, manifest) and validates every NDJSON line of every file. It prints
// one line per type and exits 1 on any failure.
import { Client } from 'fhir-kit-client';
import fhirPkg from 'fhir';

const { Fhir } = fhirPkg;
const [baseUrl, token, extraJSON, bulkToken] = process.argv.slice(2);
const extra = JSON.parse(extraJSON || '{}');
const validator = new Fhir();
const client = new Client({ baseUrl, bearerToken: token });

let failures = 0;
let validated = 0;
const fail = (msg) => {
  failures++;
  console.log('FAIL ' + msg);
};

function validate(resource, where) {
  const res = validator.validate(resource, { errorOnUnexpected: true });
  validated++;
  const errors = (res.messages || []).filter((m) => m.severity === 'error');
  if (!res.valid || errors.length > 0) {
    fail(`${where}: ${resource.resourceType}/${resource.id} is not valid R4: ` +
      errors.map((m) => `${m.location}: ${m.message}`).join('; '));
  }
}

const cap = await client.capabilityStatement();
validate(cap, 'metadata');
const types = cap.rest[0].resource.map((r) => r.type);
const counts = {};

for (const type of types) {
  const rest = cap.rest[0].resource.find((r) => r.type === type);
  const canRead = rest.interaction.some((i) => i.code === 'read');
  const searchParams = { _count: 2 };
  if (type === 'Provenance') searchParams.target = 'Encounter/' + extra.amendedEncounter;
  let bundle = await client.search({ resourceType: type, searchParams });
  const seen = new Set();
  let pages = 0;
  let total = bundle.total;
  while (bundle) {
    pages++;
    validate(bundle, `${type} page ${pages}`);
    if (bundle.type !== 'searchset') fail(`${type}: bundle type ${bundle.type}`);
    for (const e of bundle.entry || []) {
      validate(e.resource, `${type} search`);
      if (e.search.mode !== 'match') continue;
      if (e.resource.resourceType !== type) fail(`${type}: a match of type ${e.resource.resourceType}`);
      if (seen.has(e.resource.id)) fail(`${type}: ${e.resource.id} appears on two pages`);
      seen.add(e.resource.id);
      if (canRead) {
        const again = await client.read({ resourceType: type, id: e.resource.id });
        if (again.id !== e.resource.id) fail(`${type}: read ${e.resource.id} returned ${again.id}`);
        validate(again, `${type} read`);
      }
    }
    if (pages > 1000) {
      fail(`${type}: paging does not end`);
      break;
    }
    bundle = await client.nextPage({ bundle });
  }
  if (seen.size === 0) fail(`${type}: the fixture should give at least one ${type}`);
  if (total !== undefined && total !== seen.size) fail(`${type}: total ${total} but ${seen.size} paged`);
  counts[type] = seen.size;
  console.log(`${type}: ${seen.size} resources in ${pages} pages`);
}

// Search with _include, as a client saving round trips would.
const withPatients = await client.search({ resourceType: 'Encounter', searchParams: { _include: 'Encounter:patient', _revinclude: 'Provenance:target' } });
validate(withPatients, 'Encounter?_include');
if (!(withPatients.entry || []).some((e) => e.search.mode === 'include' && e.resource.resourceType === 'Patient')) {
  fail('Encounter?_include=Encounter:patient brought no Patient');
}

// Errors are OperationOutcomes with the right status.
try {
  await client.read({ resourceType: 'Patient', id: extra.missingPatient });
  fail('reading a missing patient succeeded');
} catch (err) {
  const status = err.response && err.response.status;
  if (status !== 404) fail(`missing patient: status ${status}`);
  const body = err.response && err.response.data;
  if (!body || body.resourceType !== 'OperationOutcome') fail('missing patient: no OperationOutcome');
  else validate(body, 'OperationOutcome');
}

// Bulk Data export: every line of every file is a valid resource.
if (bulkToken) {
  const auth = { Authorization: `Bearer ${bulkToken}` };
  const kick = await fetch(`${baseUrl}/$export`, { headers: { ...auth, Accept: 'application/fhir+json', Prefer: 'respond-async' } });
  const status = kick.headers.get('content-location');
  if (kick.status !== 202 || !status) fail(`$export kick-off: ${kick.status}`);
  else {
    let res = await fetch(status, { headers: auth });
    for (let i = 0; res.status === 202 && i < 100; i++) {
      await new Promise((r) => setTimeout(r, 100));
      res = await fetch(status, { headers: auth });
    }
    const manifest = await res.json();
    if (res.status !== 200 || !manifest.transactionTime || !Array.isArray(manifest.output)) fail(`$export status: ${res.status}`);
    for (const file of manifest.output || []) {
      const body = await (await fetch(file.url, { headers: auth })).text();
      const lines = body.split('\n').filter((l) => l !== '');
      for (const line of lines) {
        const resource = JSON.parse(line);
        if (resource.resourceType !== file.type) fail(`$export ${file.type}: a line of type ${resource.resourceType}`);
        validate(resource, `$export ${file.type}`);
      }
      if (lines.length === 0) fail(`$export ${file.type}: empty`);
      console.log(`$export ${file.type}: ${lines.length} resources`);
    }
  }
}

console.log(`${validated} validations, ${failures} failures`);
process.exit(failures === 0 ? 0 : 1);
