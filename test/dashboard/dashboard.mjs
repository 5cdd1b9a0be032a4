// Drives Rapport's /dashboard in a real headless Chromium and checks what a
// practice meeting and a nursing team depend on:
//
//   - each view renders for its role (practice: practice admin and GP; team:
//     the district nurse; relationships: the practice admin);
//   - the numbers shown equal what GraphQL returns for the same query, asked
//     here directly with the same token;
//   - a role that may not see patients (an analytics-only integration) gets no
//     patient at risk in the page or in any network response;
//   - the token is taken out of the URL, sent only as a header, and forgotten
//     with every figure on sign-out;
//   - axe-core finds no WCAG 2.2 A/AA violation on any view (tables open too);
//   - it reflows on a tablet and at 200% text, keeps its marks in forced
//     colours, and prints to A4; CSV downloads carry the table.
//
//   node dashboard.mjs check <base-url> <screenshot-dir>
//   node dashboard.mjs bench <base-url> <runs>
//
// Tokens come in $DASHBOARD_TOKENS (JSON: admin, gp, nurse, analytics); the
// months shown end at $DASHBOARD_TO (YYYY-MM), feedback at $DASHBOARD_FEEDBACK_TO.
// Uses Debian's chromium (/usr/bin/chromium, or $CHROMIUM). Exits non-zero,
// naming each failed check.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

const [mode, base, arg] = process.argv.slice(2);
if (!['check', 'bench'].includes(mode) || !base || !arg) {
  console.error('usage: node dashboard.mjs check <base-url> <screenshot-dir> | bench <base-url> <runs>');
  process.exit(2);
}
const tokens = JSON.parse(process.env.DASHBOARD_TOKENS || '{}');
const TO = process.env.DASHBOARD_TO || '';
const FEEDBACK_TO = process.env.DASHBOARD_FEEDBACK_TO || TO;

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === undefined ? '' : ': ' + detail}`);
  if (!ok) failed++;
}

async function gql(token, query, variables) {
  const res = await fetch(base + '/graphql', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  return body;
}

// Figures are rounded half up, as the page rounds them.
const fixed = (v, d) => (Math.round(v * 10 ** d) / 10 ** d).toFixed(d);
const pct = (v) => (v === null ? null : fixed(v * 100, 1) + '%');
const idx = (v) => (v === null ? null : fixed(v, 3));
const scr = (v) => (v === null ? null : fixed(v, 1));

function monthRange(to, n) {
  const [y, m] = to.split('-').map(Number);
  const end = new Date(Date.UTC(y, m - 1, 1));
  const from = new Date(Date.UTC(y, m - 1 - n, 1));
  return { from: from.toISOString().slice(0, 10), to: end.toISOString().slice(0, 10) };
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});

// open signs in with token through the URL fragment and waits for the view.
async function open(context, token, query) {
  const page = await context.newPage();
  const bodies = [];
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  page.on('response', async (r) => {
    try { bodies.push({ url: r.url(), text: await r.text() }); } catch { /* redirects have no body */ }
  });
  const sent = [];
  page.on('request', (r) => sent.push(r.url()));
  await page.goto(`${base}/dashboard?${query}#token=${encodeURIComponent(token)}`);
  await page.waitForSelector('body[data-state=ready], body[data-state=error], body[data-state=signed-out]', { timeout: 60000 });
  return { page, bodies, external, sent };
}

async function axe(page, name) {
  // Evaluated over the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(axeSource);
  const run = () => page.evaluate(async () => {
    const r = await window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'] } });
    return r.violations.map((v) => `${v.id} (${v.nodes.length}): ${v.nodes.slice(0, 2).map((n) => n.target.join(' ')).join(', ')}`);
  });
  let v = await run();
  check(`axe-core: no WCAG 2.2 AA violations on ${name}`, v.length === 0, v.join('; '));
  await page.evaluate(() => document.querySelectorAll('details').forEach((d) => { d.open = true; }));
  v = await run();
  check(`axe-core: no violations on ${name} with every table open`, v.length === 0, v.join('; '));
}

// tableRows returns the text of each body row's cells of table #id.
async function tableRows(page, id) {
  return page.$$eval(`#${id} tbody tr`, (trs) => trs.map((tr) => [...tr.querySelectorAll('th, td')].map((c) => c.textContent.trim())));
}

function expectSeries(name, rows, months, value, cells) {
  let bad = [];
  if (rows.length !== months.length) bad.push(`${rows.length} rows for ${months.length} months`);
  months.forEach((m, i) => {
    const row = rows[i] || [];
    const want = [m.month.slice(0, 7), value(m)];
    const shown = [row[0], row[1].startsWith('no value') ? null : row[1]];
    if (shown[0] !== want[0] || shown[1] !== want[1]) bad.push(`${want[0]}: shown ${shown[1]}, GraphQL ${want[1]}`);
    (cells ? cells(m) : []).forEach((c, j) => { if (row[2 + j] !== String(c)) bad.push(`${want[0]} column ${j + 3}: shown ${row[2 + j]}, GraphQL ${c}`); });
  });
  check(`${name}: every month shown equals GraphQL`, bad.length === 0, bad.slice(0, 3).join('; '));
}

const PRACTICE_Q = `query($practice: ID!, $from: Date!, $to: Date!) { practiceContinuity(practiceId: $practice, from: $from, to: $to) {
  months { month slicc { value numerator denominator } opr { value numerator denominator } meanUPC { value eligible excluded } meanCOC { value eligible excluded }
  lists { practitioner { id givenName familyName } slicc { value numerator denominator } opr { value numerator denominator } } } } }`;
const ATRISK_Q = `query($practice: ID!, $window: ContinuityWindow!, $min: Int!, $upc: Float) { continuityAtRisk(practiceId: $practice, window: $window, minContacts: $min, upcBelow: $upc, first: 100) {
  totalCount patients { patient { id givenName familyName nhsNumber } contacts clinicians upc { value } } } }`;

async function practiceChecks() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const { page, bodies, external, sent } = await open(context, tokens.admin, `view=practice&to=${TO}`);
  check('practice view renders for the practice admin', (await page.getAttribute('body', 'data-state')) === 'ready' && (await page.textContent('#view h2')).startsWith('Practice view'));
  check('the token leaves the address bar', !page.url().includes('token') && !page.url().includes('#'), page.url());
  check('no request carries the token in its URL', sent.every((u) => !u.includes(tokens.admin.slice(-20))));
  check('the token is kept in this tab only', (await page.evaluate(() => sessionStorage.getItem('rapport.dashboard.token'))) === tokens.admin);
  check('nothing is loaded from elsewhere', external.length === 0, external.join(', '));

  const viewer = await gql(tokens.admin, '{ viewer { organization { id } } }');
  const practice = viewer.data.viewer.organization.id;
  const range = monthRange(TO, 24);
  const pc = (await gql(tokens.admin, PRACTICE_Q, { practice, ...range })).data.practiceContinuity;
  check('24 months of practice continuity from GraphQL', pc.months.length === 24, pc.months.length);
  expectSeries('practice SLICC', await tableRows(page, 'practice-slicc-table'), pc.months, (m) => pct(m.slicc.value), (m) => [m.slicc.numerator, m.slicc.denominator]);
  expectSeries('practice OPR', await tableRows(page, 'practice-opr-table'), pc.months, (m) => pct(m.opr.value), (m) => [m.opr.numerator, m.opr.denominator]);
  expectSeries('mean UPC', await tableRows(page, 'practice-upc-table'), pc.months, (m) => idx(m.meanUPC.value), (m) => [m.meanUPC.eligible, m.meanUPC.excluded]);
  expectSeries('mean COC', await tableRows(page, 'practice-coc-table'), pc.months, (m) => idx(m.meanCOC.value), (m) => [m.meanCOC.eligible, m.meanCOC.excluded]);
  // Each GP's list: find the chart by its caption and compare month by month (no list that month: a gap).
  const gps = new Map();
  pc.months.forEach((m) => m.lists.forEach((l) => gps.set(l.practitioner.id, l.practitioner)));
  check('GraphQL names GPs with lists', gps.size > 0, gps.size);
  let listsChecked = 0;
  for (const gp of gps.values()) {
    const name = `${gp.givenName} ${gp.familyName}`;
    const id = await page.evaluate((cap) => {
      const c = [...document.querySelectorAll('table caption')].find((x) => x.textContent === cap);
      return c ? c.parentElement.id : null;
    }, `SLICC, ${name}'s list by month`);
    if (!id) { check(`a SLICC chart for ${name}`, false); continue; }
    const months = pc.months.map((m) => {
      const l = m.lists.find((x) => x.practitioner.id === gp.id);
      return { month: m.month, v: l ? l.slicc.value : null, n: l ? l.slicc.numerator : 0, d: l ? l.slicc.denominator : 0 };
    });
    expectSeries(`SLICC of ${name}'s list`, await tableRows(page, id), months, (m) => pct(m.v), (m) => [m.n, m.d]);
    listsChecked++;
  }
  check('every GP list has its chart', listsChecked === gps.size, `${listsChecked} of ${gps.size}`);
  check('every chart shows a variation icon', (await page.$$eval('figure.chart', (fs) => fs.every((f) => f.querySelector('[data-variation]')))));
  const charts = await page.$$eval('figure.chart svg.plot', (s) => s.length);
  check('a chart per practice measure and two per GP', charts === 4 + 2 * gps.size, charts);

  // Patients at risk, as GraphQL lists them for the same thresholds (12 months, 6 contacts, UPC below 50%).
  const window = { from: new Date(Date.UTC(+TO.slice(0, 4) - 1, +TO.slice(5) - 1, 1)).toISOString(), to: new Date(Date.UTC(+TO.slice(0, 4), +TO.slice(5) - 1, 1)).toISOString() };
  const ar = (await gql(tokens.admin, ATRISK_Q, { practice, window, min: 6, upc: 0.5 })).data.continuityAtRisk;
  let rows = await tableRows(page, 'atrisk-table');
  check('GraphQL finds patients at risk in the demo practice', ar.patients.length > 0, ar.totalCount);
  check('at-risk patients shown equal GraphQL, in order', rows.length === ar.patients.length &&
    ar.patients.every((p, i) => rows[i][0] === `${p.patient.givenName} ${p.patient.familyName}` && rows[i][1] === p.patient.nhsNumber &&
      rows[i][2] === String(p.contacts) && rows[i][4] === idx(p.upc.value)), `${rows.length} shown, ${ar.patients.length} from GraphQL`);
  // Thresholds are adjustable on the page.
  await page.fill('#p-upc', '30');
  await page.fill('#p-min', '8');
  await Promise.all([page.waitForResponse((r) => r.url().includes('/dashboard/view/practice')), page.click('form[data-settings] button[type=submit]')]);
  await page.waitForSelector('body[data-state=ready]');
  const ar2 = (await gql(tokens.admin, ATRISK_Q, { practice, window, min: 8, upc: 0.3 })).data.continuityAtRisk;
  rows = await tableRows(page, 'atrisk-table');
  const shownCount = rows.length === 1 && rows[0].length === 1 ? 0 : rows.length;
  check('adjusted thresholds show what GraphQL returns for them', shownCount === ar2.patients.length, `${shownCount} shown, ${ar2.patients.length} from GraphQL`);
  check('the settings stay in the address bar, not the token', page.url().includes('upcBelow=30') && !page.url().includes('token'), page.url());

  // CSV of a chart's numbers.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#practice-slicc button.csv')]);
  const csv = readFileSync(await download.path(), 'utf8').trim().split(/\r\n/);
  check('the CSV download carries the table', download.suggestedFilename() === 'practice-slicc.csv' && csv.length === 25 && csv[0].startsWith('Month,Value'), `${download.suggestedFilename()} ${csv.length} lines: ${csv[0]}`);

  await page.screenshot({ path: `${arg}/practice-admin.png`, fullPage: true });
  await axe(page, 'the practice view');

  // Print on A4: the layout for print media, and a PDF of it.
  await page.emulateMedia({ media: 'print' });
  const printWidth = await page.evaluate(() => document.documentElement.scrollWidth);
  await page.screenshot({ path: `${arg}/practice-print.png`, fullPage: true });
  await page.pdf({ path: `${arg}/practice-a4.pdf`, format: 'A4', printBackground: true });
  const hiddenInPrint = await page.$$eval('form[data-settings], nav, button', (els) => els.every((e) => e.getClientRects().length === 0));
  check('printing hides navigation, settings and buttons', hiddenInPrint);
  check('printing fits the page width', printWidth <= 1280, printWidth);
  await page.emulateMedia({ media: 'screen', forcedColors: 'active' });
  await page.screenshot({ path: `${arg}/practice-forced-colours.png` });
  const stroke = await page.$eval('svg.plot polyline.series', (p) => getComputedStyle(p).stroke);
  check('forced colours keep the series line visible', stroke && stroke !== 'none' && !stroke.includes('rgba(0, 0, 0, 0)'), stroke);
  await page.emulateMedia({ forcedColors: 'none' });

  // Sign out: the token and every figure go.
  await page.click('#signout');
  await page.waitForSelector('body[data-state=signed-out]');
  const left = await page.evaluate(() => ({ token: sessionStorage.getItem('rapport.dashboard.token'), view: document.getElementById('view').innerHTML, text: document.body.innerText }));
  check('sign-out forgets the token', left.token === null);
  check('sign-out leaves no patient data on the page', left.view === '' && ar.patients.every((p) => !left.text.includes(p.patient.nhsNumber)));
  await page.reload();
  await page.waitForSelector('body[data-state=signed-out]');
  check('after sign-out a reload shows the sign-in, no figures', (await page.$$('figure.chart')).length === 0);
  check('the at-risk list reached the admin over the network', bodies.some((b) => b.url.includes('/dashboard/view/practice') && b.text.includes(ar.patients[0].patient.nhsNumber)));
  await context.close();
  return { practice, atRisk: ar.patients.map((p) => p.patient) };
}

async function tabletAndZoom() {
  // A tablet in portrait, by touch.
  const tablet = await browser.newContext({ viewport: { width: 820, height: 1180 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
  let { page } = await open(tablet, tokens.gp, `view=practice&to=${TO}`);
  check('practice view renders for a GP', (await page.getAttribute('body', 'data-state')) === 'ready');
  // Compared with the device's width: a mobile browser widens its layout
  // viewport (and innerWidth) to content that overflows.
  let over = await page.evaluate(() => document.documentElement.scrollWidth - 820);
  check('no sideways scrolling on a tablet', over <= 0, `${over}px too wide`);
  await page.screenshot({ path: `${arg}/practice-gp-tablet.png` });
  await tablet.close();
  // 200% text on a 1280 px screen (WCAG 1.4.4): still no sideways scrolling.
  const zoom = await browser.newContext({ viewport: { width: 1280, height: 900 }, bypassCSP: true });
  ({ page } = await open(zoom, tokens.admin, `view=practice&to=${TO}`));
  await page.addStyleTag({ content: 'html { font-size: 200% !important; }' });
  over = await page.evaluate(() => document.documentElement.scrollWidth - 1280);
  check('200% text reflows without sideways scrolling', over <= 0, `${over}px too wide`);
  await page.screenshot({ path: `${arg}/practice-200-percent-text.png` });
  await zoom.close();
}

async function hiddenFromAnalytics(atRisk) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page, bodies } = await open(context, tokens.analytics, `view=practice&to=${TO}`);
  check('practice view renders for an analytics integration', (await page.getAttribute('body', 'data-state')) === 'ready' && (await page.$$('figure.chart')).length >= 4);
  check('it says patients are not shown', (await page.$('[data-atrisk=hidden]')) !== null && (await page.$('#atrisk-table')) === null);
  const text = await page.evaluate(() => document.documentElement.outerHTML);
  const leaks = atRisk.filter((p) => text.includes(p.nhsNumber) || text.includes(p.id));
  check('no patient at risk appears in its page', leaks.length === 0, leaks.length);
  const netLeaks = bodies.filter((b) => atRisk.some((p) => b.text.includes(p.nhsNumber) || b.text.includes(p.id)));
  check('no patient at risk appears in any of its network responses', netLeaks.length === 0, netLeaks.map((b) => b.url).join(', '));
  check('its network responses were recorded', bodies.some((b) => b.url.includes('/dashboard/view/practice')));
  await page.screenshot({ path: `${arg}/practice-analytics.png`, fullPage: true });
  await axe(page, 'the practice view without patients');
  await context.close();
}

const TEAM_Q = `query($team: ID!, $from: Date!, $to: Date!) { node(id: $team) { ... on Team { continuity(from: $from, to: $to) {
  months { month patients patientsVisited visits byNamedNurse namedNurseShare meanNurses }
  patients { patient { givenName familyName } total { visits namedNurseShare nurses } months { visits nurses } } } } } }`;

async function teamChecks() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page } = await open(context, tokens.nurse, `view=team&to=${TO}`);
  check('team view renders for the district nurse', (await page.getAttribute('body', 'data-state')) === 'ready' && (await page.textContent('#view h2')).startsWith('Team view:'));
  const team = (await gql(tokens.nurse, '{ viewer { practitioner { teams { id name } } } }')).data.viewer.practitioner.teams[0];
  const tc = (await gql(tokens.nurse, TEAM_Q, { team: team.id, ...monthRange(TO, 12) })).data.node.continuity;
  expectSeries('named-nurse share', await tableRows(page, 'team-named-share-table'), tc.months, (m) => pct(m.namedNurseShare), (m) => [m.byNamedNurse, m.visits]);
  expectSeries('different nurses per patient', await tableRows(page, 'team-distinct-nurses-table'), tc.months,
    (m) => (m.meanNurses === null ? null : fixed(m.meanNurses, 2)), (m) => [m.patientsVisited, m.patients]);
  const rows = await tableRows(page, 'team-patients-table');
  check('the team view lists every housebound patient GraphQL lists', tc.patients.length > 0 && rows.length === tc.patients.length, `${rows.length} shown, ${tc.patients.length} from GraphQL`);
  const byName = new Map(rows.map((row) => [row[0], row]));
  const bad = tc.patients.filter((p) => {
    const row = byName.get(`${p.patient.givenName} ${p.patient.familyName}`);
    const share = p.total.namedNurseShare;
    const monthly = p.months.map((m) => (m.visits ? `${m.nurses} (${m.visits})` : '–'));
    return !row || row[2] !== String(p.total.visits) || row[4] !== String(p.total.nurses) || row[3] !== (share === null ? 'no value' : pct(share)) ||
      monthly.some((x, i) => row[5 + i] !== x);
  });
  check('each patient\'s visits, named-nurse share and nurses by month equal GraphQL', bad.length === 0, bad.slice(0, 2).map((p) => p.patient.familyName).join(', '));
  check('two team charts', (await page.$$('figure.chart')).length === 2);
  await page.screenshot({ path: `${arg}/team-nurse.png`, fullPage: true });
  await axe(page, 'the team view');
  await context.close();
}

const FEEDBACK_Q = `query($f: FeedbackFilter!) { byMonth: feedbackSummary(filter: $f, groupBy: MONTH) { rows { key cell { careSuppressed careMean careResponses fftSuppressed fftPercentPositive } } }
  byPractitioner: feedbackSummary(filter: $f, groupBy: PRACTITIONER) { rows { key cell { suppressed responses careSuppressed careMean fftSuppressed fftPercentPositive } } } }`;

async function relationshipChecks() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const { page } = await open(context, tokens.admin, `view=relationships&to=${FEEDBACK_TO}`);
  check('relationships view renders for the practice admin', (await page.getAttribute('body', 'data-state')) === 'ready' && (await page.textContent('#view h2')) === 'Relationships view');
  const r = monthRange(FEEDBACK_TO, 12);
  const fb = (await gql(tokens.admin, FEEDBACK_Q, { f: { from: r.from, to: r.to } })).data;
  check('GraphQL has feedback to show', fb.byPractitioner.rows.length > 0);
  const rows = await tableRows(page, 'feedback-practitioners-table');
  const bad = fb.byPractitioner.rows.filter((g, i) => {
    const row = rows[i] || [];
    const care = g.cell.careSuppressed ? 'withheld' : scr(g.cell.careMean);
    const fft = g.cell.fftSuppressed ? 'withheld' : fixed(g.cell.fftPercentPositive, 1) + '%';
    return row[3] !== care || row[5] !== fft || row[1] !== (g.cell.suppressed ? 'fewer than 5' : String(g.cell.responses));
  });
  check('feedback per practitioner equals GraphQL, withheld where the API withholds', rows.length === fb.byPractitioner.rows.length && bad.length === 0,
    `${rows.length} rows; ${bad.length} differ: ${JSON.stringify(rows.slice(0, 2))}`);
  check('a withheld FFT figure is shown as withheld', fb.byPractitioner.rows.some((g) => g.cell.fftSuppressed) ? rows.some((row) => row[5] === 'withheld') : true);
  const careRows = await tableRows(page, 'feedback-care-mean-table');
  const months = new Map(fb.byMonth.rows.map((x) => [x.key, x.cell]));
  const badMonths = careRows.filter((row) => {
    const c = months.get(row[0]);
    const want = c && !c.careSuppressed ? scr(c.careMean) : null;
    return (row[1].startsWith('no value') ? null : row[1]) !== want;
  });
  check('monthly CARE means equal GraphQL, withheld months are gaps', careRows.length === 12 && badMonths.length === 0, badMonths.map((x) => x[0]).join(', '));
  const fftRows = await tableRows(page, 'feedback-fft-positive-table');
  const badFFT = fftRows.filter((row) => {
    const c = months.get(row[0]);
    const want = c && !c.fftSuppressed ? fixed(c.fftPercentPositive, 1) + '%' : null;
    return (row[1].startsWith('no value') ? null : row[1]) !== want;
  });
  check('monthly FFT % positive equals GraphQL, withheld months are gaps', fftRows.length === 12 && badFFT.length === 0, badFFT.map((x) => x[0]).join(', '));
  await page.screenshot({ path: `${arg}/relationships-admin.png`, fullPage: true });
  await axe(page, 'the relationships view');
  await context.close();
}

async function bench(runs) {
  // Time from navigation to the charts drawn, for the practice view as the admin.
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const times = [];
  for (let i = 0; i < runs; i++) {
    const page = await context.newPage();
    const t0 = Date.now();
    await page.goto(`${base}/dashboard?view=practice&to=${TO}#token=${encodeURIComponent(tokens.admin)}`);
    await page.waitForSelector('body[data-state=ready]', { timeout: 120000 });
    await page.waitForSelector('figure.chart svg.plot polyline');
    times.push(Date.now() - t0);
    await page.close();
  }
  await context.close();
  console.log(`BROWSER_MS ${JSON.stringify(times)}`);
}

try {
  if (mode === 'bench') {
    await bench(Number(arg));
  } else {
    const { atRisk } = await practiceChecks();
    console.log(`ATRISK_IDS ${JSON.stringify(atRisk.slice(0, 3).map((p) => p.id))}`);
    await tabletAndZoom();
    await hiddenFromAnalytics(atRisk);
    await teamChecks();
    await relationshipChecks();
  }
} finally {
  await browser.close();
}
if (failed) {
  console.log(`dashboard: ${failed} check(s) failed`);
  process.exit(1);
}
console.log(mode === 'check' ? 'dashboard: all checks passed' : 'dashboard: bench done');
