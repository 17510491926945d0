// Renders the replay page in Debian's Chromium (headless, through playwright-core) and fails on
// any script error. Usage: node check.mjs PAGE EVENT OUT_DIR
//   - PAGE at its top, at #lanes and at #eEVENT (the violation): a PNG of each in OUT_DIR;
//   - at #eEVENT the script must have marked that event and shown the durable panel;
//   - a copy of PAGE with a planted script error must be caught (the check cannot pass blind).
// Exit 0 when all hold, 1 otherwise. Headless Chromium's own --screenshot paints a blank page
// once a fragment scrolls it, hence a driver.
import { chromium } from 'playwright-core';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const [page, event, out] = process.argv.slice(2);
if (!page || !event || !out) {
  console.error('usage: node check.mjs PAGE EVENT OUT_DIR');
  process.exit(2);
}
const url = 'file://' + resolve(page);
// The flags of a closed network: no background connections, no first-run, no GPU.
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
const failures = [];

// Opens `target`; returns the page and the script errors it raised.
async function open(target) {
  const p = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors = [];
  p.on('pageerror', (e) => errors.push('uncaught: ' + e.message));
  p.on('console', (m) => { if (m.type() === 'error') errors.push('console: ' + m.text()); });
  p.on('request', (r) => { if (!r.url().startsWith('file:')) errors.push('network: ' + r.url()); });
  await p.goto(target);
  await p.waitForLoadState('load');
  return { p, errors };
}

async function ready(p) {
  return (await p.locator('body[data-ready="1"]').count()) === 1;
}

// Self-test: a planted script error must be seen.
{
  const broken = join(out, 'broken.html');
  writeFileSync(broken, readFileSync(page, 'utf8').replace('JSON.parse(', 'JSON.parsee('));
  const { p, errors } = await open('file://' + resolve(broken));
  if (errors.length === 0 || (await ready(p))) {
    failures.push('self-test: a page with a planted script error passed');
  } else {
    console.log('browser-check: self-test ok (a planted script error is caught)');
  }
  await p.close();
}

for (const [name, frag] of [['top', ''], ['lanes', '#lanes'], ['violation', '#e' + event]]) {
  const { p, errors } = await open(url + frag);
  if (!(await ready(p))) { failures.push(`${name}: the page's script did not finish`); }
  if (name === 'violation') {
    const marked = await p.evaluate(() => {
      const here = document.querySelector('.here');
      const panel = document.getElementById('panel');
      return { id: here && here.id, panel: panel.style.display, text: document.getElementById('panel-text').textContent };
    });
    if (marked.id !== 'e' + event) { failures.push(`violation: #e${event} marked ${marked.id}`); }
    if (marked.panel !== 'block' || !marked.text.startsWith('durable at event ' + event + ' ')) {
      failures.push(`violation: the durable panel shows ${JSON.stringify(marked.text)}`);
    }
    // Stepping: j goes to the next event (marked, with its durable state), k back again.
    await p.keyboard.press('j');
    const next = Number(event) + 1;
    const at = (n) => location.hash === '#e' + n && document.querySelector('.here') !== null
      && document.querySelector('.here').id === 'e' + n;
    await p.waitForFunction(at, next, { timeout: 5000 }).catch(() => {});
    const stepped = await p.evaluate(() => ({
      hash: location.hash,
      here: document.querySelector('.here') && document.querySelector('.here').id,
      text: document.getElementById('panel-text').textContent,
    }));
    if (stepped.hash !== '#e' + next || stepped.here !== 'e' + next
        || !stepped.text.startsWith('durable at event ' + next + ' ')) {
      failures.push(`violation: j from #e${event} gave ${JSON.stringify(stepped)}`);
    }
    await p.keyboard.press('k');
    await p.waitForFunction(at, event, { timeout: 5000 }).catch(() => {});
    if ((await p.evaluate(() => location.hash)) !== '#e' + event) {
      failures.push(`violation: k did not step back to #e${event}`);
    }
  }
  if (name === 'top') {
    // Linked: a click on the chart and on a lane box goes to that event.
    for (const [what, sel, attr] of [['chart', 'rect.hit', 'data-e'], ['lane box', '#lanes-svg rect.op', 'data-start']]) {
      const el = p.locator(sel).nth(3);
      const want = '#e' + (await el.getAttribute(attr));
      await el.click({ force: true });
      // The page marks the event on `hashchange`, which fires after the click returns.
      const marked = await p.waitForFunction(
        (w) => location.hash === w && document.querySelector('.here') && '#' + document.querySelector('.here').id === w,
        want, { timeout: 5000 }).then(() => true, () => false);
      if (!marked) {
        const got = await p.evaluate(() => location.hash + ' (marked ' + (document.querySelector('.here') || {}).id + ')');
        failures.push(`top: a click on the ${what} went to ${got}, not ${want}`);
      }
    }
    await p.goto(url);
    await p.waitForLoadState('load');
  }
  await p.screenshot({ path: join(out, name + '.png') });
  for (const e of errors) { failures.push(`${name}: ${e}`); }
  await p.close();
}
await browser.close();
if (failures.length) {
  for (const f of failures) { console.error('browser-check: ' + f); }
  process.exit(1);
}
console.log(`browser-check: ok: ${out}/top.png, lanes.png, violation.png (violation at event ${event})`);
