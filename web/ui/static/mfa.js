// jitaccess: step-up MFA and passkeys (WebAuthn). A form marked
// data-step-up sends only once a second factor is fresh: this script
// stops the submission, asks /mfa/options what to do, proves a passkey
// (navigator.credentials.get, then /mfa/verify) or signs in again at the
// identity provider, and then sends the very same form: one click. The
// server judges the form again either way. The account page's "Add a
// passkey" runs navigator.credentials.create. No inline script: the
// Content-Security-Policy forbids it.
(function () {
  'use strict';
  document.documentElement.classList.add('js');

  // base64url <-> ArrayBuffer, as go-webauthn speaks it.
  var fromB64 = function (s) {
    s = s.replace(/-/g, '+').replace(/_/g, '/');
    while (s.length % 4) s += '=';
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  };
  var toB64 = function (buf) {
    var bytes = new Uint8Array(buf), bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  };

  var csrfOf = function (form) {
    var f = form && form.querySelector('input[name=csrf_token]');
    return f ? f.value : '';
  };

  // post sends JSON with the session's CSRF token and resolves with the
  // answer's JSON, or rejects with the server's message.
  var post = function (url, csrf, body) {
    return fetch(url, {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': csrf },
      body: JSON.stringify(body || {})
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (!res.ok) throw new Error((j.error && j.error.message) || ('the server answered ' + res.status));
        return j;
      });
    });
  };

  var showError = function (msg) {
    var el = document.getElementById('step-up-error');
    if (!el) { window.alert(msg); return; }
    el.textContent = msg.charAt(0).toUpperCase() + msg.slice(1) + (/[.!?]$/.test(msg) ? '' : '.');
    el.hidden = false;
    el.scrollIntoView({ block: 'nearest' });
  };

  // assertionJSON is the PublicKeyCredential of navigator.credentials.get
  // as go-webauthn parses it.
  var assertionJSON = function (cred) {
    var r = cred.response;
    return {
      id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
      response: {
        authenticatorData: toB64(r.authenticatorData), clientDataJSON: toB64(r.clientDataJSON),
        signature: toB64(r.signature), userHandle: r.userHandle ? toB64(r.userHandle) : undefined
      }
    };
  };

  var requestOptions = function (pk) {
    pk.challenge = fromB64(pk.challenge);
    (pk.allowCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
    return pk;
  };

  var RESUME = 'jitaccess.step-up';

  // stepUp makes this session's second factor fresh. It resolves when it
  // is; for a sign-in step-up it leaves the page (and the form is sent
  // when the browser comes back, see resume).
  var stepUp = function (form) {
    var csrf = csrfOf(form);
    var next = window.location.pathname + window.location.search;
    return post('/mfa/options?next=' + encodeURIComponent(next), csrf).then(function (o) {
      if (o.fresh) return null;
      if (o.oidc) {
        var fields = {};
        form.querySelectorAll('input[type=text], textarea, select').forEach(function (f) { if (f.name) fields[f.name] = f.value; });
        window.sessionStorage.setItem(RESUME, JSON.stringify({ path: next, action: form.getAttribute('action'), fields: fields }));
        window.location.assign(o.oidc);
        return new Promise(function () {}); // the page is leaving
      }
      if (!window.PublicKeyCredential || !navigator.credentials) throw new Error('this browser cannot use passkeys');
      return navigator.credentials.get({ publicKey: requestOptions(o.publicKey) }).then(function (cred) {
        if (!cred) throw new Error('no passkey was chosen');
        return post('/mfa/verify', csrf, assertionJSON(cred));
      });
    });
  };

  var send = function (form, submitter) {
    form.setAttribute('data-stepped', '1');
    if (form.requestSubmit) form.requestSubmit(submitter || undefined); else form.submit();
  };

  var register = function (form) {
    var csrf = csrfOf(form);
    var nameField = form.querySelector('input[name=name]');
    return post('/account/passkeys/options', csrf).then(function (o) {
      var pk = o.publicKey;
      pk.challenge = fromB64(pk.challenge);
      pk.user.id = fromB64(pk.user.id);
      (pk.excludeCredentials || []).forEach(function (c) { c.id = fromB64(c.id); });
      return navigator.credentials.create({ publicKey: pk });
    }).then(function (cred) {
      var r = cred.response;
      return post('/account/passkeys', csrf, {
        name: nameField ? nameField.value : '',
        credential: {
          id: cred.id, rawId: toB64(cred.rawId), type: cred.type,
          response: {
            attestationObject: toB64(r.attestationObject), clientDataJSON: toB64(r.clientDataJSON),
            transports: r.getTransports ? r.getTransports() : []
          }
        }
      });
    }).then(function (j) { window.location.assign(j.next || '/account'); });
  };

  // Capture phase: this runs before app.js's one-click guard, which only
  // sees the submission that really goes.
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var needs = form.hasAttribute('data-step-up') && !form.getAttribute('data-stepped');
    var isRegister = form.id === 'passkey-register';
    if (!needs && !isRegister) return;
    e.preventDefault();
    e.stopPropagation();
    if (form.getAttribute('data-busy')) return;
    form.setAttribute('data-busy', '1');
    var submitter = e.submitter;
    var err = document.getElementById('step-up-error');
    if (err) err.hidden = true;
    var first = needs ? stepUp(form) : Promise.resolve();
    first.then(function () {
      if (isRegister) return register(form);
      send(form, submitter);
      return null;
    }).catch(function (ex) {
      showError(ex && ex.name === 'NotAllowedError' ? 'the passkey check was cancelled or timed out' : (ex && ex.message) || String(ex));
    }).then(function () { form.removeAttribute('data-busy'); });
  }, true);

  // resume sends the form that a sign-in step-up left, once back on its
  // page: what was typed is put back; the CSRF token is the new session's.
  var resume = function () {
    var raw = window.sessionStorage.getItem(RESUME);
    if (!raw) return;
    window.sessionStorage.removeItem(RESUME);
    var saved;
    try { saved = JSON.parse(raw); } catch (ex) { return; }
    if (saved.path !== window.location.pathname + window.location.search) return;
    var form = document.querySelector('form[action="' + saved.action + '"]');
    if (!form) return;
    Object.keys(saved.fields || {}).forEach(function (name) {
      var f = form.querySelector('[name="' + name + '"]');
      if (f) f.value = saved.fields[name];
    });
    send(form);
  };
  resume();
})();
