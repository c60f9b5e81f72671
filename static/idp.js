// Progressive enhancement only: every page works without this script.
(function () {
  "use strict";
  var labels = document.documentElement.dataset;

  // A show/hide button beside each password field (NIST SP 800-63B: let members check what
  // they typed; pasting is never blocked). The field and its button share a row of their own,
  // so the button never sits on the line of the form's submit button.
  document.querySelectorAll('input[type="password"]').forEach(function (field) {
    var row = document.createElement("div");
    row.className = "password-field";
    field.parentNode.insertBefore(row, field);
    row.appendChild(field);

    var label = field.labels && field.labels.length ? field.labels[0].textContent.trim() : "";
    var button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    button.setAttribute("aria-controls", field.id);
    function show(hidden) {
      var word = hidden ? (labels.showPassword || "Show") : (labels.hidePassword || "Hide");
      button.textContent = word;
      // The visible word first, then which field: several password fields on one page.
      button.setAttribute("aria-label", label ? word + ": " + label : word);
    }
    show(true);
    button.addEventListener("click", function () {
      var hidden = field.type === "password";
      field.type = hidden ? "text" : "password";
      show(!hidden);
    });
    row.appendChild(button);
  });

  // A form is sent once. A second press while the first is on its way (a double click)
  // would reach idp as a second copy of a step the first has already taken: the browser
  // shows the answer to the copy, which finds the step gone ("start again"), instead of the
  // first's. Nothing is disabled (a disabled submit button would drop its name and value,
  // which the consent form's two buttons carry); the flag is cleared when the page is shown
  // again from the back-forward cache.
  document.querySelectorAll('form[method="post"]').forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sending) {
        event.preventDefault();
        return;
      }
      form.dataset.sending = "1";
    });
  });
  window.addEventListener("pageshow", function (event) {
    if (event.persisted) {
      document.querySelectorAll("form[data-sending]").forEach(function (form) {
        delete form.dataset.sending;
      });
    }
  });

  // Copy buttons for secrets (recovery codes, the authenticator key): shown only where the
  // browser can copy; the text copied is exactly data-copy, never what the layout shows.
  if (navigator.clipboard && window.isSecureContext) {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      var status = document.getElementById(button.dataset.copyStatus);
      button.hidden = false;
      button.addEventListener("click", function () {
        navigator.clipboard.writeText(button.dataset.copy).then(
          function () { if (status) { status.textContent = labels.copied || "Copied."; } },
          function () { if (status) { status.textContent = labels.copyFailed || ""; } }
        );
      });
    });
  }
})();

// The form_post response mode (OAuth 2.0 Form Post Response Mode): the page holding the
// authorization response posts itself to the application at once. Without script the member
// presses its button; the CSP needs nothing inline for either.
(function () {
  "use strict";
  var form = document.querySelector("form[data-auto-submit]");
  if (form) {
    form.submit();
  }
})();
