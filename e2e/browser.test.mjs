// Real-browser end-to-end test: Debian's Chromium, headless, with virtual platform
// authenticators from the Chrome DevTools Protocol WebAuthn domain (ctap2, internal
// transport, user verification), against the demo on latchkey-axum and latchkey.js.
// The page's own functions (the ones its buttons call) run every ceremony.
//
// The page is served through a small round-robin proxy in this process. With
// LATCHKEY_E2E_DB a postgres:// URL, the proxy alternates between TWO demo instances on
// that database, so every ceremony starts on one instance and finishes on the other
// (checked from the proxy's log); otherwise one instance runs on a fresh SQLite file.
//
// Needs: LATCHKEY_DEMO_BIN (the built demo example), Chromium at CHROMIUM or
// /usr/bin/chromium. `.ci/run` provides both and runs both modes.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium } from "playwright-core";

const port = Number(process.env.LATCHKEY_E2E_PORT || 18181);
const origin = `http://localhost:${port}`;
const workdir = mkdtempSync(join(tmpdir(), "latchkey-e2e-"));
const database = process.env.LATCHKEY_E2E_DB || join(workdir, "demo.sqlite");
const postgres = database.startsWith("postgres://") || database.startsWith("postgresql://");
const schema = `e2e_${process.pid}_${Date.now()}`;
const backends = postgres ? [port + 1, port + 2] : [port + 1];
const servers = [];
const requests = []; // { method, path, backend, status } in the order the proxy forwarded them
let proxy;
let browser;
let page;
let cdp;
const authenticators = [];

async function startServer(backend) {
  const binary = process.env.LATCHKEY_DEMO_BIN;
  assert.ok(binary, "LATCHKEY_DEMO_BIN must point at the demo binary");
  const server = spawn(binary, [], {
    env: {
      ...process.env, LATCHKEY_DEMO_ADDR: `127.0.0.1:${backend}`, LATCHKEY_DEMO_DB: database,
      LATCHKEY_DEMO_PG_SCHEMA: schema, LATCHKEY_DEMO_ORIGIN: origin,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  servers.push(server);
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

// Request n goes to backend n mod (number of backends).
function startProxy() {
  proxy = http.createServer((request, response) => {
    const backend = backends[requests.length % backends.length];
    const entry = { method: request.method, path: request.url, backend, status: 0 };
    requests.push(entry);
    const upstream = http.request(
      { host: "127.0.0.1", port: backend, path: request.url, method: request.method, headers: request.headers },
      (answer) => { entry.status = answer.statusCode; response.writeHead(answer.statusCode, answer.headers); answer.pipe(response); });
    upstream.on("error", () => { response.writeHead(502); response.end(); });
    request.pipe(upstream);
  });
  return new Promise((resolve) => proxy.listen(port, "127.0.0.1", resolve));
}

// The platform's own, and a security key (Chrome allows one internal authenticator).
async function addAuthenticator(transport) {
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2", transport, hasResidentKey: true,
      hasUserVerification: true, isUserVerified: true, automaticPresenceSimulation: true,
    },
  });
  authenticators.push(authenticatorId);
}

// Only authenticator `which` answers (the other waits for a touch that never comes).
async function useAuthenticator(which) {
  for (const [i, authenticatorId] of authenticators.entries()) {
    await cdp.send("WebAuthn.setAutomaticPresenceSimulation", { authenticatorId, enabled: i === which });
  }
}

before(async () => {
  // One after the other: the first creates the schema.
  for (const backend of backends) await startServer(backend);
  await startProxy();
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  const context = await browser.newContext();
  page = await context.newPage();
  cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  await addAuthenticator("internal");
  await addAuthenticator("usb");
  await useAuthenticator(0);
  await page.goto(`${origin}/?autofill=0`);
  await page.waitForFunction(() => window.latchkeyDemoReady === true);
});

after(async () => {
  if (browser) await browser.close();
  if (proxy) proxy.close();
  for (const server of servers) server.kill();
  rmSync(workdir, { recursive: true, force: true });
});

// Runs one of the page's functions (`latchkey.x` for the module's); returns { ok } or
// { error: code }.
async function demo(name, ...args) {
  return page.evaluate(async ([name, args]) => {
    try {
      const [scope, fn] = name.startsWith("latchkey.") ? [window.latchkeyDemo.latchkey, name.slice(9)] : [window.latchkeyDemo, name];
      return { ok: await scope[fn](...args) };
    } catch (e) {
      return { error: e.code || e.name, message: e.message };
    }
  }, [name, args]);
}

function ok(result) {
  assert.equal(result.error, undefined, `${result.error}: ${result.message}`);
  return result.ok;
}

// Node's own requests: same origin as the page, alice's session cookie.
async function post(path, body, raw, headers = {}) {
  const response = await fetch(`${origin}${path}`, {
    method: "POST", body: raw ?? JSON.stringify(body),
    headers: { "content-type": "application/json", origin, cookie: "demo_account=alice; demo_factors=email,totp", ...headers },
  });
  return { status: response.status, body: await response.json() };
}

async function get(path) {
  const response = await fetch(`${origin}${path}`, { headers: { cookie: "demo_account=alice" } });
  return { status: response.status, body: await response.json() };
}

let exchangeId;

test("registers an Exchange passkey with the other factors", async () => {
  const done = ok(await demo("add", "exchange"));
  assert.equal(done.credential.scope, "exchange");
  assert.equal(done.credential.name, "Passkey");
  exchangeId = done.credential.id;
});

test("logs in, by account and without a username", async () => {
  assert.equal(ok(await demo("login", false)).account, "alice");
  const discoverable = ok(await demo("login", true));
  assert.equal(discoverable.account, "alice");
  assert.equal(discoverable.intent, "login");
});

test("approves a withdrawal", async () => {
  const done = ok(await demo("latchkey.approve", "withdrawal"));
  assert.equal(done.intent, "withdrawal");
  assert.equal(done.userVerified, true);
});

test("refuses a DEX trade before authorization, then authorizes and signs one", async () => {
  const early = await demo("latchkey.approve", "dex_trade", "buy 10 SOL @ 142.10");
  assert.equal(early.error, "dex_not_authorized");
  ok(await demo("authorizeFirst"));
  const trade = ok(await demo("latchkey.approve", "dex_trade", "buy 10 SOL @ 142.10"));
  assert.equal(trade.receipt.intent, "dex_trade");
  assert.ok(trade.receipt.transactionDigest.length > 0);
});

test("registers a Pay passkey and signs a payment with it only", async () => {
  ok(await demo("add", "pay"));
  const signed = ok(await demo("latchkey.approve", "pay_sign", "pay 25.00 USDT to merchant 771"));
  assert.equal(signed.receipt.intent, "pay_sign");
  assert.equal(signed.scope, "pay");
  const list = ok(await demo("listPasskeys"));
  assert.equal(list.exchange.length, 1);
  assert.equal(list.pay.length, 1);
  assert.equal(list.exchange[0].dex_authorized, true);
});

test("steps up with a passkey, then adds a second one on another authenticator", async () => {
  const token = ok(await demo("latchkey.stepUp", { change: "add_passkey" }, "exchange"));
  assert.ok(token.length > 0);
  await useAuthenticator(1);
  const second = ok(await demo("latchkey.register", "exchange", { stepUpToken: token }));
  await useAuthenticator(0);
  assert.equal(second.credential.name, "Passkey 2");
  // The token was spent.
  const again = await post("/api/registration/start", { scope: "exchange", stepUpToken: token });
  assert.equal(again.status, 403);
  assert.equal(again.body.code, "step_up_required");
});

test("renames, deletes with a step-up, and keeps the last passkey", async () => {
  ok(await demo("latchkey.rename", exchangeId, "Laptop"));
  const list = ok(await demo("listPasskeys"));
  assert.equal(list.exchange[0].name, "Laptop");
  const second = list.exchange[1].id;
  const deleted = ok(await demo("deleteWithStepUp", second, "exchange"));
  assert.deepEqual(deleted.signalAllAcceptedCredentials.allAcceptedCredentialIds, [exchangeId]);
  const last = await demo("deleteWithStepUp", exchangeId, "exchange");
  assert.equal(last.error, "last_passkey");
  // A token made for deleting this passkey serves nothing else (P7).
  const token = ok(await demo("latchkey.stepUp", { change: "delete", credential: exchangeId }, "exchange"));
  const revoke = await demo("latchkey.revokeDex", exchangeId, token);
  assert.equal(revoke.error, "step_up_required");
});

test("refuses a replayed login", async () => {
  const options = await post("/api/login/start", { account: "alice" });
  assert.equal(options.status, 200);
  const response = await page.evaluate(async (options) => {
    const credential = await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    return credential.toJSON();
  }, options.body);
  assert.equal((await post("/api/login/finish", { response })).status, 200);
  const replay = await post("/api/login/finish", { response });
  assert.equal(replay.status, 400);
  assert.equal(replay.body.code, "challenge_reused");
});

test("reads the history in pages", async () => {
  const all = ok(await demo("latchkey.history", 0, 500));
  assert.ok(all.events.length >= 12, `history has ${all.events.length} events`);
  const page1 = ok(await demo("latchkey.history", 0, 5));
  assert.equal(page1.events.length, 5);
  assert.equal(page1.next, 5);
  if (process.env.LATCHKEY_E2E_SCREENSHOT) {
    await page.evaluate(() => window.latchkeyDemo.listPasskeys());
    await page.screenshot({ path: process.env.LATCHKEY_E2E_SCREENSHOT, fullPage: true });
  }
});

// Bad input: every endpoint answers with a stable code and changes nothing.
test("answers bad input and cross-site requests with stable codes and changes nothing", async () => {
  const before = (await get("/api/history")).body.events;
  const cases = [
    ["/api/registration/finish", null, "{not json", 400, "malformed"],
    ["/api/login/finish", null, JSON.stringify({ response: 7 }), 400, "malformed"],
    ["/api/login/finish", { response: { id: "!!", rawId: "!!", type: "public-key", response: { clientDataJSON: "x", authenticatorData: "x", signature: "x" } } }, null, 400, "malformed"],
    ["/api/passkeys/rename", { credential: "AAAA", name: "x" }, null, 400, "unknown_credential"],
    ["/api/passkeys/delete", { credential: "@@@" }, null, 400, "malformed"],
    ["/api/dex/authorize", { credential: "AAAA", stepUpToken: "forged", termsAccepted: true }, null, 403, "step_up_required"],
    ["/api/registration/start", { scope: "bank" }, null, 400, "malformed"],
    ["/api/registration/finish", null, JSON.stringify({ pad: "x".repeat(100 * 1024) }), 413, "limit_exceeded"],
  ];
  for (const [path, body, raw, status, code] of cases) {
    const result = await post(path, body, raw);
    assert.equal(result.status, status, `${path}: ${JSON.stringify(result.body)}`);
    assert.equal(result.body.code, code, `${path}: ${JSON.stringify(result.body)}`);
  }
  // Another site, or a form post, changes nothing.
  const crossSite = await post("/api/passkeys/rename", { credential: exchangeId, name: "pwned" }, null, { origin: "https://evil.example" });
  assert.equal(crossSite.status, 403);
  assert.equal(crossSite.body.code, "origin_mismatch");
  const form = await post("/api/passkeys/rename", null, "credential=x&name=pwned", { "content-type": "application/x-www-form-urlencoded" });
  assert.equal(form.status, 415);
  const anonymous = await fetch(`${origin}/api/passkeys`);
  assert.equal(anonymous.status, 401);
  assert.equal((await anonymous.json()).code, "unauthenticated");
  assert.deepEqual((await get("/.well-known/webauthn")).body, { origins: [] });
  const after = (await get("/api/history")).body.events;
  assert.equal(after.length, before.length, "nothing was recorded");
});

test("every ceremony started on one instance finished on another", { skip: !postgres && "one instance (SQLite)" }, () => {
  const used = new Set(requests.map((r) => r.backend));
  assert.equal(used.size, 2, "both instances served requests");
  let ceremonies = 0;
  for (const [i, request] of requests.entries()) {
    // Every finish that succeeded (refusals such as the replay or bad input need no start).
    if (!request.path.endsWith("/finish") || request.status !== 200) continue;
    const start = requests[i - 1];
    assert.equal(start.path, request.path.replace(/finish$/, "start"), `${request.path} follows its start`);
    assert.notEqual(start.backend, request.backend, `${request.path} finished on the instance that started it`);
    ceremonies += 1;
  }
  assert.ok(ceremonies >= 12, `${ceremonies} ceremonies`);
});
