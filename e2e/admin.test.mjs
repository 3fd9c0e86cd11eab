// The store owner's path through the plugin, in Debian's Chromium driven by playwright-core:
// log in, create a webhook feed through the form as FluentCart's documentation describes it,
// see it in the list, switch it off and on, edit it, fire order_paid_done inside WordPress, see
// the receiver get the configured request, see the delivery in Deliveries, resend it, send a
// test, delete the feed. Started by e2e/run.sh, which sets the environment below.
import { chromium } from 'playwright-core';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run this test through e2e/run.sh`);
  return value;
};
const WP_URL = env('WP_URL');
const RECEIVER_URL = env('RECEIVER_URL');
const RECEIVER_LOG = env('RECEIVER_LOG');
const SCREENSHOTS = env('E2E_SCREENSHOTS');
const TOKEN = env('E2E_TOKEN');
const SPOOL = env('E2E_SPOOL');
const sample = JSON.parse(fs.readFileSync(new URL('../fixtures/events/order_paid_done.json', import.meta.url)));
const HOOK_PATH = '/hooks/orders';

let shot = 0;
let currentStep = '(start)';
let page;
const pageErrors = [];

async function step(name, body) {
  currentStep = name;
  const started = Date.now();
  await body();
  shot += 1;
  const file = path.join(SCREENSHOTS, `${String(shot).padStart(2, '0')}-${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
  await page.screenshot({ path: file, fullPage: true });
  console.log(`ok ${shot} - ${name} (${Date.now() - started} ms) → ${path.basename(file)}`);
}

/** Requests the receiver recorded under `prefix`, waiting until there are at least `count`. */
async function received(count, prefix = HOOK_PATH, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lines = fs.readFileSync(RECEIVER_LOG, 'utf8').split('\n').filter(Boolean).map((line) => JSON.parse(line));
    const requests = lines
      .filter((r) => r.phase === 'arrived' && r.path.startsWith(prefix))
      .map((r) => ({
        ...r,
        headers: Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v])),
        body: Buffer.from(r.body, 'base64').toString('utf8'),
      }));
    if (requests.length >= count) return requests;
    if (Date.now() > deadline) {
      throw new Error(`the receiver got ${requests.length} request(s) at ${prefix}, expected ${count}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Fires FluentCart actions inside WordPress (the e2e mu-plugin), as a checkout would. */
async function fire(events) {
  const response = await page.request.get(`${WP_URL}/?fluent_webhook_e2e_fire=${events.join(',')}&token=${TOKEN}`);
  assert.equal(response.status(), 200, `firing ${events} answered ${response.status()}`);
  return response.json();
}

function verifySignature(secret, headers, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ''), 'base64');
  const signed = `${headers['webhook-id']}.${headers['webhook-timestamp']}.${body}`;
  const expected = crypto.createHmac('sha256', key).update(signed).digest('base64');
  return headers['webhook-signature'].split(' ').includes(`v1,${expected}`);
}

/** Waits up to 5 s for `check` to hold. */
async function expect(check, what) {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`${what} did not come`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs SQL on the extension's spool as php-fpm's user, so that its files keep their owner. */
const spool = (sql) =>
  execFileSync('runuser', ['-u', 'www-data', '--', 'sqlite3', '-cmd', '.timeout 5000', SPOOL, sql], { stdio: ['ignore', 'pipe', 'inherit'] });
/** Runs `action` while the spool refuses to change any delivery, as with a full disk. */
async function whileSpoolRefuses(action) {
  spool("CREATE TRIGGER e2e_refuse BEFORE UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'e2e: the spool refuses'); END;");
  try {
    await action();
  } finally {
    // Not over the step's own error: a trigger left behind fails the next step anyway.
    try {
      spool('DROP TRIGGER IF EXISTS e2e_refuse;');
    } catch (error) {
      console.error(`e2e: the spool's trigger could not be dropped: ${error.message}`);
    }
  }
}
const admin = (pageSlug, query = '') => `${WP_URL}/wp-admin/admin.php?page=${pageSlug}${query}`;

const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
});
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.setDefaultTimeout(15000);
  page.on('pageerror', (error) => pageErrors.push(error.message));
  page.on('console', (message) => message.type() === 'error' && pageErrors.push(message.text()));
  // An alert is a failure the page reports (the toggle's, say): recorded and shown.
  page.on('dialog', (dialog) => {
    if (dialog.type() === 'alert') {
      pageErrors.push(`alert: ${dialog.message()}`);
      dialog.dismiss();
    }
  });

  await step('log in', async () => {
    await page.goto(`${WP_URL}/wp-login.php`);
    // wp-login.php focuses the user name field shortly after loading; typing before that
    // would land in the wrong field.
    await page.waitForFunction(() => document.activeElement && document.activeElement.id === 'user_login');
    await page.fill('#user_login', env('WP_ADMIN_USER'));
    await page.fill('#user_pass', env('WP_ADMIN_PASSWORD'));
    assert.equal(await page.inputValue('#user_login'), env('WP_ADMIN_USER'));
    assert.equal(await page.inputValue('#user_pass'), env('WP_ADMIN_PASSWORD'));
    await Promise.all([page.waitForURL(/wp-admin/), page.click('#wp-submit')]);
  });

  await step('webhooks list, empty, with the notice of an event sent while the extension was missing', async () => {
    await page.goto(admin('fluent-webhook'));
    await page.getByRole('heading', { name: 'Webhooks', exact: true }).waitFor();
    const notice = page.locator('#fluent-webhook-extension-notice');
    assert.match(await notice.innerText(), /1 store event\(s\) were not sent.*order_paid_done.*not loaded/s);
    assert.match(await page.locator('table.fw-feeds').innerText(), /No webhooks yet/);
  });

  await step('dismiss the notice', async () => {
    await Promise.all([page.waitForURL(/page=fluent-webhook/), page.locator('#fluent-webhook-extension-notice button').click()]);
    assert.equal(await page.locator('#fluent-webhook-extension-notice').count(), 0, 'the notice is gone');
  });

  await step('add integration, webhook: the empty form with FluentCart defaults', async () => {
    await page.locator('summary', { hasText: 'Add Integration' }).click();
    await page.getByRole('link', { name: 'Webhook', exact: true }).click();
    await page.getByRole('heading', { name: 'Add Webhook' }).waitFor();
    assert.equal(await page.locator('#fw-request-method').inputValue(), 'POST');
    assert.ok(await page.locator('input[name="feed[request_format]"][value=JSON]').isChecked());
    assert.ok(await page.locator('input[name="feed[request_headers]"][value=no_headers]').isChecked());
    assert.ok(await page.locator('input[name="feed[request_body]"][value=all_data]').isChecked());
    assert.ok(await page.locator('#fw-enabled').isChecked(), 'Enable This Feed is on by default');
    assert.ok(await page.locator('#fw-header-rows').isHidden(), 'header rows hidden with No Headers');
  });

  await step('fill every field as the seed describes, with a broken URL', async () => {
    await page.getByLabel('Integration Title').fill('Send New Sales to Slack');
    await page.getByLabel('Request URL').fill('hooks.example/orders');
    await page.getByLabel('Request Method').selectOption('POST');
    await page.getByLabel('JSON').check();
    await page.getByLabel('With Headers').check();
    const headerRows = page.locator('#fw-header-rows tr.fw-row');
    await headerRows.nth(0).getByLabel('Header Name').fill('X-Api-Key');
    await headerRows.nth(0).getByLabel('Header Value').fill('key-123');
    await page.locator('#fw-header-rows .fw-add-row').click();
    await headerRows.nth(1).getByLabel('Header Name').fill('X-Store');
    await headerRows.nth(1).getByLabel('Header Value').fill('e2e');
    await page.getByLabel('Selected Fields').check();
    const fieldRows = page.locator('#fw-field-rows tr.fw-row');
    await fieldRows.nth(0).getByLabel('Payload Key').fill('email');
    await fieldRows.nth(0).getByLabel('Choose a value').selectOption('{{order.billing.email}}');
    assert.equal(await fieldRows.nth(0).locator('.fw-field-value').inputValue(), '{{order.billing.email}}', 'the dropdown fills the value');
    await page.locator('#fw-field-rows .fw-add-row').click();
    await fieldRows.nth(1).getByLabel('Payload Key').fill('total');
    await fieldRows.nth(1).getByLabel('Choose a value').selectOption('{{order.total_amount}}');
    await page.getByLabel('Select Event').selectOption(['order_paid_done', 'shipping_status_changed_to_shipped']);
    assert.ok(await page.locator('#fw-enabled').isChecked());
  });

  await step('create webhook feed: the URL error is shown next to Request URL, values kept', async () => {
    await Promise.all([page.waitForLoadState('load'), page.getByRole('button', { name: 'Create Webhook Feed' }).click()]);
    const error = page.locator('#fw-error-request_url');
    await error.waitFor();
    assert.match(await error.innerText(), /absolute http/);
    assert.equal(await page.getByLabel('Request URL').getAttribute('aria-invalid'), 'true');
    const errorRow = page.locator('tr', { has: page.getByLabel('Request URL') });
    assert.equal(await errorRow.locator('.fw-field-error').count(), 1, 'the error sits in the Request URL row');
    assert.equal(await page.getByLabel('Integration Title').inputValue(), 'Send New Sales to Slack');
    assert.equal(await page.locator('#fw-header-rows tr.fw-row').count(), 2);
    assert.equal(await page.locator('#fw-field-rows tr.fw-row .fw-field-value').nth(1).inputValue(), '{{order.total_amount}}');
  });

  await step('create webhook feed with the receiver URL: it is in the list', async () => {
    await page.getByLabel('Request URL').fill(`${RECEIVER_URL}${HOOK_PATH}`);
    await Promise.all([page.waitForURL(/page=fluent-webhook&/), page.getByRole('button', { name: 'Create Webhook Feed' }).click()]);
    assert.match(await page.locator('.fw-notice').innerText(), /Webhook feed created/);
    const row = page.locator('table.fw-feeds tbody tr', { hasText: 'Send New Sales to Slack' });
    assert.match(await row.innerText(), new RegExp(`${RECEIVER_URL}${HOOK_PATH}`.replace(/[/.]/g, '\\$&')));
    assert.match(await row.innerText(), /Order Paid \(Payment \/ Subscription\), Order Shipped/);
    assert.ok(await row.locator('.fw-enabled-toggle').isChecked());
  });

  const row = () => page.locator('table.fw-feeds tbody tr', { hasText: /Send New Sales to Slack|Sync Orders with Accounting/ });
  const toggle = async (on) => {
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url().includes('admin-ajax.php') && (r.request().postData() || '').includes('action=fluent_webhook_toggle')),
      row().locator('.fw-enabled-toggle').setChecked(on),
    ]);
    assert.equal(response.status(), 200, 'the toggle request succeeds');
    await row().locator('.fw-toggle-state', { hasText: on ? 'On' : 'Off' }).waitFor();
    return (await response.json()).data;
  };

  await step('toggle off: takes effect at once, and stays off', async () => {
    await toggle(false);
    assert.equal((await fire(['order_paid_done'])).dispatched, 0, 'a switched-off feed sends nothing');
    await page.reload();
    assert.equal(await row().locator('.fw-enabled-toggle').isChecked(), false);
  });

  await step('toggle on', async () => {
    await toggle(true);
    await page.reload();
    assert.ok(await row().locator('.fw-enabled-toggle').isChecked());
  });

  await step('a form without its nonce is refused', async () => {
    const id = await row().getAttribute('data-feed-id');
    const response = await page.request.post(`${WP_URL}/wp-admin/admin-post.php`, { form: { action: 'fluent_webhook_delete', feed: id } });
    assert.equal(response.status(), 403, 'delete without a nonce');
    await page.reload();
    assert.equal(await row().count(), 1, 'the feed is still there');
  });

  let secret;
  await step('edit: rename, add a templated field, sign requests', async () => {
    await row().getByRole('link', { name: 'Send New Sales to Slack' }).click();
    await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
    assert.equal(await page.getByLabel('Request URL').inputValue(), `${RECEIVER_URL}${HOOK_PATH}`);
    assert.ok(await page.getByLabel('With Headers').isChecked());
    assert.equal(await page.locator('#fw-field-rows tr.fw-row').count(), 2);
    await page.getByLabel('Integration Title').fill('Sync Orders with Accounting');
    await page.locator('#fw-field-rows .fw-add-row').click();
    const third = page.locator('#fw-field-rows tr.fw-row').nth(2);
    await third.getByLabel('Payload Key').fill('note');
    await third.locator('.fw-field-value').fill('Order #{{order.id}} paid');
    await page.locator('#fw-signing-generate').check();
    await Promise.all([page.waitForURL(/fw_notice=saved/), page.getByRole('button', { name: 'Save Webhook Feed' }).click()]);
    secret = await page.locator('#fw-new-secret').inputValue();
    assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/, 'the new secret is shown');
    assert.match(await row().innerText(), /Sync Orders with Accounting/);
  });

  await step('the secret is shown once and never echoed back', async () => {
    await page.reload();
    assert.equal(await page.locator('#fw-new-secret').count(), 0, 'not shown a second time');
    await row().getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
    assert.ok(!(await page.content()).includes(secret.slice(6)), 'the edit form does not carry the secret');
    assert.ok(await page.getByLabel('Keep signing with the current secret (not shown again)').isChecked());
    assert.ok(!(await page.content()).includes('key-123'), 'nor the stored header values');
    assert.equal(await page.locator('#fw-header-rows tr.fw-row').first().getByLabel('Header Name').inputValue(), 'X-Api-Key');
    await page.goto(admin('fluent-webhook'));
  });

  let first;
  await step('order_paid_done fired inside WordPress: the receiver gets the configured request, once per order', async () => {
    const result = await fire(['order_paid_done', 'order_paid_done', 'shipping_status_changed_to_shipped']);
    assert.equal(result.dispatched, 1, 'three actions for one order in one request send the feed once');
    [first] = await received(1);
    assert.equal(first.method, 'POST');
    assert.equal(first.headers['x-api-key'], 'key-123');
    assert.equal(first.headers['x-store'], 'e2e');
    assert.equal(first.headers['x-webhook-event'], 'order_paid_done');
    assert.match(first.headers['content-type'], /^application\/json/);
    assert.ok(verifySignature(secret, first.headers, first.body), 'webhook-signature verifies with the secret shown once');
    const body = JSON.parse(first.body);
    assert.deepEqual(Object.keys(body), ['email', 'total', 'note']);
    assert.equal(body.email, sample.order.billing_address.email, 'order.billing comes from the billing_address relation');
    assert.equal(Number(body.total), sample.order.total_amount / 100, 'money in cents rendered as an amount');
    assert.equal(body.note, `Order #${sample.order.id} paid`);
    // The screenshot of this step is what the receiver got.
    const shown = `${first.method} ${first.path}\n${Object.entries(first.headers).map(([k, v]) => `${k}: ${v}`).join('\n')}\n\n${first.body}`;
    await page.setContent('<h1>The receiver got</h1><pre id="received"></pre>');
    await page.locator('#received').evaluate((element, text) => { element.textContent = text; }, shown);
  });

  const deliveryRow = (id) => page.locator(`tr.fw-delivery[data-delivery-id="${id}"]`);
  /**
   * Reloads the Deliveries screen until the delivery's status (and its row's text, when given)
   * is recorded: the log is written after the answer, which can trail its arrival.
   */
  const waitForStatus = async (id, status, text = /./) => {
    const deadline = Date.now() + 10000;
    for (;;) {
      await page.goto(admin('fluent-webhook-deliveries'));
      const badge = deliveryRow(id).locator('.fw-badge');
      if ((await badge.count()) && (await badge.innerText()) === status && text.test(await deliveryRow(id).innerText())) return;
      if (Date.now() > deadline) throw new Error(`delivery ${id} is not shown as ${status} in Deliveries`);
      await page.waitForTimeout(250);
    }
  };
  await step('deliveries: the delivery, delivered at the first attempt', async () => {
    await waitForStatus(first.headers['webhook-id'], 'delivered');
    const delivery = deliveryRow(first.headers['webhook-id']);
    assert.equal(await delivery.locator('.fw-attempt-count').innerText(), '1');
    assert.match(await delivery.innerText(), /Sync Orders with Accounting/);
    assert.match(await delivery.innerText(), /HTTP 200/);
    assert.match(await delivery.locator('.fw-response').innerText(), /ok/);
  });

  await step('resend: the receiver gets the same request under a new id', async () => {
    await Promise.all([page.waitForURL(/fw_notice=resent/), deliveryRow(first.headers['webhook-id']).getByRole('button', { name: 'Resend' }).click()]);
    assert.match(await page.locator('.fw-notice').innerText(), /Sent again as a new delivery/);
    const [, again] = await received(2);
    assert.notEqual(again.headers['webhook-id'], first.headers['webhook-id']);
    assert.match(page.url(), new RegExp(`fw_delivery=${again.headers['webhook-id']}`), 'the notice names the new delivery');
    assert.equal(again.headers['x-api-key'], 'key-123');
    assert.equal(again.body, first.body);
    await page.reload();
    await deliveryRow(again.headers['webhook-id']).waitFor();
    assert.ok(await deliveryRow(first.headers['webhook-id']).isVisible(), 'the first delivery stays in the log');
  });

  await step('send test from the list: the result is shown', async () => {
    await page.goto(admin('fluent-webhook'));
    await Promise.all([page.waitForURL(/fw_notice=test/), row().getByRole('button', { name: 'Send test' }).click()]);
    assert.match(await page.locator('.fw-notice').innerText(), /Test sent to .*: delivered \(HTTP 200/);
    const requests = await received(3);
    assert.equal(JSON.parse(requests[2].body).email, sample.order.billing_address.email);
  });

  let failing;
  await step('an endpoint that fails: the delivery waits for its retry', async () => {
    await row().getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
    await page.getByLabel('Request URL').fill(`${RECEIVER_URL}/status/503${HOOK_PATH}`);
    await Promise.all([page.waitForURL(/fw_notice=saved/), page.getByRole('button', { name: 'Save Webhook Feed' }).click()]);
    assert.equal((await fire(['order_paid_done'])).dispatched, 1);
    [failing] = await received(1, '/status/503');
    await waitForStatus(failing.headers['webhook-id'], 'pending', /next attempt.*1 · HTTP 503, in/s);
  });

  await step('a new address cancels the retry still bound for the old one', async () => {
    await page.goto(admin('fluent-webhook'));
    await row().getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
    await page.getByLabel('Request URL').fill(`${RECEIVER_URL}/status/502${HOOK_PATH}`);
    await Promise.all([page.waitForURL(/fw_notice=saved/), page.getByRole('button', { name: 'Save Webhook Feed' }).click()]);
    await waitForStatus(failing.headers['webhook-id'], 'failed', /canceled: the feed's address, method, headers or secret changed/);
    assert.equal((await received(1, '/status/503')).length, 1, 'no retry reached the old address');
    assert.equal((await fire(['order_paid_done'])).dispatched, 1);
    [failing] = await received(1, '/status/502');
    await waitForStatus(failing.headers['webhook-id'], 'pending', /next attempt.*1 · HTTP 502, in/s);
  });

  await step('a retry the spool will not cancel is told, not hidden', async () => {
    // The retry waiting for the 502 address cannot be canceled when the address changes again.
    await whileSpoolRefuses(async () => {
      await page.goto(admin('fluent-webhook'));
      await row().getByRole('link', { name: 'Edit' }).click();
      await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
      await page.getByLabel('Request URL').fill(`${RECEIVER_URL}/status/504${HOOK_PATH}`);
      await Promise.all([page.waitForURL(/fw_notice=saved_not_canceled/), page.getByRole('button', { name: 'Save Webhook Feed' }).click()]);
      assert.match(await page.locator('.fw-notice').innerText(), /could not be canceled: they may still be sent, with the address/);
      // Switched off all the same, and the page says that the retry may still go out.
      const switched = await toggle(false);
      assert.deepEqual([switched.enabled, switched.cancel_failed], [false, true]);
      await expect(() => pageErrors.at(-1)?.match(/^alert: The feed is switched off, but .* could not be canceled/), 'the alert');
      pageErrors.pop();
      await toggle(true);
    });
    await waitForStatus(failing.headers['webhook-id'], 'pending', /next attempt/);
  });

  await step('switching the feed off cancels its retry', async () => {
    await page.goto(admin('fluent-webhook'));
    assert.equal((await toggle(false)).canceled, 1, 'the waiting delivery is canceled');
    await waitForStatus(failing.headers['webhook-id'], 'failed', /canceled: the feed was switched off/);
    assert.equal(await deliveryRow(failing.headers['webhook-id']).locator('.fw-attempt-count').innerText(), '1', 'one request was made');
    assert.equal((await received(1, '/status/502')).length, 1, 'no retry reached the endpoint');
  });

  let resent;
  await step('resend after the address changed: to the feed as it is now', async () => {
    await Promise.all([page.waitForURL(/fw_notice=resent/), deliveryRow(failing.headers['webhook-id']).getByRole('button', { name: 'Resend' }).click()]);
    [resent] = await received(1, '/status/504');
    assert.equal(resent.body, failing.body, 'the payload as it was sent');
    assert.notEqual(resent.headers['webhook-id'], failing.headers['webhook-id']);
    assert.equal((await received(1, '/status/502')).length, 1, 'nothing more to the old address');
    await waitForStatus(resent.headers['webhook-id'], 'pending', /next attempt.*1 · HTTP 504, in/s);
  });

  await step('switched off in its form, not the list: its retry is canceled too', async () => {
    await page.goto(admin('fluent-webhook'));
    await toggle(true);
    await row().getByRole('link', { name: 'Edit' }).click();
    await page.getByRole('heading', { name: 'Edit Webhook' }).waitFor();
    await page.getByLabel('Enable This Feed').setChecked(false);
    await Promise.all([page.waitForURL(/fw_notice=saved/), page.getByRole('button', { name: 'Save Webhook Feed' }).click()]);
    assert.doesNotMatch(page.url(), /saved_not_canceled/);
    await waitForStatus(resent.headers['webhook-id'], 'failed', /canceled: the feed was switched off/);
    assert.equal((await received(1, '/status/504')).length, 1, 'no retry reached the endpoint');
    // A retry waiting again, for the steps below.
    await Promise.all([page.waitForURL(/fw_notice=resent/), deliveryRow(resent.headers['webhook-id']).getByRole('button', { name: 'Resend' }).click()]);
    [, resent] = await received(2, '/status/504');
    await waitForStatus(resent.headers['webhook-id'], 'pending', /next attempt.*1 · HTTP 504, in/s);
  });

  await step('delete asks for confirmation; cancel keeps the feed', async () => {
    await page.goto(admin('fluent-webhook'));
    let asked = null;
    page.once('dialog', (dialog) => {
      asked = { type: dialog.type(), message: dialog.message() };
      return dialog.dismiss();
    });
    await row().getByRole('button', { name: 'Delete' }).click();
    assert.equal(asked?.type, 'confirm', 'Delete asks first');
    assert.match(asked.message, /Delete this webhook feed/);
    await page.waitForTimeout(300);
    assert.equal(await row().count(), 1);
    assert.doesNotMatch(page.url(), /fw_notice=deleted/);
  });

  await step('delete, confirmed, while the spool refuses: the feed is gone, and the retry it leaves is told', async () => {
    // The resent delivery waits for its retry to the 504 address; the spool refuses to cancel it.
    await whileSpoolRefuses(async () => {
      page.once('dialog', (dialog) => dialog.accept());
      await Promise.all([page.waitForURL(/fw_notice=deleted_not_canceled/), row().getByRole('button', { name: 'Delete' }).click()]);
      assert.match(await page.locator('.fw-notice').innerText(), /Webhook feed deleted, but .* could not be canceled: they may still be sent/);
      assert.equal(await row().count(), 0);
      assert.equal((await fire(['order_paid_done'])).dispatched, 0, 'a deleted feed sends nothing');
    });
    // What the notice said: the retry was not canceled.
    await waitForStatus(resent.headers['webhook-id'], 'pending', /next attempt/);
  });

  currentStep = 'no JavaScript errors or alerts on any screen';
  assert.deepEqual(pageErrors, [], 'no JavaScript errors on the admin screens');
  console.log(`e2e: all steps passed; screenshots in ${SCREENSHOTS}`);
} catch (error) {
  console.error(`\ne2e: step "${currentStep}" failed: ${error.message}`);
  if (pageErrors.length) console.error(`e2e: the page reported: ${pageErrors.join(' | ')}`);
  if (page) {
    const file = path.join(SCREENSHOTS, `FAILED-${currentStep.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}.png`);
    await page.screenshot({ path: file, fullPage: true }).catch(() => {});
    console.error(`e2e: the page at that moment: ${page.url()} → ${file}`);
  }
  process.exitCode = 1;
} finally {
  await browser.close();
}
