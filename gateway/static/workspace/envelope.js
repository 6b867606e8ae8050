// The referral envelope in the browser: the same wire format as the Python SDK
// (connectors/referral.py, crypto/envelope.py, crypto/signing.py, crypto/canonical.py,
// crypto/keys.py), with libsodium.js served by the gateway itself (never a CDN).
//
// * Each field: sodium_pad(JCS({"e": envelope_id, "f": field, "v": value}), 256) sealed with
//   crypto_box_seal to the recipient's X25519 key; the envelope id and field name are checked
//   on open, and the plaintext must be the canonical encoding.
// * The manifest (type "safe-referral/manifest", v 2) lists sha256 of every ciphertext, sorted by
//   name, and is signed with Ed25519 over its RFC 8785 canonical JSON.
// * The preview commitment is HMAC-SHA-256 under a fresh 32-byte key of
//   JCS({"language", "fields"}); the key and language travel sealed under the name "$preview".
//
// Every function takes the ready libsodium object first, so the module holds no state.

export const PAD_BLOCK = 256;
export const SEALED_BOX_OVERHEAD = 48;
export const MANIFEST_TYPE = "safe-referral/manifest";
export const MANIFEST_VERSION = 2;
export const PREVIEW_PART = "$preview";
export const COMMITMENT_PREFIX = "hmac-sha256:";
const KEYPAIR_FORMAT = "safe-referral-gateway/agency-keypair";
const FINGERPRINT_LABEL = "safe-referral-gateway/key-fingerprint/v1";
const MAX_DEPTH = 64;

export class VerificationError extends Error {
  constructor(message) { super(message); this.name = "VerificationError"; }
}

export class DecryptionFailed extends Error {
  constructor() { super("decryption failed"); this.name = "DecryptionFailed"; }
}

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

// --- RFC 8785 canonical JSON --------------------------------------------------------------

function hasLoneSurrogate(text) {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(text);
}

function canonicalText(value, depth, active) {
  if (value === null) return "null";
  if (value === true) return "true";
  if (value === false) return "false";
  if (typeof value === "number") {
    if (!Number.isFinite(value)) throw new RangeError("NaN and infinities are not JSON");
    // ECMAScript's number form is the one RFC 8785 prescribes. Every JS number is a double, which
    // JCS writes as such (the SDK refuses only Python ints beyond 2**53 - 1, which JS cannot hold).
    return JSON.stringify(value);
  }
  if (typeof value === "string") {
    if (hasLoneSurrogate(value)) throw new RangeError("lone surrogate in a string");
    return JSON.stringify(value);  // the same escapes as RFC 8785
  }
  if (typeof value !== "object") throw new TypeError(`${typeof value} is not a JSON type`);
  if (depth >= MAX_DEPTH) throw new RangeError(`JSON nesting deeper than ${MAX_DEPTH}`);
  if (active.has(value)) throw new RangeError("circular reference");
  active.add(value);
  try {
    if (Array.isArray(value)) {
      return "[" + value.map((item) => canonicalText(item, depth + 1, active)).join(",") + "]";
    }
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new TypeError("only plain objects are JSON objects");
    // Default sort compares UTF-16 code units: exactly RFC 8785's order.
    const keys = Object.keys(value).sort();
    return "{" + keys.map((key) => {
      if (hasLoneSurrogate(key)) throw new RangeError("lone surrogate in a key");
      return JSON.stringify(key) + ":" + canonicalText(value[key], depth + 1, active);
    }).join(",") + "}";
  } finally {
    active.delete(value);
  }
}

/** RFC 8785 bytes of a JSON value (UTF-8), as crypto.canonical.canonical_json. */
export function canonicalJson(value) {
  return utf8.encode(canonicalText(value, 0, new Set()));
}

// --- base64url (strict, unpadded), hex ------------------------------------------------------

export function b64uEncode(sodium, bytes) {
  return sodium.to_base64(bytes, sodium.base64_variants.URLSAFE_NO_PADDING);
}

export function b64uDecode(sodium, text) {
  if (typeof text !== "string" || !/^[A-Za-z0-9_-]*$/.test(text) || text.length % 4 === 1) {
    throw new RangeError("invalid base64url");
  }
  const bytes = text.length === 0 ? new Uint8Array(0)
    : sodium.from_base64(text, sodium.base64_variants.URLSAFE_NO_PADDING);
  if (b64uEncode(sodium, bytes) !== text) throw new RangeError("non-canonical base64url");
  return bytes;
}

function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) { out.set(part, at); at += part.length; }
  return out;
}

function bytesEqual(sodium, a, b) {
  return a.length === b.length && sodium.memcmp(a, b);
}

/** "sha256:<hex>" of a ciphertext, as crypto.envelope.ciphertext_hash. */
export function ciphertextHash(sodium, bytes) {
  return "sha256:" + hex(sodium.crypto_hash_sha256(bytes));
}

// --- fields -------------------------------------------------------------------------------

function fieldPlaintext(envelopeId, field, value) {
  if (typeof envelopeId !== "string" || typeof field !== "string") {
    throw new TypeError("envelope id and field must be strings");
  }
  return canonicalJson({ e: envelopeId, f: field, v: value });
}

/** Seal one JSON value to the recipient's X25519 public key (fresh ephemeral key each call). */
export function sealField(sodium, envelopeId, field, value, recipientPublic) {
  if (!(recipientPublic instanceof Uint8Array) || recipientPublic.length !== 32) {
    throw new RangeError("an X25519 public key is 32 bytes");
  }
  const padded = sodium.pad(fieldPlaintext(envelopeId, field, value), PAD_BLOCK);
  return sodium.crypto_box_seal(padded, recipientPublic);
}

/** Open a field; throws DecryptionFailed (and nothing else) on any problem. */
export function openField(sodium, envelopeId, field, ciphertext, recipientPrivate) {
  try {
    if (typeof envelopeId !== "string" || typeof field !== "string" || !(ciphertext instanceof Uint8Array)
        || (ciphertext.length - SEALED_BOX_OVERHEAD) % PAD_BLOCK !== 0
        || ciphertext.length < PAD_BLOCK + SEALED_BOX_OVERHEAD || recipientPrivate.length !== 32) {
      throw new DecryptionFailed();
    }
    const recipientPublic = sodium.crypto_scalarmult_base(recipientPrivate);
    const padded = sodium.crypto_box_seal_open(ciphertext, recipientPublic, recipientPrivate);
    const plaintext = sodium.unpad(padded, PAD_BLOCK);
    const document = JSON.parse(utf8Strict.decode(plaintext));
    if (document === null || typeof document !== "object" || Array.isArray(document)
        || Object.keys(document).sort().join(",") !== "e,f,v") {
      throw new DecryptionFailed();
    }
    // Only the canonical encoding opens (this also refuses duplicate keys, which JSON.parse hides).
    if (!bytesEqual(sodium, plaintext, fieldPlaintext(envelopeId, field, document.v))) {
      throw new DecryptionFailed();
    }
    return document.v;
  } catch (_error) {
    throw new DecryptionFailed();
  }
}

// --- signatures ---------------------------------------------------------------------------

/** Ed25519 over the canonical JSON of `doc`, base64url (crypto.signing.sign_document). */
export function signDocument(sodium, signingSeed, doc) {
  const { privateKey } = sodium.crypto_sign_seed_keypair(signingSeed);
  try {
    return b64uEncode(sodium, sodium.crypto_sign_detached(canonicalJson(doc), privateKey));
  } finally {
    sodium.memzero(privateKey);
  }
}

/** True when `signatureB64` is a valid signature of `doc` by `signingPublic`. */
export function verifyDocument(sodium, signingPublic, doc, signatureB64) {
  try {
    const signature = b64uDecode(sodium, signatureB64);
    return signature.length === 64 && signingPublic.length === 32
      && sodium.crypto_sign_verify_detached(signature, canonicalJson(doc), signingPublic);
  } catch (_error) {
    return false;
  }
}

// --- preview commitment -------------------------------------------------------------------

/** HMAC-SHA-256 under `key` (32 bytes) of JCS({"language", "fields"}) (connectors.referral). */
export function previewCommitment(sodium, fields, language, key) {
  if (!(key instanceof Uint8Array) || key.length !== 32) throw new RangeError("a preview key is 32 random bytes");
  const mac = sodium.crypto_auth_hmacsha256(canonicalJson({ language, fields: { ...fields } }), key);
  return COMMITMENT_PREFIX + hex(mac);
}

/** A preview with a fresh random key: {language, fields, hash, key}. */
export function makePreview(sodium, fields, language) {
  const key = sodium.randombytes_buf(32);
  return { language, fields: { ...fields }, hash: previewCommitment(sodium, fields, language, key), key };
}

// --- keys ---------------------------------------------------------------------------------

/** Parse an agency key file (crypto.keys.save_key_file); checks the public keys match. */
export function parseKeyFile(sodium, text) {
  let document;
  try { document = JSON.parse(text); } catch (_error) { throw new VerificationError("the key file is not JSON"); }
  if (document === null || typeof document !== "object" || document.format !== KEYPAIR_FORMAT
      || document.version !== 1) {
    throw new VerificationError("this is not an agency key file");
  }
  const decode = (name) => {
    let raw;
    try { raw = b64uDecode(sodium, document[name]); } catch (_error) { raw = null; }
    if (raw === null || raw.length !== 32) throw new VerificationError(`the key file's ${name} is malformed`);
    return raw;
  };
  const keys = { encryptionPrivate: decode("encryption_private"), signingSeed: decode("signing_seed") };
  const encryptionPublic = sodium.crypto_scalarmult_base(keys.encryptionPrivate);
  const signingPublic = sodium.crypto_sign_seed_keypair(keys.signingSeed).publicKey;
  if (!bytesEqual(sodium, encryptionPublic, decode("encryption_public"))
      || !bytesEqual(sodium, signingPublic, decode("signing_public"))) {
    throw new VerificationError("the key file's public keys do not match its private keys");
  }
  return { ...keys, encryptionPublic, signingPublic };
}

/** The key file text for `keys` (for export), in the SDK's format. */
export function keyFileText(sodium, keys) {
  return JSON.stringify({
    format: KEYPAIR_FORMAT, version: 1,
    encryption_private: b64uEncode(sodium, keys.encryptionPrivate),
    signing_seed: b64uEncode(sodium, keys.signingSeed),
    encryption_public: b64uEncode(sodium, sodium.crypto_scalarmult_base(keys.encryptionPrivate)),
    signing_public: b64uEncode(sodium, sodium.crypto_sign_seed_keypair(keys.signingSeed).publicKey),
  }, null, 2) + "\n";
}

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** The fingerprint read aloud to confirm a key (crypto.keys.fingerprint). */
export function fingerprint(sodium, publicKey, kind) {
  if (kind !== "x25519" && kind !== "ed25519") throw new RangeError("kind must be x25519 or ed25519");
  if (publicKey.length !== 32) throw new RangeError("a public key is 32 bytes");
  const digest = sodium.crypto_hash_sha256(concat(utf8.encode(FINGERPRINT_LABEL), new Uint8Array([0]),
    utf8.encode(kind), new Uint8Array([0]), publicKey)).slice(0, 20);
  let bits = 0; let value = 0; let out = "";
  for (const byte of digest) {
    value = (value << 8) | byte; bits += 8;
    while (bits >= 5) { out += BASE32[(value >>> (bits - 5)) & 31]; bits -= 5; }
  }
  return out.match(/.{4}/g).join("-");
}

// --- referrals ----------------------------------------------------------------------------

function rfc3339(now) {
  return now.toISOString();  // UTC with "Z", milliseconds: the gateway's pattern allows a fraction
}

/**
 * Seal `fields` (only those the plan permits) and sign the manifest: the body of POST /v1/envelopes.
 * `plan` is the gateway's plan answer; `recipientKey` is {key_id, public_key} from the registry,
 * already checked against the pins by the caller.
 */
export function sealReferral(sodium, { plan, fields, senderAgencyId, senderKeys, senderKeyId, recipientKey,
  preview = null, now = new Date() }) {
  const permitted = new Set(plan.permitted_fields);
  const outside = Object.keys(fields).filter((name) => !permitted.has(name)).sort();
  if (outside.length) throw new RangeError(`fields outside the plan would be refused: ${outside.join(", ")}`);
  const envelopeId = String(plan.envelope_id);
  const recipientPublic = b64uDecode(sodium, recipientKey.public_key);
  const ciphertexts = {};
  const entries = [];
  for (const name of Object.keys(fields).sort()) {
    const sealed = sealField(sodium, envelopeId, name, fields[name], recipientPublic);
    ciphertexts[name] = b64uEncode(sodium, sealed);
    entries.push({ name, ciphertext_hash: ciphertextHash(sodium, sealed) });
  }
  let sealedPreview = null;
  if (preview !== null) {
    if (previewCommitment(sodium, fields, preview.language, preview.key) !== preview.hash) {
      throw new RangeError("the preview does not show exactly the fields being sent");
    }
    sealedPreview = {
      commitment: preview.hash,
      sealed: b64uEncode(sodium, sealField(sodium, envelopeId, PREVIEW_PART,
        { key: b64uEncode(sodium, preview.key), language: preview.language }, recipientPublic)),
    };
  }
  const manifest = {
    type: MANIFEST_TYPE, v: MANIFEST_VERSION, envelope_id: envelopeId, plan_id: String(plan.plan_id),
    subject_id: String(plan.subject_id), purpose: String(plan.purpose), sender_agency_id: senderAgencyId,
    sender_key_id: senderKeyId, recipient_agency_id: String(plan.recipient_agency_id),
    recipient_key_id: String(recipientKey.key_id), fields: entries, preview: sealedPreview,
    created_at: rfc3339(now),
  };
  return { plan_id: String(plan.plan_id), manifest, signature: signDocument(sodium, senderKeys.signingSeed, manifest),
    ciphertexts };
}

/**
 * Verify the sender's signature and every ciphertext hash, then open (connectors.referral.open_referral).
 * Throws VerificationError naming what does not check out.
 */
export function openReferral(sodium, envelope, { recipientAgencyId, recipientKeys, senderSigningPublicB64 }) {
  const manifest = envelope.manifest;
  let senderPublic;
  try { senderPublic = b64uDecode(sodium, senderSigningPublicB64); } catch (_error) { senderPublic = new Uint8Array(0); }
  if (!verifyDocument(sodium, senderPublic, manifest, envelope.signature)) {
    throw new VerificationError("the sender's signature does not verify");
  }
  if (manifest.type !== MANIFEST_TYPE || manifest.v !== MANIFEST_VERSION) {
    throw new VerificationError("unknown manifest version");
  }
  if (manifest.recipient_agency_id !== recipientAgencyId) {
    throw new VerificationError("this envelope is addressed to another agency");
  }
  const listed = new Map(manifest.fields.map((entry) => [entry.name, entry.ciphertext_hash]));
  const names = Object.keys(envelope.ciphertexts);
  if (names.length !== listed.size || !names.every((name) => listed.has(name))) {
    throw new VerificationError("ciphertexts do not match the manifest");
  }
  const envelopeId = String(manifest.envelope_id);
  const values = {};
  for (const name of names) {
    const sealed = b64uDecode(sodium, envelope.ciphertexts[name]);
    if (ciphertextHash(sodium, sealed) !== listed.get(name)) {
      throw new VerificationError(`ciphertext of ${name} was altered`);
    }
    try {
      values[name] = openField(sodium, envelopeId, name, sealed, recipientKeys.encryptionPrivate);
    } catch (_error) {
      throw new VerificationError(`field ${name} does not open with this key`);
    }
  }
  let language = null;
  if (manifest.preview !== null && manifest.preview !== undefined) {
    let expected;
    try {
      const opened = openField(sodium, envelopeId, PREVIEW_PART, b64uDecode(sodium, String(manifest.preview.sealed)),
        recipientKeys.encryptionPrivate);
      language = String(opened.language);
      expected = previewCommitment(sodium, values, language, b64uDecode(sodium, String(opened.key)));
    } catch (_error) {
      throw new VerificationError("the sealed preview does not open");
    }
    if (expected !== String(manifest.preview.commitment)) {
      throw new VerificationError("the payload differs from what the person previewed");
    }
  }
  return { envelopeId, subjectId: String(manifest.subject_id), purpose: String(manifest.purpose),
    senderAgencyId: String(manifest.sender_agency_id), fields: values, manifest, language };
}
