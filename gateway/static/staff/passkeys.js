// Passkey ceremonies for staff: WebAuthn through the browser, options and results as JSON.
"use strict";
(function () {
  const b64u = {
    enc(buf) {
      const bytes = new Uint8Array(buf);
      let s = "";
      for (const b of bytes) s += String.fromCharCode(b);
      return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    },
    dec(str) {
      const pad = "=".repeat((4 - (str.length % 4)) % 4);
      const bin = atob(str.replace(/-/g, "+").replace(/_/g, "/") + pad);
      return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
    },
  };
  const csrf = () => document.querySelector('meta[name="csrf-token"]').content;
  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(url + " " + response.status);
    return response.json();
  }
  function credentialJSON(cred) {
    const r = cred.response;
    const response = { clientDataJSON: b64u.enc(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = b64u.enc(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = b64u.enc(r.authenticatorData);
      response.signature = b64u.enc(r.signature);
      if (r.userHandle) response.userHandle = b64u.enc(r.userHandle);
    }
    return { id: cred.id, rawId: b64u.enc(cred.rawId), type: cred.type, response,
             clientExtensionResults: cred.getClientExtensionResults(), authenticatorAttachment: cred.authenticatorAttachment };
  }
  async function signIn() {
    const options = await post("/staff/passkey/sign-in/options", {});
    options.challenge = b64u.dec(options.challenge);
    (options.allowCredentials || []).forEach((c) => { c.id = b64u.dec(c.id); });
    const cred = await navigator.credentials.get({ publicKey: options });
    const result = await post("/staff/passkey/sign-in", { credential: credentialJSON(cred) });
    window.location.assign(result.next);
  }
  async function enrol(event) {
    event.preventDefault();
    const code = document.getElementById("enrolment-code").value.trim();
    const password = document.getElementById("new-password").value;
    const options = await post("/staff/enrol/options", { code });
    options.challenge = b64u.dec(options.challenge);
    options.user.id = b64u.dec(options.user.id);
    (options.excludeCredentials || []).forEach((c) => { c.id = b64u.dec(c.id); });
    // PRF (CTAP2 hmac-secret) where the authenticator has it: the workspace keeps the agency key
    // encrypted under a secret only this passkey can produce.
    options.extensions = Object.assign({}, options.extensions, { prf: {} });
    const cred = await navigator.credentials.create({ publicKey: options });
    const result = await post("/staff/enrol", { code, password, credential: credentialJSON(cred) });
    document.getElementById("enrol-form").hidden = true;
    document.getElementById("enrolled-username").textContent = result.username;
    document.getElementById("totp-secret").textContent = result.totp_secret;
    document.getElementById("enrolled").hidden = false;
  }
  document.addEventListener("DOMContentLoaded", () => {
    const button = document.getElementById("passkey-sign-in");
    if (button) button.addEventListener("click", () => signIn().catch(() => {
      document.getElementById("passkey-error").hidden = false;
    }));
    const form = document.getElementById("enrol-form");
    if (form) form.addEventListener("submit", (e) => enrol(e).catch(() => {
      document.getElementById("enrol-error").hidden = false;
    }));
  });
})();
