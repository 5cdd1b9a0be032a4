// Runs the graphql-http server audits (the GraphQL-over-HTTP specification's
// conformance checks) against a running Rapport server.
//
//   node audit.mjs <url> [token]
//   RAPPORT_AUDIT_URL=... RAPPORT_AUDIT_TOKEN=... node audit.mjs
//
// Every request carries "Authorization: Bearer <token>". Prints each audit's
// id, status and name; exits 1 if any MUST or SHOULD audit fails (MAY
// failures are reported but do not fail the run), 2 on a usage error.
import { serverAudits } from 'graphql-http';

const url = process.argv[2] || process.env.RAPPORT_AUDIT_URL;
const token = process.argv[3] || process.env.RAPPORT_AUDIT_TOKEN || '';
if (!url) {
  console.error('usage: node audit.mjs <url> [token]   (or RAPPORT_AUDIT_URL, RAPPORT_AUDIT_TOKEN)');
  process.exit(2);
}

/** fetchFn adds the bearer token to every audit request. */
function fetchFn(input, init = {}) {
  const headers = new Headers(init.headers || {});
  if (token) headers.set('authorization', `Bearer ${token}`);
  return fetch(input, { ...init, headers });
}

const audits = serverAudits({ url, fetchFn });
const results = [];
for (const audit of audits) {
  // One at a time: the output reads in order and the server sees no burst.
  results.push(await audit.fn());
}

let failed = 0;
let mayFailed = 0;
for (const r of results) {
  const level = r.name.split(' ')[0];
  const ok = r.status === 'ok';
  if (!ok && level === 'MAY') mayFailed++;
  else if (!ok) failed++;
  const mark = ok ? 'ok  ' : level === 'MAY' ? 'may ' : 'FAIL';
  let line = `${mark} ${r.id} ${r.name}`;
  if (!ok) line += `\n       ${r.status}: ${r.reason}`;
  console.log(line);
}
const passed = results.length - failed - mayFailed;
console.log(`\n${results.length} audits: ${passed} ok, ${failed} MUST/SHOULD failed, ${mayFailed} MAY failed`);
process.exit(failed > 0 ? 1 : 0);
