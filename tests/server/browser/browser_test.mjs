// Browser test of the page `dfdetect serve` serves at /: headless Debian Chromium, driven by
// playwright-core, on a phone-sized viewport.
//   1. An open server: upload the demo clip through the file chooser, wait for the verdict,
//      check the timeline chart, a face heatmap, the history, and that nothing leaves the server.
//   2. The same data dir behind --token: the page asks for the token, then shows the earlier scan
//      from the history, its face images fetched with the token.
// On failure it saves a screenshot and the page's HTML into OUT_DIR and prints the server's log.
//   usage: node browser_test.mjs DFDETECT_BIN CLIP OUT_DIR      (run.sh checks the prerequisites)
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [bin, clip, outDir] = process.argv.slice(2);
if (!bin || !clip || !outDir) {
  console.error('usage: node browser_test.mjs DFDETECT_BIN CLIP OUT_DIR');
  process.exit(2);
}
const CHROMIUM = process.env.DFD_CHROMIUM || '/usr/bin/chromium';
const START_MS = 15000; // server start (loads the models)
const VERDICT_MS = 60000; // upload + scan of the 5 s demo clip (a few seconds on 2 cores)
const TOKEN = 'browser-test-token';
const t0 = Date.now();
let lastPage = null; // the page a failure screenshot shows
const log = (msg) => console.log(`[${((Date.now() - t0) / 1000).toFixed(1)} s] ${msg}`);

function check(cond, what) {
  if (!cond) throw new Error('check failed: ' + what);
  log('ok: ' + what);
}

// Start `dfdetect serve` on a free port; `url` resolves with its base URL from the first stdout
// line. Everything it prints is kept in `output` for a failure report.
function startServer(dataDir, extra, output) {
  const proc = spawn(bin, ['serve', '--listen', '127.0.0.1:0', '--data-dir', dataDir, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr.on('data', (d) => output.push(d.toString()));
  const url = new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`server did not print its address in ${START_MS} ms`)),
      START_MS);
    proc.stdout.on('data', (d) => {
      out += d.toString();
      output.push(d.toString());
      const m = out.match(/listening on (http:\/\/[^\s]+)/);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ''));
      }
    });
    proc.on('exit', (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${sig || code}) before listening`));
    });
    proc.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
  url.catch(() => {}); // awaited by the caller; never an unhandled rejection
  return { proc, url };
}

// SIGTERM, then SIGKILL after 5 s.
async function stopServer(server) {
  if (!server || server.proc.exitCode !== null || server.proc.signalCode !== null) return;
  const exited = new Promise((r) => server.proc.on('exit', r));
  server.proc.kill('SIGTERM');
  const timer = setTimeout(() => server.proc.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

// A fresh browser context (empty localStorage) on a 375 px wide screen, recording script errors
// and any request that goes anywhere but the server.
async function openPage(browser, base, errors, foreign) {
  const context = await browser.newContext({ viewport: { width: 375, height: 812 } });
  const page = await context.newPage();
  lastPage = page;
  page.on('pageerror', (e) => errors.push('pageerror: ' + e.message));
  page.on('console', (m) => {
    // The 401s of phase 2 are expected: the page answers them by asking for the token.
    if (m.type() === 'error' && !/status of 401/.test(m.text())) errors.push('console: ' + m.text());
  });
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(base) && !u.startsWith('data:') && !u.startsWith('blob:')) foreign.push(u);
  });
  return page;
}

async function waitVerdict(page, timeout) {
  await page.locator('#verdict[data-verdict="REAL"], #verdict[data-verdict="FAKE"], ' +
    '#verdict[data-verdict="failed"], #verdict[data-verdict="NO_FACE"]').waitFor({ timeout });
  const v = await page.getAttribute('#verdict', 'data-verdict');
  const text = (await page.textContent('#verdict')).trim();
  log(`verdict: ${text}`);
  check(v === 'REAL' || v === 'FAKE', `the verdict is REAL or FAKE (got ${v}: ${text})`);
  check(/\d+(\.\d)?%/.test(text), 'the verdict shows a probability');
}

// The first face image has loaded (a real PNG was decoded); returns its src.
async function waitFaceImage(page) {
  await page.waitForFunction(() => {
    const i = document.querySelector('#faces img');
    return i && i.complete && i.naturalWidth > 0;
  }, null, { timeout: 10000 });
  return page.getAttribute('#faces img', 'src');
}

async function openServerPhase(browser, base, errors, foreign) {
  const page = await openPage(browser, base, errors, foreign);
  const res = await page.goto(base + '/');
  check(res && res.status() === 200, 'GET / answers 200');
  check((res.headers()['content-type'] || '').startsWith('text/html'), 'GET / is text/html');
  check((await page.title()).includes('dfdetect'), 'the page has its title');
  await page.waitForSelector('#history-empty:not([hidden])');

  // Keyboard users reach the file chooser with Tab (after the token panel's summary).
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  check(await page.evaluate(() => document.activeElement && document.activeElement.id) === 'file',
    'the file chooser is the second Tab stop');

  await page.setInputFiles('#file', clip);
  log('file chosen: ' + clip);
  await waitVerdict(page, VERDICT_MS);
  check(await page.getAttribute('#verdict', 'aria-live') === 'polite', 'the verdict is announced (aria-live)');

  check(await page.isVisible('#timeline svg'), 'the timeline chart is shown');
  const series = await page.locator('#timeline svg polyline').count();
  check(series >= 1, `the timeline has a line per face (${series})`);
  const points = await page.locator('#timeline svg polyline').first().getAttribute('points');
  check(points && points.trim().split(/\s+/).length >= 2, 'the timeline has per-frame points');

  const src = await waitFaceImage(page);
  check(/\/faces\/\d+\.png$/.test(src), `a face heatmap loaded (${src})`);

  await page.waitForSelector('#history li button');
  check((await page.textContent('#history')).includes('astronaut'), 'the scan is listed in the history');
  const width = await page.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 375, `no sideways scrolling at 375 px (page is ${width} px wide)`);
}

async function tokenPhase(browser, base, errors, foreign) {
  const page = await openPage(browser, base, errors, foreign);
  await page.goto(base + '/');
  await page.waitForSelector('#token-panel[open]');
  check(true, 'a server with --token makes the page ask for the token');
  await page.fill('#token-input', TOKEN);
  await page.press('#token-input', 'Enter');
  await page.waitForSelector('#history li button');
  check(true, 'with the token the history loads');
  await page.click('#history li button');
  await waitVerdict(page, 10000);
  const src = await waitFaceImage(page);
  check(src.startsWith('blob:'), 'face images are fetched with the token');
}

async function main() {
  const dataDir = mkdtempSync(join(tmpdir(), 'dfd_browser_'));
  const output = [];
  const errors = [];
  const foreign = [];
  let server = null;
  let browser = null;
  let failed = false;
  try {
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
    server = startServer(dataDir, [], output);
    let base = await server.url;
    log(`server at ${base}`);
    await openServerPhase(browser, base, errors, foreign);

    await stopServer(server);
    server = startServer(dataDir, ['--token', TOKEN], output);
    base = await server.url;
    log(`server with --token at ${base}`);
    await tokenPhase(browser, base, errors, foreign);

    check(foreign.length === 0, `no request leaves the server (${foreign.join(', ')})`);
    check(errors.length === 0, `no script errors (${errors.join('; ')})`);
    log('browser test passed');
  } catch (e) {
    failed = true;
    console.error('FAIL: ' + e.message);
    if (errors.length) console.error('page errors:\n  ' + errors.join('\n  '));
    if (lastPage) {
      try {
        mkdirSync(outDir, { recursive: true });
        const shot = join(outDir, 'browser_failure.png');
        await lastPage.screenshot({ path: shot, fullPage: true });
        writeFileSync(join(outDir, 'browser_failure.html'), await lastPage.content());
        console.error(`screenshot: ${shot}`);
      } catch (e2) {
        console.error('no screenshot: ' + e2.message);
      }
    }
    console.error('server output (tail):\n' + output.join('').split('\n').slice(-30).join('\n'));
  } finally {
    if (browser) await browser.close().catch(() => {});
    await stopServer(server);
    rmSync(dataDir, { recursive: true, force: true });
  }
  process.exit(failed ? 1 : 0);
}

main();
