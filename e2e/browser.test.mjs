// Real-browser end-to-end test: Debian's Chromium, headless, with a virtual platform
// authenticator from the Chrome DevTools Protocol WebAuthn domain (ctap2, internal
// transport, user verification), against the demo server on 127.0.0.1. The page's own
// functions (the ones its buttons call) run every ceremony through
// PublicKeyCredential.parse*OptionsFromJSON and toJSON().
//
// Needs: LATCHKEY_DEMO_BIN (the built demo example), Chromium at CHROMIUM or
// /usr/bin/chromium. `.ci/run` provides both.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const port = Number(process.env.LATCHKEY_E2E_PORT || 18181);
const origin = `http://localhost:${port}`;
const workdir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
let server;
let browser;
let page;

async function startServer() {
  const binary = process.env.LATCHKEY_DEMO_BIN;
  assert.ok(binary, "LATCHKEY_DEMO_BIN must point at the demo binary");
  server = spawn(binary, [], {
    env: { ...process.env, LATCHKEY_DEMO_ADDR: `127.0.0.1:${port}`, LATCHKEY_DEMO_DB: join(workdir, "demo.sqlite") },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("demo server did not start in 30 s")), 30_000);
    server.stdout.on("data", (chunk) => {
      if (String(chunk).includes("listening on")) {
        clearTimeout(timer);
        resolve();
      }
    });
    server.on("exit", (code) => reject(new Error(`demo server exited with ${code}`)));
  });
}

before(async () => {
  await startServer();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext();
  page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport: "internal", hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  await page.goto(`${origin}/`);
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill();
  rmSync(workdir, { recursive: true, force: true });
});

// Runs one of the page's functions; returns { ok } or { error: code }.
async function demo(name, ...args) {
  return page.evaluate(async ([name, args]) => {
    try {
      return { ok: await window.latchkeyDemo[name](...args) };
    } catch (e) {
      return { error: e.code || e.name, message: e.message };
    }
  }, [name, args]);
}

const factors = { factors: ["email", "totp"] };

test("registers an Exchange passkey with the other factors", async () => {
  const result = await demo("register", "exchange", factors);
  assert.deepEqual(result.error, undefined, result.message);
  assert.equal(result.ok.credential.scope, "exchange");
  assert.equal(result.ok.credential.name, "Passkey");
  assert.equal(result.ok.credential.public_key.length > 0, true);
});

test("logs in, by account and without a username", async () => {
  const login = await demo("authenticate", "login");
  assert.equal(login.error, undefined, login.message);
  assert.equal(login.ok.account, "alice");
  const discoverable = await demo("authenticate", "login", undefined, true);
  assert.equal(discoverable.error, undefined, discoverable.message);
  assert.equal(discoverable.ok.account, "alice");
});

test("refuses a DEX trade before authorization, then authorizes and signs one", async () => {
  const early = await demo("authenticate", "dex_trade", "buy 10 SOL @ 142.10");
  assert.equal(early.error, "dex_not_authorized");
  const authorized = await demo("authorizeDex");
  assert.equal(authorized.error, undefined, authorized.message);
  const trade = await demo("authenticate", "dex_trade", "buy 10 SOL @ 142.10");
  assert.equal(trade.error, undefined, trade.message);
  assert.equal(trade.ok.receipt.intent, "dex_trade");
  assert.ok(trade.ok.receipt.transactionDigest.length > 0);
});

test("registers a Pay passkey and signs a payment with it only", async () => {
  const pay = await demo("register", "pay", factors);
  assert.equal(pay.error, undefined, pay.message);
  const signed = await demo("authenticate", "pay_sign", "pay 25.00 USDT to merchant 771");
  assert.equal(signed.error, undefined, signed.message);
  assert.equal(signed.ok.receipt.intent, "pay_sign");
  // The Exchange passkey cannot sign for Pay: the browser only offers Pay passkeys, and the
  // server refuses a login with one.
  const list = await demo("listPasskeys");
  assert.equal(list.ok.exchange.length, 1);
  assert.equal(list.ok.pay.length, 1);
  assert.equal(list.ok.exchange[0].dex_authorized, true);
});

test("refuses to delete the last Exchange passkey", async () => {
  const list = await demo("listPasskeys");
  const id = list.ok.exchange[0].id;
  const step = await demo("passkeyStepUp", "exchange", { change: "delete", credential: id });
  assert.equal(step.error, undefined, step.message);
  const deleted = await demo("deletePasskey", id, step.ok);
  assert.equal(deleted.error, "last_passkey");
  // A token made for deleting this passkey serves nothing else (P7).
  const dex = await demo("api", "/api/dex/revoke", { account: "alice", credential: id, step_up: step.ok });
  assert.equal(dex.error, "step_up_required");
  const renamed = await demo("renamePasskey", id, "Laptop");
  assert.equal(renamed.error, undefined, renamed.message);
  const history = await demo("api", "/api/history?account=alice");
  assert.ok(history.ok.events.length >= 8, `history has ${history.ok.events.length} events`);
  await page.evaluate(() => window.latchkeyDemo.listPasskeys());
  if (process.env.LATCHKEY_E2E_SCREENSHOT) {
    await page.screenshot({ path: process.env.LATCHKEY_E2E_SCREENSHOT, fullPage: true });
  }
});

// Bad input: every endpoint answers with a stable code and changes nothing.
test("answers bad input with stable codes and changes nothing", async () => {
  const before = (await (await fetch(`${origin}/api/history?account=alice`)).json()).events;
  const post = async (path, body, raw) => {
    const response = await fetch(`${origin}${path}`, {
      method: "POST", headers: { "content-type": "application/json" }, body: raw ?? JSON.stringify(body),
    });
    return { status: response.status, body: await response.json() };
  };
  const cases = [
    ["/api/registration", null, "{not json", "malformed"],
    ["/api/authentication", null, JSON.stringify({ response: 7 }), "malformed"],
    ["/api/authentication", { response: { id: "!!", rawId: "!!", type: "public-key", response: { clientDataJSON: "x", authenticatorData: "x", signature: "x" } } }, null, "malformed"],
    ["/api/rename", { account: "alice", credential: "AAAA", name: "x" }, null, "unknown_credential"],
    ["/api/delete", { account: "alice", credential: "@@@", step_up: { factors: ["email"] } }, null, "malformed"],
    ["/api/dex/authorize", { account: "alice", credential: "AAAA", step_up: { token: "forged" }, terms_accepted: true }, null, "step_up_required"],
    ["/api/authentication/options", { intent: "withdrawal" }, null, "malformed"],
    ["/api/registration/options", { account: "alice", scope: "bank" }, null, "malformed"],
    ["/api/registration", null, JSON.stringify({ pad: "x".repeat(100 * 1024) }), "limit_exceeded"],
  ];
  for (const [path, body, raw, code] of cases) {
    const result = await post(path, body, raw);
    assert.ok(result.status >= 400, `${path}: status ${result.status}`);
    assert.equal(result.body.error, code, `${path}: ${JSON.stringify(result.body)}`);
  }
  const wellKnown = await (await fetch(`${origin}/.well-known/webauthn`)).json();
  assert.deepEqual(wellKnown, { origins: [] });
  const query = await fetch(`${origin}/api/passkeys`);
  assert.equal((await query.json()).error, "malformed");

  // A replayed login: the server refuses it, the browser is not involved.
  const options = await post("/api/authentication/options", { account: "alice", intent: "login" });
  const login = await page.evaluate(async (options) => {
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    return credential.toJSON();
  }, options.body);
  assert.equal((await post("/api/authentication", { response: login })).status, 200);
  const replay = await post("/api/authentication", { response: login });
  assert.equal(replay.body.error, "challenge_reused");

  const after = (await (await fetch(`${origin}/api/history?account=alice`)).json()).events;
  assert.equal(after.length, before.length + 1, "only the one good login was recorded");
});
