// The agency workspace: the agency's key lives only in this browser (encrypted at rest), and every
// referral is sealed, signed, verified and opened here. The gateway sees what the SDK would send.
import sodiumModule from "/w/vendor/libsodium-wrappers.mjs";
import * as E from "/static/workspace/envelope.js";

const sodium = sodiumModule;
const root = document.getElementById("workspace");
const AGENCY = root.dataset.agency;
const TOKEN_URL = root.dataset.tokenUrl;
const CSRF = root.dataset.csrf;
const ACCOUNT = root.dataset.account;
const CAN_APPROVE = root.dataset.approve === "true";
const IDLE_MS = Math.max(60, Number(root.dataset.idle) || 900) * 1000;
const SERVER_T0 = Number(root.dataset.serverTime);
const LOCAL_T0 = performance.now();
const STORE_KEY = `safe-referral/workspace-key/${AGENCY}`;
const PINS_KEY = `safe-referral/workspace-pins/${AGENCY}`;
const KEY_AD_PREFIX = "safe-referral/workspace-key/v1|";
const TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_TYPE = "urn:ietf:params:oauth:token-type:jwt";
const ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

const $ = (id) => document.getElementById(id);
const msg = (key) => document.querySelector(`#messages [data-msg="${key}"]`).textContent;

/** Whether a sentence's list of codes (space-separated: several codes may share one sentence) names ``code``. */
function listsCode(codes, code) {
  return String(codes || "").split(" ").includes(code);
}

/**
 * A refusal's reason code in plain words, in the page's language (the sentences are rendered into
 * #reasons). A code without a sentence gets the safe generic one plus the code itself.
 */
function reasonText(code) {
  const wanted = String(code ?? "");
  const known = [...document.querySelectorAll("#reasons [data-reason]")].find((li) => listsCode(li.dataset.reason, wanted));
  if (known) return known.textContent;
  return `${msg("reason-unknown")} (${wanted.replace(/[^A-Za-z0-9_.:-]/g, "").slice(0, 80)})`;
}

function knownReason(code) {
  return [...document.querySelectorAll("#reasons [data-reason]")].some((li) => listsCode(li.dataset.reason, code));
}

/**
 * A refused request (an RFC 9457 problem document) in plain words: its reason's sentence; for a reason
 * without one, the generic sentence with the code, and the policy's own reasons where it gave them.
 */
function showRefusal(where, problem) {
  const reason = typeof problem.reason === "string" ? problem.reason : "";
  // A refused consent lists every failure (each its own thing to put right); a refused send may
  // carry the policy's reasons, shown when the problem's own reason has no sentence.
  const failures = (problem.failures || []).map((f) => String(f.reason || "")).filter(knownReason);
  const extra = [...failures, ...(knownReason(reason) ? [] : (problem.policy_reasons || []).filter(knownReason))];
  where.textContent = reason ? [...new Set([reason, ...extra].map(reasonText))].join(" ") : msg("failed");
  where.dataset.reason = reason;
}

const state = { keys: null, token: null, tokenRequest: null, tokenExpires: 0, plan: null, preview: null, fields: null,
  pending: null, consent: null, accessCode: null, personLang: null };

/** Seconds on the gateway's clock (the page carries it; assertions must match the gateway's time). */
function serverNow() {
  return SERVER_T0 + (performance.now() - LOCAL_T0) / 1000;
}

// --- the key at rest ----------------------------------------------------------------------

function storedKey() {
  const text = localStorage.getItem(STORE_KEY);
  return text ? JSON.parse(text) : null;
}

function deriveKey(passphrase, record) {
  return sodium.crypto_pwhash(32, passphrase, sodium.from_base64(record.salt), record.opslimit, record.memlimit,
    sodium.crypto_pwhash_ALG_ARGON2ID13);
}

function keyAd() {
  return sodium.from_string(KEY_AD_PREFIX + AGENCY);
}

function sealRecord(keys, record, kek) {
  const nonce = sodium.randombytes_buf(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
  const plaintext = sodium.from_string(E.keyFileText(sodium, keys));
  record.nonce = sodium.to_base64(nonce);
  record.box = sodium.to_base64(sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(plaintext, keyAd(), null, nonce,
    kek));
  sodium.memzero(kek);
  sodium.memzero(plaintext);
  return record;
}

function openRecord(record, kek) {
  let plaintext;
  try {
    plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(null, sodium.from_base64(record.box), keyAd(),
      sodium.from_base64(record.nonce), kek);
  } finally {
    sodium.memzero(kek);
  }
  return E.parseKeyFile(sodium, sodium.to_string(plaintext));
}

/** Argon2id (libsodium's crypto_pwhash) from a passphrase: for authenticators without PRF. */
function importWithPassphrase(keys, passphrase) {
  const record = {
    v: 1, kdf: "argon2id13", agency: AGENCY,
    salt: sodium.to_base64(sodium.randombytes_buf(sodium.crypto_pwhash_SALTBYTES)),
    opslimit: sodium.crypto_pwhash_OPSLIMIT_INTERACTIVE, memlimit: sodium.crypto_pwhash_MEMLIMIT_INTERACTIVE,
  };
  return sealRecord(keys, record, deriveKey(passphrase, record));
}

/**
 * The passkey's PRF output (WebAuthn PRF extension, CTAP2 hmac-secret) for `salt`: a secret only this
 * passkey on this authenticator can produce. Null when the authenticator has no PRF.
 */
async function passkeyPrf(salt, credentialId) {
  const publicKey = { challenge: sodium.randombytes_buf(32), rpId: location.hostname, userVerification: "required",
    timeout: 120000, extensions: { prf: { eval: { first: salt } } } };
  if (credentialId) publicKey.allowCredentials = [{ type: "public-key", id: E.b64uDecode(sodium, credentialId) }];
  const credential = await navigator.credentials.get({ publicKey });
  const first = credential.getClientExtensionResults().prf?.results?.first;
  if (!first) return null;
  const kek = sodium.crypto_generichash(32, new Uint8Array(first), sodium.from_string("safe-referral/workspace-key/prf/v1"));
  return { kek, credentialId: E.b64uEncode(sodium, new Uint8Array(credential.rawId)) };
}

async function importWithPasskey(keys) {
  const salt = sodium.randombytes_buf(32);
  const prf = await passkeyPrf(salt, null);
  if (prf === null) return null;
  const record = { v: 1, kdf: "webauthn-prf", agency: AGENCY, salt: sodium.to_base64(salt),
    credential: prf.credentialId };
  return sealRecord(keys, record, prf.kek);
}

async function unlockWithPasskey() {
  const record = storedKey();
  const prf = await passkeyPrf(sodium.from_base64(record.salt), record.credential);
  if (prf === null) throw new Error("no-prf");
  return openRecord(record, prf.kek);
}

function unlockKey(passphrase) {
  const record = storedKey();
  return openRecord(record, deriveKey(passphrase, record));
}

async function ownSigningKeyIsAgencys(keys) {
  const mine = E.b64uEncode(sodium, keys.signingPublic);
  state.keys = keys;  // needed to get a token at all; a wrong key cannot get one
  try {
    const me = await api("GET", "/v1/agencies/me");
    return me.keys.some((k) => k.kind === "ed25519" && k.status === "verified" && k.public_key === mine);
  } catch (_error) {
    return false;
  } finally {
    state.keys = null;
    state.token = null;
  }
}

// --- tokens: the agency's own private_key_jwt plus the staff member's person token --------

function b64uJson(value) {
  return E.b64uEncode(sodium, sodium.from_string(JSON.stringify(value)));
}

function clientAssertion() {
  const issued = Math.floor(serverNow());
  const kid = E.fingerprint(sodium, state.keys.signingPublic, "ed25519").replace(/-/g, "");
  const input = b64uJson({ alg: "Ed25519", typ: "JWT", kid }) + "." + b64uJson({
    iss: AGENCY, sub: AGENCY, aud: TOKEN_URL, iat: issued, exp: issued + 60,
    jti: E.b64uEncode(sodium, sodium.randombytes_buf(16)) });
  const { privateKey } = sodium.crypto_sign_seed_keypair(state.keys.signingSeed);
  const signature = sodium.crypto_sign_detached(sodium.from_string(input), privateKey);
  sodium.memzero(privateKey);
  return input + "." + E.b64uEncode(sodium, signature);
}

/** One token request at a time: concurrent callers share it (each person token is good for one exchange). */
function accessToken() {
  if (state.token && serverNow() < state.tokenExpires - 30) return Promise.resolve(state.token);
  if (!state.tokenRequest) {
    state.tokenRequest = newAccessToken().finally(() => { state.tokenRequest = null; });
  }
  return state.tokenRequest;
}

async function newAccessToken() {
  const person = await fetch("/staff/person-token", {
    method: "POST", credentials: "same-origin", redirect: "manual",
    headers: { Accept: "application/json" }, body: new URLSearchParams({ csrf_token: CSRF }) });
  if (!person.ok) throw new Error("signed-out");
  const { person_token: personToken } = await person.json();
  const exchanged = await fetch("/oauth/token", { method: "POST", body: new URLSearchParams({
    grant_type: TOKEN_EXCHANGE, subject_token: personToken, subject_token_type: JWT_TYPE,
    client_assertion_type: ASSERTION_TYPE, client_assertion: clientAssertion() }) });
  if (!exchanged.ok) throw new Error("token");
  const body = await exchanged.json();
  state.token = body.access_token;
  state.tokenExpires = serverNow() + Number(body.expires_in);
  return state.token;
}

class ApiError extends Error {
  constructor(status, problem) { super(problem.reason || String(status)); this.status = status; this.problem = problem; }
}

async function api(method, path, body, headers = {}) {
  const response = await fetch(path, { method, headers: { Authorization: `Bearer ${await accessToken()}`,
    ...(body === undefined ? {} : { "Content-Type": "application/json" }), ...headers },
  body: body === undefined ? undefined : JSON.stringify(body) });
  const answer = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new ApiError(response.status, answer || {});
  return answer;
}

// --- pinned keys: accepted only if the fingerprint a person typed matched it -------------

class NeedPin extends Error {
  constructor(agency, kind) { super("need-pin"); this.agency = agency; this.kind = kind; }
}
class KeyChanged extends Error {}

function pins() { return JSON.parse(localStorage.getItem(PINS_KEY) || "{}"); }

function checkPinned(agency, kind, publicKey) {
  const pin = (pins()[agency] || {})[kind];
  if (!pin) throw new NeedPin(agency, kind);
  if (pin.public_key !== publicKey) throw new KeyChanged("key-changed");
}

function normaliseFingerprint(text) {
  const compact = text.replace(/[\s-]/g, "").toUpperCase();
  return /^[A-Z2-7]{32}$/.test(compact) ? compact.match(/.{4}/g).join("-") : null;
}

async function pinTyped(agency, kind, typed) {
  const wanted = normaliseFingerprint(typed);
  const registry = await api("GET", `/v1/agencies/${encodeURIComponent(agency)}`);
  const match = wanted && registry.keys.find((k) => k.kind === kind && k.status === "verified"
    && E.fingerprint(sodium, E.b64uDecode(sodium, k.public_key), kind) === wanted);
  if (!match) return false;
  const all = pins();
  all[agency] = { ...(all[agency] || {}), [kind]: { public_key: match.public_key, fingerprint: wanted, source: "typed" } };
  localStorage.setItem(PINS_KEY, JSON.stringify(all));
  return true;
}

function askForPin(error, retry) {
  state.pending = retry;
  $("pin-agency").textContent = error.agency;
  $("pin-kind").textContent = msg(error.kind === "x25519" ? "encryption-key" : "signing-key");
  $("pin").dataset.agency = error.agency;
  $("pin").dataset.kind = error.kind;
  $("pin-message").textContent = "";
  $("pin").hidden = false;
  $("pin-fingerprint").focus();
}

// --- the page -------------------------------------------------------------------------------

function showKeyState() {
  const stored = storedKey();
  const status = $("key-status");
  const unlocked = state.keys !== null;
  status.dataset.state = unlocked ? "unlocked" : stored ? "locked" : "none";
  status.textContent = msg(unlocked ? "key-unlocked" : stored ? "key-locked" : "key-none");
  $("import-form").hidden = Boolean(stored);
  $("unlock-form").hidden = !stored || unlocked || stored.kdf !== "argon2id13";
  $("unlock-passkey").hidden = !stored || unlocked || stored.kdf !== "webauthn-prf";
  $("key-actions").hidden = !unlocked;
  for (const id of ["sections", "people", "inbox", "send", "consent", "exceptions"]) $(id).hidden = !unlocked;
}

function lock() {
  if (state.keys) {
    sodium.memzero(state.keys.encryptionPrivate);
    sodium.memzero(state.keys.signingSeed);
  }
  state.keys = null;
  state.token = null;
  state.accessCode = null;
  $("access-code").textContent = "";
  showKeyState();
}

function download(name, text, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement("a");
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

function nest(fields) {
  const tree = {};
  for (const dotted of Object.keys(fields).sort()) {
    const parts = dotted.split(".");
    let node = tree;
    for (const part of parts.slice(0, -1)) node = node[part] ??= {};
    node[parts[parts.length - 1]] = fields[dotted];
  }
  return tree;
}

function fillTable(tbody, fields) {
  tbody.replaceChildren();
  for (const name of Object.keys(fields).sort()) {
    const row = tbody.insertRow();
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = name;
    row.append(head);
    row.insertCell().textContent = typeof fields[name] === "string" ? fields[name] : JSON.stringify(fields[name]);
  }
}

async function openEnvelope(envelope, item) {
  const manifest = envelope.manifest;
  const key = await api("GET", `/v1/agencies/${encodeURIComponent(manifest.sender_agency_id)}/keys/`
    + encodeURIComponent(manifest.sender_key_id));
  if (key.status !== "verified" || key.kind !== "ed25519") throw new E.VerificationError("sender key not verified");
  checkPinned(manifest.sender_agency_id, "ed25519", key.public_key);
  const opened = E.openReferral(sodium, envelope, { recipientAgencyId: AGENCY, recipientKeys: state.keys,
    senderSigningPublicB64: key.public_key });
  fillTable(item.querySelector("tbody"), opened.fields);
  item.querySelector(".opened").hidden = false;
  item.querySelector(".open").hidden = true;
  item.querySelector(".message").textContent = "";
  item.querySelector(".download").onclick = () => download(`referral-${opened.envelopeId}.json`, JSON.stringify({
    $schema: "https://safe-referral.invalid/schemas/referral-v1.json", referral_id: opened.envelopeId,
    received_at: new Date(serverNow() * 1000).toISOString(), sender_agency_id: opened.senderAgencyId,
    subject_id: opened.subjectId, purpose: opened.purpose,
    preview_hash: (opened.manifest.preview || {}).commitment ?? null, data: nest(opened.fields) }, null, 2) + "\n",
  "application/json");
  item.querySelector(".ack").onclick = () => guarded(item.querySelector(".message"), async () => {
    await api("POST", `/v1/envelopes/${encodeURIComponent(opened.envelopeId)}/ack`);
    item.querySelector(".acked").hidden = false;
    item.querySelector(".ack").disabled = true;
  });
}

async function guarded(where, action) {
  where.textContent = msg("working");
  delete where.dataset.reason;
  try {
    await action();
    if (where.textContent === msg("working")) where.textContent = "";
  } catch (error) {
    if (error instanceof NeedPin) {
      where.textContent = "";
      askForPin(error, () => guarded(where, action));
    } else if (error instanceof KeyChanged) {
      where.textContent = msg("key-changed");
    } else if (error instanceof E.VerificationError) {
      where.textContent = msg("not-verified");
    } else if (error.message === "signed-out" || (error instanceof ApiError && error.status === 401)) {
      window.location.assign("/w/");
    } else if (error instanceof ApiError) {
      showRefusal(where, error.problem);
    } else {
      where.textContent = msg("failed");
    }
  }
}

async function refreshInbox() {
  const envelopes = await api("GET", "/v1/inbox?limit=20");
  const list = $("inbox-list");
  // Keyed by envelope: a referral already on screen (perhaps opened) keeps its item.
  const shown = new Map([...list.children].map((item) => [item.dataset.envelope, item]));
  $("inbox-empty").hidden = envelopes.length > 0;
  list.replaceChildren(...envelopes.map((envelope) => shown.get(envelope.envelope_id) || inboxItem(envelope)));
}

function inboxItem(envelope) {
  const item = $("inbox-item").content.firstElementChild.cloneNode(true);
  item.dataset.envelope = envelope.envelope_id;
  item.querySelector(".from").textContent = envelope.sender_agency_id;
  item.querySelector(".purpose").textContent = envelope.manifest.purpose;
  item.querySelector(".received").textContent = String(envelope.created_at || envelope.manifest.created_at);
  item.querySelector(".open").addEventListener("click", () => guarded(item.querySelector(".message"),
    () => openEnvelope(envelope, item)));
  item.querySelector(".print").addEventListener("click", () => window.print());
  return item;
}

async function refreshPeople() {
  const people = await api("GET", "/v1/subjects?limit=50");
  $("people-list").replaceChildren(...people.map((person) => {
    const row = $("person-row").content.firstElementChild.cloneNode(true);
    row.querySelector(".id").textContent = person.id;
    row.querySelector(".band").textContent = person.age_band ?? "";
    row.querySelector(".child").textContent = msg(person.is_child ? "yes" : "no");
    row.querySelector(".lang").textContent = person.preferred_language ?? "";
    row.querySelector(".country").textContent = person.country_of_origin ?? "";
    row.querySelector(".record-consent").addEventListener("click", () => {
      startConsent(person.id, person.preferred_language || "");
    });
    row.querySelector(".refer").addEventListener("click", () => {
      $("subject-id").value = person.id;
      $("send").scrollIntoView();
      $("recipient").focus();
    });
    return row;
  }));
}

async function addPerson() {
  const attributes = {};
  const pick = (id, name, transform = (v) => v) => {
    const value = $(id).value.trim();
    if (value !== "") attributes[name] = transform(value);
  };
  pick("p-age-band", "age_band");
  pick("p-date-of-birth", "date_of_birth");
  pick("p-language", "preferred_language");
  pick("p-country", "country_of_origin", (v) => v.toUpperCase());
  pick("p-sex", "sex");
  pick("p-exploitation", "exploitation_type");
  if ($("p-age-disputed").checked) attributes.age_disputed = true;
  const created = await api("POST", "/v1/subjects", { attributes });
  $("person-added-id").textContent = created.id;
  $("person-added").hidden = false;
  $("person-form").reset();
  await refreshPeople();
}

async function loadRecipients() {
  const agencies = await api("GET", "/v1/agencies");
  $("c-recipient-list").replaceChildren(...agencies.filter((a) => a.id !== AGENCY).map((a) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "c-recipient";
    box.value = a.id;
    box.dataset.duties = JSON.stringify(a.statutory_duties || []);
    box.addEventListener("change", showDuties);
    const name = document.createElement("span");
    name.textContent = a.name ? `${a.name} (${a.id})` : a.id;
    label.append(box, " ", name);
    return label;
  }));
  $("g-recipient").replaceChildren(...agencies.filter((a) => a.id !== AGENCY).map((a) => {
    const option = document.createElement("option");
    option.value = a.id;
    option.textContent = a.name ? `${a.name} (${a.id})` : a.id;
    return option;
  }));
  const select = $("recipient");
  select.replaceChildren(...agencies.filter((a) => a.id !== AGENCY).map((a) => {
    const option = document.createElement("option");
    option.value = a.id;
    option.textContent = a.name ? `${a.name} (${a.id})` : a.id;
    return option;
  }));
}

function listItems(list, items) {
  list.replaceChildren(...items.map((text) => {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }));
}

async function makePlan() {
  const fields = [...document.querySelectorAll('#plan-form input[name="field"]:checked')].map((box) => box.value);
  $("plan-result").hidden = true;  // never an earlier answer on screen while this one is asked
  const plan = await api("POST", "/v1/plans", { subject_id: $("subject-id").value.trim(),
    recipient_agency_id: $("recipient").value, purpose: $("purpose").value, fields });
  state.plan = plan;
  state.preview = null;
  $("preview").hidden = true;
  $("sent").hidden = true;
  listItems($("permitted-list"), plan.permitted_fields);
  listItems($("denied-list"), plan.denied_fields.map((d) => `${d.field}: ${reasonText(d.reason)}`));
  $("denied-list").querySelectorAll("li").forEach((li, index) => { li.dataset.reason = plan.denied_fields[index].reason; });
  const refused = plan.allow && plan.permitted_fields.length > 0 ? []
    : (plan.reasons.length ? plan.reasons : ["no_permitted_fields"]);
  listItems($("refusal-list"), refused.map(reasonText));
  $("refusal-list").querySelectorAll("li").forEach((li, index) => { li.dataset.reason = refused[index]; });
  $("plan-refused").hidden = refused.length === 0;
  listItems($("plan-explanation"), plan.explanation || []);
  showRiskSummary(plan, refused.length === 0);
  if (refused.length === 0) await showPersonLanguage(plan.subject_id);
  const fill = $("fill-fields");
  fill.replaceChildren();
  plan.permitted_fields.forEach((name, index) => {
    const label = document.createElement("label");
    label.htmlFor = `fill-${index}`;
    label.textContent = name;
    if (isRiskSummaryField(name)) {
      const mark = document.createElement("span");
      mark.className = "mark";
      mark.textContent = ` (${msg("risk-summary-field")})`;
      label.append(mark);
    }
    const input = document.createElement("textarea");
    input.id = `fill-${index}`;
    input.dataset.field = name;
    input.rows = 2;
    fill.append(label, input);
  });
  $("fill-form").hidden = !plan.allow || plan.permitted_fields.length === 0;
  $("plan-result").hidden = false;
  if (refused.length) $("plan-refused").scrollIntoView();
}

function fieldBox(name) {
  return [...document.querySelectorAll('#plan-form input[name="field"]')].find((box) => box.value === name);
}

function isRiskSummaryField(name) {
  return fieldBox(name)?.dataset.riskSummary === "true";
}

/** The data class of a field in plain words, from a list rendered in one language (page or person). */
function className(list, name) {
  const code = fieldBox(name)?.dataset.class;
  const item = [...list.querySelectorAll("[data-class]")].find((li) => li.dataset.class === code);
  return item ? item.textContent : name;
}

/**
 * What the plan means before anything is filled in: what the recipient will see (in plain words),
 * how much is held back (the reasons are listed above), the basis, how long the plan holds, and
 * the obligations the rules attach (the risk summary, the person's preview, telling the person,
 * a second approver). Values never appear here: only field names and their kinds.
 */
function showRiskSummary(plan, allowed) {
  $("risk-summary").hidden = !allowed;
  if (!allowed) return;
  listItems($("will-see"), plan.permitted_fields.map((name) => `${className($("class-names"), name)}: ${name}`));
  $("held-back").textContent = plan.denied_fields.length ? String(plan.denied_fields.length) : msg("nothing-held-back");
  $("plan-basis").textContent = plan.basis.exception ? `${msg("basis-exception")} (${plan.basis.exception})`
    : msg("basis-consent");
  $("plan-expires").textContent = plan.expires_at ? new Date(plan.expires_at).toLocaleString(document.documentElement.lang)
    : "";
  const owed = Object.entries(plan.obligations).filter(([name, value]) => value === true).map(([name]) => name);
  const texts = [...document.querySelectorAll("#obligation-texts [data-obligation]")];
  $("obligations").replaceChildren(...owed.map((name) => {
    const li = document.createElement("li");
    li.dataset.obligation = name;
    li.textContent = texts.find((t) => t.dataset.obligation === name)?.textContent ?? name;
    return li;
  }));
  $("risk-summary-missing").hidden = !(plan.obligations.include_risk_summary
    && !plan.permitted_fields.some(isRiskSummaryField));
}

/** The preview's language: the person's recorded one where the page has it, else a note to interpret. */
async function showPersonLanguage(subjectId) {
  const person = await api("GET", `/v1/subjects/${encodeURIComponent(subjectId)}`);
  const recorded = person.preferred_language || "";
  const primary = recorded.split("-")[0].toLowerCase();
  const select = $("preview-language");
  const available = [...select.options].some((option) => option.value === primary);
  select.value = available ? primary : document.documentElement.lang;
  $("person-language").textContent = recorded;
  $("person-language-known").hidden = !recorded || !available;
  $("person-language-missing").hidden = !recorded || available;
  $("person-language-sep").hidden = !recorded;
}

function showPreview() {
  const fields = {};
  for (const input of document.querySelectorAll("#fill-fields textarea")) {
    if (input.value.trim() !== "") fields[input.dataset.field] = input.value;
  }
  state.fields = fields;
  const lang = $("preview-language").value;
  state.preview = E.makePreview(sodium, fields, lang);
  // The person reads it in their language: the words come from the template of that language.
  const text = document.getElementById(`preview-text-${lang}`).content.firstElementChild.cloneNode(true);
  const recipient = $("recipient").selectedOptions[0];
  text.querySelector(".pv-recipient").textContent = recipient ? recipient.textContent : state.plan.recipient_agency_id;
  const purpose = [...text.querySelectorAll(".pv-purposes [data-purpose]")]
    .find((li) => li.dataset.purpose === state.plan.purpose);
  text.querySelector(".pv-purpose").textContent = purpose ? purpose.textContent : state.plan.purpose;
  const tbody = text.querySelector(".pv-fields");
  tbody.id = "preview-fields";
  for (const name of Object.keys(fields).sort()) {
    const row = tbody.insertRow();
    const head = document.createElement("th");
    head.scope = "row";
    head.textContent = className(text.querySelector(".pv-classes"), name);
    row.append(head);
    row.insertCell().textContent = fields[name];
  }
  $("person-preview").replaceChildren(text);
  $("preview").hidden = false;
  $("approve-send").focus();
}

async function recipientKey(agency) {
  const key = await api("GET", `/v1/agencies/${encodeURIComponent(agency)}/recipient-key`);
  checkPinned(agency, "x25519", key.public_key);
  return key;
}

async function ownKeyId() {
  const mine = E.b64uEncode(sodium, state.keys.signingPublic);
  const me = await api("GET", "/v1/agencies/me");
  const key = me.keys.find((k) => k.kind === "ed25519" && k.status === "verified" && k.public_key === mine);
  if (!key) throw new E.VerificationError("own key not verified");
  return key.id;
}

async function approveAndSend() {
  const plan = state.plan;
  const key = await recipientKey(plan.recipient_agency_id);
  await api("POST", `/v1/plans/${encodeURIComponent(plan.plan_id)}/preview-approvals`,
    { preview_hash: state.preview.hash, channel: "in_person" }).catch((error) => {
    if (!(error instanceof ApiError && error.status === 409)) throw error;  // already approved
  });
  const body = E.sealReferral(sodium, { plan, fields: state.fields, senderAgencyId: AGENCY, senderKeys: state.keys,
    senderKeyId: await ownKeyId(), recipientKey: key, preview: state.preview,
    now: new Date(serverNow() * 1000) });
  const answer = await api("POST", "/v1/envelopes", body, { "Idempotency-Key": `submit-${body.manifest.envelope_id}` });
  $("sent-id").textContent = answer.envelope_id || body.manifest.envelope_id;
  $("sent").hidden = false;
  $("preview").hidden = true;
  $("plan-result").hidden = true;
}

// --- a consent recorded with the person present ---------------------------------------------

const checked = (name) => [...document.querySelectorAll(`input[name="${name}"]:checked`)].map((box) => box.value);

/** The page language closest to a recorded language tag (the person reads in it), else the page's own. */
function personLanguage(tag) {
  const primary = String(tag || "").split("-")[0].toLowerCase();
  return document.getElementById(`consent-text-${primary}`) ? primary : document.documentElement.lang;
}

function startConsent(subjectId, language) {
  // The last person's access code leaves the screen (and memory) when the next consent starts.
  state.accessCode = null;
  $("access-code").textContent = "";
  $("consent-form").reset();
  $("c-subject").value = subjectId;
  $("c-language").value = language;
  $("consent-confirm").hidden = true;
  $("consent-recorded").hidden = true;
  $("consent-split").hidden = true;
  showDuties();
  $("consent").scrollIntoView();
  $("c-subject").focus();
}

/** Each statutory duty of a chosen recipient, to be explained to the person and ticked (CR7). */
function showDuties() {
  const duties = new Set();
  for (const box of document.querySelectorAll('input[name="c-recipient"]:checked')) {
    for (const duty of JSON.parse(box.dataset.duties || "[]")) duties.add(duty);
  }
  $("c-duties").replaceChildren(...[...duties].sort().map((duty) => {
    const label = document.createElement("label");
    label.className = "check";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.name = "c-duty";
    box.value = duty;
    const text = document.createElement("span");
    text.textContent = `${msg("duty-to-share")}: ${duty}`;
    label.append(box, " ", text);
    return label;
  }));
}

/** The consent as the API takes it; the staff member is the signed-in person (never a field here). */
function consentBody() {
  const purposes = checked("c-purpose");
  const body = {
    subject_id: $("c-subject").value.trim(),
    recipients: checked("c-recipient").map((id) => ({ agency_id: id })),
    scope: checked("c-scope")[0],
    data_classes: checked("c-class"),
    explained_items: checked("c-explained"),
    notice_version: $("c-notice").value.trim(),
    language: $("c-language").value.trim(),
    channel: "in_person",
    capacity: checked("c-capacity")[0],
    expires_at: `${$("c-expires").value}T23:59:59+00:00`,
    duty_to_share_acknowledged: checked("c-duty"),
  };
  if (purposes.length === 1) body.purpose = purposes[0]; else body.purposes = purposes;
  if ($("c-interpreter").value.trim() !== "") {
    body.interpreter = { interpreter_id: $("c-interpreter").value.trim(),
      relationship: $("c-interpreter-relationship").value, vetted: $("c-interpreter-vetted").checked };
  }
  if ($("c-cj-option").value) body.cj_option = $("c-cj-option").value;
  return body;
}

function namesIn(list, attribute, codes) {
  const items = [...list.querySelectorAll(`[data-${attribute}]`)];
  return codes.map((code) => items.find((li) => li.dataset[attribute] === code)?.textContent ?? code).join(", ");
}

/** What the person reads and confirms, in their language, before anything is recorded. */
function reviewConsent(body) {
  state.consent = body;
  state.personLang = personLanguage(body.language);
  const text = $(`consent-text-${state.personLang}`).content.firstElementChild.cloneNode(true);
  text.querySelector(".pc-purposes").textContent = namesIn(text.querySelector(".pv-purposes"), "purpose",
    body.purpose ? [body.purpose] : body.purposes);
  text.querySelector(".pc-recipients").textContent = body.recipients.map((r) => {
    const box = [...document.querySelectorAll('input[name="c-recipient"]')].find((b) => b.value === r.agency_id);
    return box ? box.parentElement.textContent.trim() : r.agency_id;
  }).join(", ");
  text.querySelector(".pc-classes").textContent = namesIn(text.querySelector(".pv-classes"), "class", body.data_classes);
  text.querySelector(".pc-until").textContent = $("c-expires").valueAsDate
    ? $("c-expires").valueAsDate.toLocaleDateString(state.personLang, { timeZone: "UTC", dateStyle: "long" }) : "";
  const agree = text.querySelector(".pc-agree");
  agree.id = "consent-agree";
  agree.addEventListener("change", () => { $("consent-record").disabled = !agree.checked; });
  $("consent-record").disabled = true;
  $("consent-person").replaceChildren(text);
  $("consent-split").hidden = true;
  $("consent-recorded").hidden = true;
  $("consent-confirm").hidden = false;
  agree.focus();
}

async function recordConsent() {
  let answer;
  try {
    answer = await api("POST", "/v1/consents", state.consent);
  } catch (error) {
    if (error instanceof ApiError && Array.isArray(error.problem.split)) offerSplit(error.problem.split);
    throw error;
  }
  $("consent-confirm").hidden = true;
  $("consent-id").textContent = answer.consent.id;
  state.consentId = answer.consent.id;
  state.accessCode = answer.access_code || null;
  $("access-code").textContent = state.accessCode || "";
  $("access-code-box").hidden = !state.accessCode;
  const pinText = $(`pin-text-${state.personLang}`).content.firstElementChild.cloneNode(true);
  $("pin-person").replaceChildren(pinText);
  $("pin-done").hidden = true;
  $("pin-setup").hidden = false;
  $("consent-recorded").hidden = false;
}

/** CR3: a bundle is refused; each purpose is gone through with the person and recorded on its own. */
function offerSplit(drafts) {
  $("consent-confirm").hidden = true;
  const names = $("consent-text-" + state.personLang).content.querySelector(".pv-purposes");
  $("consent-split-list").replaceChildren(...drafts.map((draft) => {
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.purpose = draft.purpose;
    button.textContent = `${msg("split-record")}: ${namesIn(names, "purpose", [draft.purpose])}`;
    button.addEventListener("click", () => {
      for (const box of document.querySelectorAll('input[name="c-purpose"]')) box.checked = box.value === draft.purpose;
      $("consent-split").hidden = true;
      reviewConsent(consentBody());
    });
    li.append(button);
    return li;
  }));
  $("consent-split").hidden = false;
}

/** The person's card, printed from a window of its own (the code is shown only if just issued). */
async function openCard() {
  const layout = $("card-separate").checked ? "separate" : "together";
  const headers = { Authorization: `Bearer ${await accessToken()}` };
  if (state.accessCode) headers["Portal-Access-Code"] = state.accessCode;
  const response = await fetch(`/v1/consents/${encodeURIComponent(state.consentId)}/card?lang=${state.personLang}`
    + `&layout=${layout}`, { headers });
  if (!response.ok) throw new ApiError(response.status, await response.json());
  const url = URL.createObjectURL(new Blob([await response.text()], { type: "text/html" }));
  window.open(url, "_blank");
  setTimeout(() => URL.revokeObjectURL(url), 60000);
}

async function setPin() {
  const box = $("pin-person");
  const pin = box.querySelector(".pc-pin").value;
  const again = box.querySelector(".pc-pin-again").value;
  const duress = box.querySelector(".pc-duress").value;
  box.querySelector(".pc-mismatch").hidden = pin === again;
  if (pin !== again) return;
  const body = { pin };
  if (duress !== "") body.duress_pin = duress;
  try {
    await api("POST", `/v1/subjects/${encodeURIComponent(state.consent.subject_id)}/portal-access/pin`, body);
  } finally {
    for (const input of box.querySelectorAll("input")) input.value = "";
  }
  $("pin-setup").hidden = true;
  $("pin-done").hidden = false;
}

// --- exceptions (four eyes), notices and alerts addressed to the agency -----------------------

function fromList(listId, attribute, code) {
  const item = [...$(listId).querySelectorAll(`[data-${attribute}]`)].find((li) => listsCode(li.dataset[attribute], code));
  return item ? item.textContent : null;
}

function noticeText(kind) {
  return fromList("notice-kinds", "kind", kind) ?? `${msg("notice-unknown")} (${String(kind).replace(/[^A-Za-z0-9_.:-]/g, "").slice(0, 80)})`;
}

function when(stamp) {
  const date = new Date(stamp);
  return Number.isNaN(date.getTime()) ? String(stamp) : date.toLocaleString(document.documentElement.lang);
}

function grantItem(grant) {
  const item = $("grant-item").content.firstElementChild.cloneNode(true);
  item.dataset.grant = grant.id;
  item.dataset.status = grant.status;
  item.querySelector(".g-subject").textContent = grant.subject_id;
  const basis = fromList("basis-names", "basis", grant.basis);
  item.querySelector(".g-basis").textContent = basis ? `${grant.basis}: ${basis}` : grant.basis;
  item.querySelector(".g-recipient").textContent = grant.recipient_agency_id;
  item.querySelector(".g-purpose").textContent = grant.purpose;
  item.querySelector(".g-classes").textContent = namesIn($("class-names"), "class", grant.classes);
  item.querySelector(".g-justification").textContent = `${grant.justification_code} · ${grant.justification_ref}`;
  item.querySelector(".g-requested-by").textContent = grant.requested_by;
  item.querySelector(".g-status").textContent = fromList("grant-statuses", "status", grant.status) ?? grant.status;
  item.querySelector(".g-expires").textContent = when(grant.expires_at);
  const own = grant.requested_by === ACCOUNT;
  item.querySelector(".g-own").hidden = !(own && grant.status === "requested");
  // Offered to someone entitled to approve, for a request that is not their own (the gateway checks
  // both again: a page that offers it anyway is refused, exception_self_approval).
  const approve = item.querySelector(".g-approve");
  approve.hidden = !(CAN_APPROVE && grant.status === "requested" && !own);
  approve.addEventListener("click", () => guarded(item.querySelector(".message"), async () => {
    await api("POST", `/v1/exceptions/${encodeURIComponent(grant.id)}/approvals`);
    await refreshExceptions();
  }));
  return item;
}

function noticeItem(notice) {
  const item = $("notice-item").content.firstElementChild.cloneNode(true);
  item.dataset.kind = notice.kind;
  item.querySelector(".n-text").textContent = noticeText(notice.kind);
  item.querySelector(".n-subject").textContent = notice.subject_id;
  item.querySelector(".n-at").textContent = when(notice.created_at);
  // Codes only (a basis, an agency, a reference): a notice carries no payload value.
  const details = notice.details || {};
  item.querySelector(".n-details").textContent = ["basis", "recipient_agency_id", "grant_id", "alert_id"]
    .filter((key) => typeof details[key] === "string").map((key) => details[key]).join(" · ");
  return item;
}

function alertItem(alert) {
  const item = $("alert-item").content.firstElementChild.cloneNode(true);
  item.dataset.code = alert.code;
  item.querySelector(".a-text").textContent = noticeText(alert.code);
  item.querySelector(".a-subject").textContent = alert.subject_id;
  item.querySelector(".a-at").textContent = when(alert.raised_at);
  return item;
}

/** The cases this agency published in advance (S35): only those can be asked for. */
function showPublishedCases(me) {
  const chosen = $("g-case").value;
  $("g-case").replaceChildren(...(me.exception_policy || []).flatMap((entry) => (entry.scenarios || []).map((scenario) => {
    const option = document.createElement("option");
    option.value = `${entry.basis}|${scenario}`;
    const basis = fromList("basis-names", "basis", entry.basis);
    option.textContent = `${entry.basis} · ${scenario}${basis ? ` · ${basis}` : ""}`;
    return option;
  })));
  if (chosen) $("g-case").value = chosen;
}

const selected = (id) => [...$(id).selectedOptions].map((option) => option.value);

async function askException() {
  const [basis, scenario] = $("g-case").value.split("|");
  await api("POST", "/v1/exceptions", { subject_id: $("g-subject").value.trim(), basis, scenario,
    justification_code: $("g-justification").value.trim(), justification_ref: $("g-reference").value.trim(),
    recipient_agency_id: $("g-recipient").value, purpose: $("g-purpose").value, classes: selected("g-classes"),
    fields: selected("g-fields") });
  $("grant-form").reset();
  await refreshExceptions();
}

async function refreshExceptions() {
  const [grants, notices, alerts, me] = await Promise.all([api("GET", "/v1/exceptions"),
    api("GET", "/v1/exceptions/notices"), api("GET", "/v1/alerts"), api("GET", "/v1/agencies/me")]);
  showPublishedCases(me);
  const open = grants.filter((g) => g.status === "requested" || g.status === "approved").reverse().slice(0, 50);
  $("grant-list").replaceChildren(...open.map(grantItem));
  $("grants-empty").hidden = open.length > 0;
  const recent = notices.slice(-50).reverse();
  $("notice-list").replaceChildren(...recent.map(noticeItem));
  $("notices-empty").hidden = recent.length > 0;
  $("alert-list").replaceChildren(...alerts.alerts.map(alertItem));
  $("alerts-empty").hidden = alerts.alerts.length > 0;
}

function bind() {
  const importFrom = (usePasskey) => {
    const passphrase = $("new-passphrase").value;
    const where = $("key-message");
    const file = $("key-file").files[0];
    if (!file) { $("key-file").focus(); return; }
    if (!usePasskey && passphrase.length < 12) { where.textContent = msg("passphrase-short"); return; }
    file.text().then(async (text) => {
      let keys;
      try { keys = E.parseKeyFile(sodium, text); } catch (_error) { where.textContent = msg("key-bad-file"); return; }
      if (!(await ownSigningKeyIsAgencys(keys))) { where.textContent = msg("key-wrong-agency"); return; }
      let record;
      try {
        record = usePasskey ? await importWithPasskey(keys) : importWithPassphrase(keys, passphrase);
      } catch (_error) {
        record = null;
      }
      if (record === null) { where.textContent = msg("no-prf"); $("new-passphrase").focus(); return; }
      localStorage.setItem(STORE_KEY, JSON.stringify(record));
      state.keys = keys;
      $("new-passphrase").value = "";
      $("key-file").value = "";
      where.textContent = "";
      showKeyState();
      await start();
    });
  };
  $("import-form").addEventListener("submit", (event) => {
    event.preventDefault();
    importFrom(false);
  });
  $("import-key-passkey").addEventListener("click", () => importFrom(true));
  $("unlock-passkey").addEventListener("click", () => {
    unlockWithPasskey().then((keys) => {
      state.keys = keys;
      $("key-message").textContent = "";
      showKeyState();
      return start();
    }, () => { $("key-message").textContent = msg("failed"); });
  });
  $("unlock-form").addEventListener("submit", (event) => {
    event.preventDefault();
    try {
      state.keys = unlockKey($("passphrase").value);
    } catch (_error) {
      $("key-message").textContent = msg("passphrase-wrong");
      return;
    }
    $("passphrase").value = "";
    $("key-message").textContent = "";
    showKeyState();
    start();
  });
  $("export-key").addEventListener("click", () => {
    download(`agency-key-${AGENCY}.json`, E.keyFileText(sodium, state.keys), "application/json");
  });
  $("lock-key").addEventListener("click", lock);
  $("wipe-key").addEventListener("click", () => {
    if (!window.confirm(msg("wipe-confirm"))) return;
    lock();
    localStorage.removeItem(STORE_KEY);
    showKeyState();
    $("key-message").textContent = msg("wiped");
  });
  $("pin-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const section = $("pin");
    guarded($("pin-message"), async () => {
      if (!(await pinTyped(section.dataset.agency, section.dataset.kind, $("pin-fingerprint").value))) {
        $("pin-message").textContent = msg("pin-mismatch");
        return;
      }
      $("pin-fingerprint").value = "";
      section.hidden = true;
      const retry = state.pending;
      state.pending = null;
      if (retry) await retry();
    });
  });
  $("refresh-inbox").addEventListener("click", () => guarded($("inbox-message"), refreshInbox));
  $("refresh-people").addEventListener("click", () => guarded($("people-message"), refreshPeople));
  $("person-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded($("people-message"), addPerson);
  });
  $("plan-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded($("send-message"), makePlan);
  });
  $("fill-form").addEventListener("submit", (event) => {
    event.preventDefault();
    showPreview();
  });
  $("approve-send").addEventListener("click", () => guarded($("send-message"), approveAndSend));
  $("refresh-exceptions").addEventListener("click", () => guarded($("exceptions-message"), refreshExceptions));
  $("grant-form").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded($("exceptions-message"), askException);
  });
  $("consent-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("consent-message").textContent = "";
    reviewConsent(consentBody());
  });
  $("consent-record").addEventListener("click", () => guarded($("consent-message"), recordConsent));
  $("print-card").addEventListener("click", () => guarded($("consent-message"), openCard));
  $("pin-setup").addEventListener("submit", (event) => {
    event.preventDefault();
    guarded($("consent-message"), setPin);
  });
  $("sign-out-form").addEventListener("submit", lock);
  // A shared office computer: the key leaves memory after the session's idle time.
  let idle = setTimeout(lock, IDLE_MS);
  for (const name of ["keydown", "pointerdown"]) {
    document.addEventListener(name, () => { clearTimeout(idle); idle = setTimeout(lock, IDLE_MS); });
  }
}

async function start() {
  await guarded($("people-message"), refreshPeople);
  await guarded($("send-message"), loadRecipients);
  await guarded($("inbox-message"), refreshInbox);
  await guarded($("exceptions-message"), refreshExceptions);
}

await sodium.ready;
bind();
showKeyState();
document.documentElement.dataset.ready = "true";
