// Progressive enhancement only: every page works without this script.
// Adds a show/hide button to each password field (NIST SP 800-63B: let members check what
// they typed; pasting is never blocked).
(function () {
  "use strict";
  var labels = document.documentElement.dataset;
  document.querySelectorAll('input[type="password"]').forEach(function (field) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "reveal";
    button.textContent = labels.showPassword || "Show";
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-controls", field.id);
    button.addEventListener("click", function () {
      var hidden = field.type === "password";
      field.type = hidden ? "text" : "password";
      button.textContent = hidden ? (labels.hidePassword || "Hide") : (labels.showPassword || "Show");
      button.setAttribute("aria-pressed", hidden ? "true" : "false");
    });
    field.insertAdjacentElement("afterend", button);
  });
})();
