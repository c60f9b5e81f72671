// Passkeys (WebAuthn): runs the browser's ceremony for a form marked data-passkey, then posts
// the form with the answer (JSON) in its hidden "code" field. The options come from the
// server as base64url JSON (data-options-url, a POST with the page's CSRF token). Without
// this script, or in a browser without WebAuthn, the passkey buttons stay hidden and every
// other way in (the password form, codes) works as before.
(function () {
  "use strict";
  if (!window.PublicKeyCredential || !navigator.credentials) {
    return;
  }

  function toBytes(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBytes(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    var options = Object.assign({}, json);
    options.challenge = toBytes(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toText(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults ? credential.getClientExtensionResults() : {},
      response: { clientDataJSON: toText(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toText(response.attestationObject);
      if (response.getTransports) { json.response.transports = response.getTransports(); }
    } else {
      json.response.authenticatorData = toText(response.authenticatorData);
      json.response.signature = toText(response.signature);
      json.response.userHandle = response.userHandle ? toText(response.userHandle) : null;
    }
    return JSON.stringify(json);
  }

  function fetchOptions(form) {
    var token = form.querySelector('input[name="csrf_token"]');
    return fetch(form.dataset.optionsUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": token ? token.value : "", "Accept": "application/json" }
    }).then(function (reply) {
      if (!reply.ok) { throw new Error("options refused"); }
      return reply.json();
    });
  }

  function ceremony(form, mediation, signal) {
    return fetchOptions(form).then(function (json) {
      if (form.dataset.passkey === "create") {
        return navigator.credentials.create({ publicKey: creationOptions(json) });
      }
      var request = { publicKey: requestOptions(json) };
      if (mediation) { request.mediation = mediation; }
      if (signal) { request.signal = signal; }
      // Marks the moment the browser has been asked, so that a page (or a test driving a
      // virtual authenticator) can tell an offered autofill from one still being fetched.
      if (mediation === "conditional") { form.dataset.autofill = "offered"; }
      return navigator.credentials.get(request);
    });
  }

  function send(form, credential) {
    form.querySelector('input[name="code"]').value = answer(credential);
    form.submit();
  }

  function say(form, key) {
    var status = document.getElementById(form.dataset.status);
    if (status) { status.textContent = status.dataset[key] || ""; }
  }

  document.querySelectorAll("form[data-passkey]").forEach(function (form) {
    var starts = document.querySelectorAll('[data-passkey-start="' + form.id + '"]');
    var conditional = null;

    function start(event) {
      if (event) { event.preventDefault(); }
      if (conditional) { conditional.abort(); conditional = null; }
      say(form, "waiting");
      ceremony(form).then(function (credential) {
        if (credential) { send(form, credential); }
      }).catch(function (error) {
        say(form, error && error.name === "InvalidStateError" ? "already" : "failed");
      });
    }

    form.hidden = false;
    document.querySelectorAll('[data-passkey-shown-with="' + form.id + '"]').forEach(function (element) {
      element.hidden = false;
    });
    document.querySelectorAll('[data-passkey-hidden-with="' + form.id + '"]').forEach(function (element) {
      element.hidden = true;
    });
    starts.forEach(function (button) {
      button.hidden = false;
      button.addEventListener("click", start);
    });
    form.addEventListener("submit", start);

    // Passkeys offered in the identifier field's autofill, where the browser can.
    if (form.dataset.conditional !== undefined && PublicKeyCredential.isConditionalMediationAvailable) {
      PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
        if (!available) { return; }
        conditional = new AbortController();
        ceremony(form, "conditional", conditional.signal).then(function (credential) {
          if (credential) { send(form, credential); }
        }).catch(function () { /* dismissed or replaced by the button: nothing to say */ });
      });
    }
  });
})();
