// Drives Rapport's public feedback page in a real headless Chromium and
// checks what a patient depends on: the page opens from a link, the CARE
// Measure can be answered by touch on a phone-sized screen, it submits
// without JavaScript of its own, and the thank-you page follows.
//
//   node feedback.mjs <page-url> <screenshot-dir>
//
// Uses Debian's chromium (/usr/bin/chromium, or $CHROMIUM). Exits non-zero,
// naming the failed check, if anything is wrong.
import { chromium } from 'playwright-core';

const [url, shots] = process.argv.slice(2);
if (!url || !shots) {
  console.error('usage: node feedback.mjs <page-url> <screenshot-dir>');
  process.exit(2);
}

let failed = 0;
function check(name, ok, detail) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}${ok || detail === undefined ? '' : ': ' + detail}`);
  if (!ok) failed++;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run'],
});
try {
  // Forced colours (Windows High Contrast): the chosen answer must look
  // different from the others, although backgrounds are overridden.
  {
    // (The page has no scripts; JavaScript is on here only for the test's own evaluate.)
    const context = await browser.newContext({ viewport: { width: 390, height: 844 }, forcedColors: 'active' });
    const page = await context.newPage();
    await page.goto(url);
    check('forced colours are in force', await page.evaluate(() => matchMedia('(forced-colors: active)').matches));
    for (const [name, id] of [['a CARE answer', '#care1-4'], ['the respondent', '#resp-carer']]) {
      const label = page.locator(`label[for="${id.slice(1)}"]`);
      const before = await label.screenshot();
      await label.click();
      await page.evaluate(() => document.activeElement.blur()); // compare the chosen state, not the focus ring
      const after = await label.screenshot();
      check(`forced colours: choosing ${name} changes how it looks`, !before.equals(after));
    }
    await page.screenshot({ path: `${shots}/feedback-forced-colours.png`, fullPage: true });
    await context.close();
  }

  // 200% text on a 320 px screen: nothing may scroll sideways (WCAG 1.4.10).
  {
    const context = await browser.newContext({ viewport: { width: 320, height: 640 }, bypassCSP: true });
    const page = await context.newPage();
    await page.goto(url);
    await page.addStyleTag({ content: 'html { font-size: 200% !important }' });
    const { scroll, client } = await page.evaluate(() => ({
      scroll: document.documentElement.scrollWidth, client: document.documentElement.clientWidth,
    }));
    check('200% text on 320 px: no sideways scrolling', scroll <= client, `page is ${scroll}px wide in a ${client}px viewport`);
    await page.screenshot({ path: `${shots}/feedback-320-200pct.png`, fullPage: true });
    await context.close();
  }

  // A phone-sized viewport, touch, and no JavaScript: the page must not need it.
  const context = await browser.newContext({
    viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true, javaScriptEnabled: false,
  });
  const page = await context.newPage();
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(new URL(url).origin)) external.push(r.url()); });

  const resp = await page.goto(url);
  check('page opens with 200', resp.status() === 200, resp.status());
  check('heading', (await page.locator('h1').innerText()) === 'Tell us about your care');
  await page.screenshot({ path: `${shots}/feedback-top.png` });

  // Every radio button has a visible label of at least 44 CSS px (touch target).
  const radios = page.locator('input[type=radio]');
  const n = await radios.count();
  check('CARE items: 10 × 6 answers + 2 respondent choices', n === 62, n);
  let small = 0;
  for (const lab of await page.locator('.opt label').all()) {
    const b = await lab.boundingBox();
    if (!b || b.height < 44 || b.width < 44) small++;
  }
  check('every answer is a touch target of 44 px or more', small === 0, `${small} too small`);
  check('every CARE item is a fieldset with a legend', (await page.locator('fieldset legend').count()) === 11);
  check('no respondent is chosen for the patient', (await page.locator('input[name=respondent]:checked').count()) === 0);
  const legends = await page.locator('fieldset:has(input[name^=care]) legend').allInnerTexts();
  check('each statement says where it is (n of 10)', legends.length === 10 && legends.every((l, i) => l.includes(`${i + 1} of 10`)),
    JSON.stringify(legends.map((l) => l.slice(0, 20))));
  const screens = await page.evaluate(() => document.documentElement.scrollHeight / window.innerHeight);
  console.log(`     the CARE form is ${screens.toFixed(1)} phone screens long`);
  check('the CARE form fits in 4 phone screens', screens <= 4, screens.toFixed(1));

  // An accidental tap on Send with nothing answered: sent back, nothing used up.
  const [blank] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send feedback' }).tap()]);
  check('a blank form is sent back with 422', blank && blank.status() === 422, blank && blank.status());
  check('the error page title starts with "Error:"', (await page.title()).startsWith('Error:'), await page.title());
  check('the error summary has focus, so it is announced',
    await page.evaluate(() => document.activeElement && document.activeElement.id === 'error'));
  check('the error says what to do', (await page.locator('#error').innerText()).includes('statements'),
    await page.locator('#error').innerText());
  await page.screenshot({ path: `${shots}/feedback-blank.png` });

  // Answer by tapping the labels: 8 items Very good, item 3 Excellent, item 10 does not apply.
  for (let i = 1; i <= 10; i++) {
    const label = i === 10 ? 'Does not apply' : i === 3 ? 'Excellent' : 'Very good';
    await page.locator(`fieldset:has(input[name=care${i}])`).getByText(label, { exact: true }).tap();
  }
  await page.getByText('I am a carer or family member', { exact: true }).tap();
  check('the label is the input\'s accessible name', await page.getByLabel('I am a carer or family member').isChecked());
  await page.getByLabel('Anything else you would like to tell us? (optional)').fill('Kind and unhurried.');
  check('answers are checked', await page.locator('#care3-5').isChecked() && await page.locator('#care10-0').isChecked());
  await page.screenshot({ path: `${shots}/feedback-filled.png`, fullPage: true });

  const [nav] = await Promise.all([page.waitForNavigation(), page.getByRole('button', { name: 'Send feedback' }).tap()]);
  check('thank-you page after submitting', (await page.locator('h1').innerText()) === 'Thank you', await page.locator('h1').innerText());
  check('thank-you page status 200', nav && nav.status() === 200, nav && nav.status());
  await page.screenshot({ path: `${shots}/feedback-thanks.png` });

  // The same link again is refused with a clear message.
  const again = await page.goto(url);
  check('a used link is refused with 409', again.status() === 409, again.status());
  check('the refusal says so', (await page.locator('main').innerText()).includes('already been used'));
  check('nothing is loaded from elsewhere', external.length === 0, external.join(', '));
} finally {
  await browser.close();
}
if (failed) {
  console.log(`feedback page: ${failed} check(s) failed`);
  process.exit(1);
}
console.log('feedback page: all checks passed');
