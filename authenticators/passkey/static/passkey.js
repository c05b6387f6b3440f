// Passkey forms (data-passkey="get" to sign in, "create" to register) carry the server's
// WebAuthn options as JSON. On submit, the browser's authenticator is asked through
// @simplewebauthn/browser and its answer is posted in the "response" field. Served from
// our own origin (CSP script-src 'self'); no inline script.
(function () {
  'use strict';
  var lib = window.SimpleWebAuthnBrowser;
  var forms = document.querySelectorAll('form[data-passkey]');
  if (forms.length === 0) return;
  var status = document.querySelector('[data-passkey-status]');
  if (!lib || !lib.browserSupportsWebAuthn()) {
    var unsupported = document.querySelector('[data-passkey-unsupported]');
    if (unsupported) unsupported.hidden = false;
    forms.forEach(function (form) {
      form.querySelectorAll('button').forEach(function (b) { b.disabled = true; });
    });
    return;
  }
  forms.forEach(function (form) {
    form.addEventListener('submit', function (event) {
      event.preventDefault();
      var optionsJSON = JSON.parse(form.dataset.options);
      var ceremony = form.dataset.passkey === 'create' ? lib.startRegistration : lib.startAuthentication;
      ceremony({ optionsJSON: optionsJSON }).then(function (response) {
        form.elements.response.value = JSON.stringify(response);
        form.submit();
      }, function (err) {
        if (!status) return;
        status.textContent = err && err.name === 'NotAllowedError'
          ? 'The passkey request was cancelled or timed out. Try again, or choose another way.'
          : 'Your browser could not use a passkey (' + (err && err.message) + ').';
        status.hidden = false;
      });
    });
  });
})();
