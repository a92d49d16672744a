// latchkey.js: the browser side of latchkey-axum. An ES module without dependencies.
//
//   import * as latchkey from "/latchkey.js";
//   await latchkey.register("exchange");                 // add a passkey
//   const me = await latchkey.login();                    // usernameless login
//   latchkey.login({ conditional: true });                // autofill on <input autocomplete="username webauthn">
//   const token = await latchkey.stepUp({ change: "delete", credential: id });
//   await latchkey.remove(id, token);                     // delete with that step-up
//   await latchkey.approve("pay_sign", "pay 25.00 USDT"); // approve a transaction
//
// Every failure is a LatchkeyError whose `code` is the server's stable code (or the
// browser's DOMException name, such as "NotAllowedError", when the user cancelled).

/** An error with the server's stable `code`. */
export class LatchkeyError extends Error {
  constructor(code, message, status) {
    super(message || code);
    this.name = "LatchkeyError";
    this.code = code;
    this.status = status;
  }
}

// The endpoints live next to this module, wherever the service mounted the router.
const base = new URL(".", import.meta.url);

/** Calls an endpoint: POST with a JSON body, or GET without one. */
export async function call(path, body) {
  const init = body === undefined
    ? { credentials: "same-origin" }
    : { method: "POST", credentials: "same-origin", headers: { "content-type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(new URL(path, base), init);
  const json = await response.json().catch(() => ({}));
  if (!response.ok) {
    if (json.signalUnknownCredential) signal("signalUnknownCredential", json.signalUnknownCredential);
    throw new LatchkeyError(json.code || "malformed", json.message, response.status);
  }
  return json;
}

// ---- base64url and the JSON <-> WebAuthn conversions, with fallbacks ----------------------

const bytes = (text) => Uint8Array.from(atob(text.replace(/-/g, "+").replace(/_/g, "/")), (c) => c.charCodeAt(0)).buffer;
const text = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
const descriptors = (list) => (list || []).map((d) => ({ ...d, id: bytes(d.id) }));

function creationOptions(json) {
  if (PublicKeyCredential.parseCreationOptionsFromJSON) return PublicKeyCredential.parseCreationOptionsFromJSON(json);
  return { ...json, challenge: bytes(json.challenge), user: { ...json.user, id: bytes(json.user.id) }, excludeCredentials: descriptors(json.excludeCredentials) };
}

function requestOptions(json) {
  if (PublicKeyCredential.parseRequestOptionsFromJSON) return PublicKeyCredential.parseRequestOptionsFromJSON(json);
  return { ...json, challenge: bytes(json.challenge), allowCredentials: descriptors(json.allowCredentials) };
}

function credentialJSON(credential) {
  if (typeof credential.toJSON === "function") return credential.toJSON();
  const r = credential.response;
  const response = { clientDataJSON: text(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = text(r.attestationObject);
    response.transports = r.getTransports ? r.getTransports() : [];
  } else {
    response.authenticatorData = text(r.authenticatorData);
    response.signature = text(r.signature);
    if (r.userHandle) response.userHandle = text(r.userHandle);
  }
  return {
    id: credential.id, rawId: text(credential.rawId), type: credential.type, response,
    authenticatorAttachment: credential.authenticatorAttachment || undefined,
    clientExtensionResults: credential.getClientExtensionResults(),
  };
}

// The Signal API (P13): tell the password manager what the server knows. Best effort:
// browsers without it, or that refuse, change nothing.
function signal(method, payload) {
  if (payload && typeof PublicKeyCredential !== "undefined" && typeof PublicKeyCredential[method] === "function") {
    PublicKeyCredential[method](payload).catch(() => {});
  }
}

async function create(options) {
  try {
    return credentialJSON(await navigator.credentials.create({ publicKey: creationOptions(options) }));
  } catch (e) {
    throw new LatchkeyError(e.name || "NotAllowedError", e.message);
  }
}

async function get(options, extra = {}) {
  try {
    return credentialJSON(await navigator.credentials.get({ publicKey: requestOptions(options), ...extra }));
  } catch (e) {
    throw new LatchkeyError(e.name || "NotAllowedError", e.message);
  }
}

// ---- ceremonies ---------------------------------------------------------------------------

/**
 * Adds a passkey to `scope` ("exchange" or "pay"). The step-up is a passkey step-up's
 * token (see `stepUp`), or none, when the session's other factors serve.
 */
export async function register(scope = "exchange", { stepUpToken, name } = {}) {
  const options = await call("registration/start", { scope, stepUpToken });
  const response = await create(options);
  return call("registration/finish", { response, stepUpToken, name });
}

/** Replaces passkey `credential` by a new one in one step (P4). */
export async function replace(credential, { stepUpToken, dexTermsAccepted = false } = {}) {
  const options = await call("replacement/start", { credential, stepUpToken });
  const response = await create(options);
  const done = await call("replacement/finish", { credential, response, stepUpToken, dexTermsAccepted });
  signal("signalAllAcceptedCredentials", done.signalAllAcceptedCredentials);
  return done;
}

/** Whether the browser offers passkeys in autofill (conditional mediation). */
export async function autofillAvailable() {
  return typeof PublicKeyCredential !== "undefined"
    && typeof PublicKeyCredential.isConditionalMediationAvailable === "function"
    && PublicKeyCredential.isConditionalMediationAvailable();
}

/**
 * Logs in. With `account`, offers that account's passkeys; without, the user picks one
 * (usernameless). With `conditional: true` and a browser that supports it, waits for the
 * user to pick a passkey in the autofill of an `autocomplete="username webauthn"` input
 * (pass an AbortSignal as `signal` to stop waiting).
 */
export async function login({ account, conditional = false, signal: abort } = {}) {
  const options = await call("login/start", { account: account || undefined });
  const extra = conditional && await autofillAvailable() ? { mediation: "conditional", signal: abort } : {};
  return call("login/finish", { response: await get(options, extra) });
}

/**
 * A passkey step-up for one change (P7): `change` is `{ change: "add_passkey" }` or
 * `{ change: "delete" | "replace" | "revoke_dex" | "authorize_dex", credential }`.
 * Returns the token that change's call spends, once.
 */
export async function stepUp(change, scope = "exchange") {
  const options = await call("step-up/start", { scope, change });
  const done = await call("step-up/finish", { response: await get(options) });
  return done.stepUpToken;
}

const intents = {
  withdrawal: "withdrawal", security_change: "security-change",
  dex_trade: "dex/trade", dex_transfer: "dex/transfer", pay_sign: "pay/sign",
};

/**
 * Approves an intent: "withdrawal" or "security_change", or a signing intent
 * ("dex_trade", "dex_transfer", "pay_sign") with the transaction text it approves. A
 * signing intent's answer carries the offline-verifiable receipt.
 */
export async function approve(intent, transaction) {
  const path = intents[intent];
  if (!path) throw new LatchkeyError("malformed", `unknown intent ${intent}`);
  const options = await call(`${path}/start`, { transaction });
  return call(`${path}/finish`, { response: await get(options), transaction });
}

// ---- management ---------------------------------------------------------------------------

/** The account's passkeys by scope; tells the password manager the user's current names. */
export async function passkeys() {
  const list = await call("passkeys");
  for (const details of Object.values(list.signalCurrentUserDetails || {})) signal("signalCurrentUserDetails", details);
  return list;
}

/** Renames a passkey (no step-up needed). */
export function rename(credential, name) {
  return call("passkeys/rename", { credential, name });
}

/** Deletes a passkey with a step-up token (or the session's factors). */
export async function remove(credential, stepUpToken) {
  const done = await call("passkeys/delete", { credential, stepUpToken });
  signal("signalAllAcceptedCredentials", done.signalAllAcceptedCredentials);
  return done;
}

/** Authorizes an Exchange passkey for DEX: its own step-up, then the terms (P2). */
export async function authorizeDex(credential, termsAccepted = true) {
  const stepUpToken = await stepUp({ change: "authorize_dex", credential });
  return call("dex/authorize", { credential, stepUpToken, termsAccepted });
}

/** Withdraws a passkey's DEX authorization. */
export function revokeDex(credential, stepUpToken) {
  return call("dex/revoke", { credential, stepUpToken });
}

/** One page of the history, oldest first. */
export function history(start = 0, limit = 100) {
  return call(`history?start=${start}&limit=${limit}`);
}
