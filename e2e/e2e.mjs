// Browser end-to-end test of the EVSE Master integration in a real Home
// Assistant, driven with playwright-core and the system's Chromium.
//
// Expects what scripts/develop provides (scripts/e2e starts it): Home Assistant
// on http://127.0.0.1:8123 with the user dev / dev-pass-123 and a simulated,
// plugged-in BS20 charger 9181102751219513 (password 123456) that is not yet
// configured. Every check counts once in the final "N passed, M failed" line;
// the exit status is 1 when any check failed.
//
//   CHROMIUM=$(command -v chromium) node e2e/e2e.mjs
//
// Environment: CHROMIUM (browser binary, required), HA_URL, HA_USER,
// HA_PASSWORD, CHARGER_SERIAL, CHARGER_PASSWORD, SCREENSHOT_DIR (default
// docs/screenshots), ARTIFACT_DIR (failure screenshots, default e2e/artifacts).

import { mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const BASE = process.env.HA_URL ?? 'http://127.0.0.1:8123';
const USER = process.env.HA_USER ?? 'dev';
const PASSWORD = process.env.HA_PASSWORD ?? 'dev-pass-123';
const SERIAL = process.env.CHARGER_SERIAL ?? '9181102751219513';
const CHARGER_PASSWORD = process.env.CHARGER_PASSWORD ?? '123456';
const SHOTS = path.resolve(process.env.SCREENSHOT_DIR ?? path.join(ROOT, 'docs', 'screenshots'));
const ARTIFACTS = path.resolve(process.env.ARTIFACT_DIR ?? path.join(ROOT, 'e2e', 'artifacts'));
const DOMAIN = 'evse_master';

// The entities a configured single-phase charger must show on its device page.
const DEVICE_PAGE_ENTITIES = ['Charge', 'Current limit', 'Charger state', 'Power', 'Lifetime energy'];

const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

// --- a tiny test runner --------------------------------------------------------------

const results = [];
const ctx = {}; // what later checks need from earlier ones (entity ids, token, ...)
let page;

async function check(name, needs, fn) {
  const missing = needs.filter((key) => ctx[key] === undefined);
  if (missing.length) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: not run, needs ${missing.join(', ')} from an earlier check`);
    return;
  }
  const t0 = Date.now();
  try {
    await fn();
    results.push({ name, ok: true });
    console.log(`ok   ${name} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  } catch (err) {
    results.push({ name, ok: false });
    console.log(`FAIL ${name}: ${(err && err.message ? err.message : String(err)).split('\n')[0]}`);
    if (err && err.stack) console.log(err.stack.split('\n').slice(1, 6).join('\n'));
    if (page) {
      const file = path.join(ARTIFACTS, `failure-${results.length}.png`);
      await page.screenshot({ path: file }).then(
        () => console.log(`     screenshot: ${path.relative(ROOT, file)}`),
        () => {},
      );
    }
  }
}

function assert(condition, message) {
  if (!condition) throw new Error(message);
}

async function poll(what, fn, { timeout = 20_000, interval = 500 } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    last = await fn();
    if (last.ok) return last.value;
    if (Date.now() > end) throw new Error(`${what} (last: ${last.detail ?? JSON.stringify(last.value)})`);
    await new Promise((resolve) => setTimeout(resolve, interval));
  }
}

// --- Home Assistant REST and WebSocket (through the logged-in page) ------------------

async function rest(method, urlPath, body) {
  const response = await fetch(BASE + urlPath, {
    method,
    headers: { Authorization: `Bearer ${ctx.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!response.ok) throw new Error(`${method} ${urlPath}: HTTP ${response.status} ${await response.text()}`);
  return response.json();
}

const state = (entityId) => rest('GET', `/api/states/${entityId}`);

// Text of an element including its shadow DOM (innerText stops at shadow roots).
const deepText = (locator) =>
  locator.evaluate((root) => {
    const parts = [];
    const walk = (node) => {
      if (node.nodeType === Node.TEXT_NODE) parts.push(node.textContent);
      if (node.nodeName === 'STYLE' || node.nodeName === 'SCRIPT') return;
      if (node.shadowRoot) walk(node.shadowRoot);
      for (const child of node.childNodes) walk(child);
    };
    walk(root);
    return parts.join(' ').replace(/\s+/g, ' ').trim();
  });

// Runs a WebSocket command on the frontend's own connection.
const callWS = (message) =>
  page.evaluate((msg) => document.querySelector('home-assistant').hass.callWS(msg), message);

// --- the test -------------------------------------------------------------------------

assert(process.env.CHROMIUM, 'set CHROMIUM to the Chromium binary (CHROMIUM=$(command -v chromium))');
await mkdir(SHOTS, { recursive: true });
await mkdir(ARTIFACTS, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM,
  headless: true,
  args: [
    '--headless',
    '--no-sandbox',
    '--disable-gpu',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--no-first-run',
    '--disable-default-apps',
    '--disable-extensions',
    '--disable-client-side-phishing-detection',
    '--disable-domain-reliability',
    '--disable-features=AutofillServerCommunication,OptimizationHints,Translate,MediaRouter',
    '--no-pings',
    // Even with the flags above Chromium looks up googleapis.com and
    // accounts.google.com; resolve nothing but localhost (Home Assistant is
    // addressed by IP, the brands CDN is answered by the route below).
    '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
  ],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, locale: 'en-US' });
context.setDefaultTimeout(20_000);
// No internet here: answer the brands CDN locally instead of letting every
// icon wait for DNS. The integration's own icon comes from its brand/ folder,
// which is what Home Assistant >= 2026.3 serves for custom integrations.
await context.route(/^https:\/\/brands\.home-assistant\.io\//, async (route) => {
  const match = new URL(route.request().url()).pathname.match(/\/evse_master\/(?:dark_)?(icon|logo)(@2x)?\.png$/);
  if (!match) return route.fulfill({ status: 404, body: '' });
  const file = path.join(ROOT, 'custom_components', DOMAIN, 'brand', `${match[1]}${match[2] ?? ''}.png`);
  return route.fulfill({ status: 200, contentType: 'image/png', body: await readFile(file) });
});
page = await context.newPage();
const consoleErrors = [];
page.on('console', (msg) => {
  if (msg.type() === 'error') consoleErrors.push(msg.text());
});

try {
  await check('log in through the login form', [], async () => {
    await page.goto(BASE + '/', { waitUntil: 'networkidle' });
    await page.locator('input[name="username"]').fill(USER);
    await page.locator('input[name="password"]').fill(PASSWORD);
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => !url.pathname.startsWith('/auth/'));
    // Required before any further navigation: the frontend stores its tokens.
    await page.waitForFunction(() => !!localStorage.getItem('hassTokens'));
    ctx.token = await page.evaluate(() => JSON.parse(localStorage.getItem('hassTokens')).access_token);
    const entries = await rest('GET', `/api/config/config_entries/entry?domain=${DOMAIN}`);
    if (entries.length) delete ctx.token; // the later checks need a fresh instance
    assert(!entries.length, `${DOMAIN} is already configured (start from scripts/develop --reset)`);
  });

  await check('Add integration > EVSE Master shows the user step with the charger', ['token'], async () => {
    await page.goto(BASE + '/config/integrations/dashboard', { waitUntil: 'networkidle' });
    await page.getByRole('button', { name: /add integration/i }).click();
    const search = page.locator('dialog-add-integration search-input input');
    await search.waitFor();
    await search.fill('EVSE Master');
    await page.locator('dialog-add-integration').getByText('EVSE Master', { exact: true }).click();
    const flow = page.locator('dialog-data-entry-flow');
    const title = flow.getByText('Add an EVSE Master charger').first();
    // With a discovery flow pending (a charger heard earlier) the frontend
    // first offers it; the user step is behind "Set up another instance".
    const another = page.getByText(/set up another instance of EVSE Master/i);
    await title.or(another).first().waitFor();
    if (!(await title.isVisible())) await another.click();
    await title.waitFor();

    // Discovered chargers come as a picker that also takes a typed serial;
    // with none discovered the step shows a plain text field.
    const formData = () => flow.locator('ha-form').first().evaluate((form) => form.data ?? {});
    const picker = flow.locator('ha-selector-select');
    if (await picker.count()) {
      if ((await formData()).serial !== SERIAL) {
        await picker.locator('ha-generic-picker').click();
        await page.getByText(`· ${SERIAL} ·`).click();
      }
      ctx.discovered = true;
    } else {
      await flow.getByLabel('Serial number').fill(SERIAL);
      ctx.discovered = false;
    }
    await poll('serial in the form', async () => {
      const data = await formData();
      return { ok: data.serial === SERIAL, value: data };
    });
    await flow.getByLabel('Password', { exact: true }).fill(CHARGER_PASSWORD);
    console.log(`     user step: charger ${ctx.discovered ? 'discovered (picker)' : 'typed (text field)'}`);
    await page.waitForTimeout(500); // let the field's focus animation finish
    await page.screenshot({ path: path.join(SHOTS, 'config_flow.png') });
    ctx.flowOpen = true;
  });

  await check('submitting serial + password creates the entry (success dialog, entry loaded)', ['flowOpen'], async () => {
    const flow = page.locator('dialog-data-entry-flow');
    await flow.getByRole('button', { name: /submit/i }).click();
    // Success: HA 2026.2 shows "Device created" with name and area fields
    // (older releases: "Created configuration for …").
    await flow.getByText(/device created|created configuration/i).first().waitFor({ timeout: 30_000 });
    const entries = await rest('GET', `/api/config/config_entries/entry?domain=${DOMAIN}`);
    assert(entries.length === 1, `expected one ${DOMAIN} entry: ${JSON.stringify(entries)}`);
    const [entry] = entries;
    assert(entry.state === 'loaded', `entry state ${entry.state}`);
    ctx.entryId = entry.entry_id;
    await page.screenshot({ path: path.join(ARTIFACTS, 'config_flow_done.png') });
    await flow.getByRole('button', { name: /finish/i }).click();
    await flow.waitFor({ state: 'hidden' });
  });

  await check('the charger and its entities are registered', ['entryId'], async () => {
    const registry = await callWS({ type: 'config/entity_registry/list' });
    const mine = registry.filter((e) => e.config_entry_id === ctx.entryId);
    const byKey = (domain, key) => mine.find((e) => e.entity_id.startsWith(`${domain}.`) && e.unique_id === `${SERIAL}_${key}`);
    const wanted = {
      chargingSwitch: byKey('switch', 'charging'),
      maxCurrent: byKey('number', 'max_current'),
      chargerState: byKey('sensor', 'charger_state'),
      power: byKey('sensor', 'power'),
      lifetimeEnergy: byKey('sensor', 'lifetime_energy'),
    };
    const missing = Object.entries(wanted).filter(([, e]) => !e).map(([k]) => k);
    assert(!missing.length, `missing entities: ${missing.join(', ')} (have ${mine.map((e) => e.entity_id).join(', ')})`);
    for (const [key, entity] of Object.entries(wanted)) ctx[key] = entity.entity_id;
    ctx.deviceId = wanted.chargingSwitch.device_id;
    assert(ctx.deviceId, 'the entities have no device');
    console.log(`     ${mine.length} entities, e.g. ${ctx.chargingSwitch}, ${ctx.maxCurrent}, ${ctx.lifetimeEnergy}`);
  });

  await check('the device page lists the entities', ['deviceId'], async () => {
    await page.goto(`${BASE}/config/devices/device/${ctx.deviceId}`, { waitUntil: 'networkidle' });
    const main = page.locator('ha-config-device-page');
    await main.getByText('BS20').first().waitFor();
    for (const name of DEVICE_PAGE_ENTITIES) {
      await main.getByText(name, { exact: true }).first().waitFor({ timeout: 10_000 });
    }
    ctx.devicePage = true;
  });

  await check('the Charge switch turns charging on', ['devicePage', 'chargingSwitch'], async () => {
    const before = await state(ctx.chargingSwitch);
    assert(before.state === 'off', `switch is ${before.state} before the click`);
    ctx.energyBefore = Number((await state(ctx.lifetimeEnergy)).state);
    const row = page.locator('hui-toggle-entity-row', { hasText: 'Charge' }).first();
    await row.locator('ha-entity-toggle').click();
    await poll('switch on', async () => {
      const s = await state(ctx.chargingSwitch);
      return { ok: s.state === 'on', value: s.state };
    });
    await poll('charger state charging', async () => {
      const s = await state(ctx.chargerState);
      return { ok: s.state === 'charging', value: s.state };
    });
    ctx.charging = true;
  });

  await check('while charging, power is above 0 W', ['charging'], async () => {
    const watts = await poll('power > 0', async () => {
      const s = await state(ctx.power);
      return { ok: Number(s.state) > 0, value: `${s.state} ${s.attributes.unit_of_measurement}` };
    });
    console.log(`     power: ${watts}`);
  });

  await check('Current limit set to 10 A on the device page reads back 10 through REST', ['devicePage', 'maxCurrent'], async () => {
    const row = page.locator('hui-number-entity-row', { hasText: 'Current limit' }).first();
    const input = row.locator('input');
    await input.fill('10');
    await input.press('Enter');
    await input.blur();
    await poll('number state 10', async () => {
      const s = await state(ctx.maxCurrent);
      return { ok: Number(s.state) === 10, value: s.state };
    });
  });

  await check('the device page shows the charging session', ['devicePage', 'charging'], async () => {
    const main = page.locator('ha-config-device-page');
    const row = (name) => main.locator('hui-simple-entity-row, hui-sensor-entity-row', { hasText: name }).first();
    // Tall enough for the Controls, Sensors, Configuration and Diagnostic
    // cards; reloaded so the page is scrolled to the top.
    await page.setViewportSize({ width: 1280, height: 1880 });
    await page.goto(`${BASE}/config/devices/device/${ctx.deviceId}`, { waitUntil: 'networkidle' });
    await poll('"Charging" and a non-zero power on the device page', async () => {
      const stateText = await deepText(row('Charger state'));
      const powerText = await deepText(row('Power'));
      return { ok: /Charging/.test(stateText) && /[1-9]/.test(powerText), value: `${stateText} | ${powerText}` };
    });
    await page.waitForTimeout(300);
    await page.screenshot({ path: path.join(SHOTS, 'device.png') });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  await check('Energy dashboard: an individual device with the lifetime energy sensor', ['lifetimeEnergy'], async () => {
    await page.goto(`${BASE}/config/energy`, { waitUntil: 'networkidle' });
    const section = page.locator('ha-energy-device-settings');
    await section.getByRole('button', { name: /add device/i }).click();
    const dialog = page.locator('dialog-energy-device-settings');
    await dialog.locator('ha-statistic-picker').first().click();
    await page.getByText('Lifetime energy').first().click();
    await poll('lifetime energy sensor selected', async () => {
      const value = await dialog.locator('ha-statistic-picker').first().evaluate((picker) => picker.value);
      return { ok: value === ctx.lifetimeEnergy, value };
    });
    await page.screenshot({ path: path.join(SHOTS, 'energy.png') });
    await dialog.getByRole('button', { name: /save/i }).click();
    await poll('energy preferences', async () => {
      const prefs = await callWS({ type: 'energy/get_prefs' }).catch(() => ({}));
      const devices = (prefs.device_consumption ?? []).map((d) => d.stat_consumption);
      return { ok: devices.includes(ctx.lifetimeEnergy), value: devices };
    });
  });

  await check('while charging, lifetime energy rises', ['charging', 'energyBefore'], async () => {
    const after = await poll(
      'lifetime energy above its value at switch-on',
      async () => {
        const value = Number((await state(ctx.lifetimeEnergy)).state);
        return { ok: value > ctx.energyBefore, value };
      },
      { timeout: 60_000, interval: 1000 },
    );
    console.log(`     lifetime energy: ${ctx.energyBefore} -> ${after} kWh`);
  });
} finally {
  await browser.close();
}

const passed = results.filter((r) => r.ok).length;
const failed = results.length - passed;
if (failed && consoleErrors.length) {
  console.log(`browser console errors (${consoleErrors.length}):`);
  for (const text of consoleErrors.slice(0, 20)) console.log(`  ${text}`);
}
console.log(`e2e took ${elapsed()}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
