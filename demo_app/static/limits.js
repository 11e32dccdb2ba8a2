// Says, as the user types, when a field is longer than QuickBooks allows.
// The browser never cuts the value (no maxlength): the server refuses it with
// its own message and keeps the input, so nothing is lost silently.
(function () {
  "use strict";
  function update(input) {
    var limit = parseInt(input.getAttribute("data-qbo-limit"), 10);
    var out = document.getElementById(input.id + "-over");
    if (!out || !limit) { return; }
    var over = input.value.trim().length - limit;
    out.textContent = over > 0
      ? input.value.trim().length + " characters: " + over + " over QuickBooks' limit of " + limit + "."
      : "";
    input.classList.toggle("over-limit", over > 0);
  }
  document.addEventListener("input", function (event) {
    if (event.target.matches && event.target.matches("[data-qbo-limit]")) { update(event.target); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-qbo-limit]").forEach(update);
  });
})();
