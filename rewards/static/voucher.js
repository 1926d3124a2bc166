// My voucher, open at the counter: ask every few seconds whether it is still open, and when the
// clerk has handed the goods over (or it was cancelled or expired) say so in place of the QR code.
// The page itself stays cached for a counter with no signal; this only reads the voucher's status.
(function () {
  "use strict";

  var root = document.getElementById("voucher");
  if (!root || root.getAttribute("data-status") !== "reserved") return;
  var url = root.getAttribute("data-status-url");
  var state = document.getElementById("voucher-state");
  var EVERY_MS = 3000;
  var timer = null;

  function when(text) {
    if (!text) return "";
    var moment = new Date(text);
    if (isNaN(moment.getTime())) return "";
    return moment.toLocaleString(document.documentElement.lang || undefined,
                                 { dateStyle: "short", timeStyle: "short" });
  }

  function show(voucher) {
    root.setAttribute("data-status", voucher.status);
    Array.prototype.forEach.call(root.querySelectorAll(".voucher-open"), function (part) {
      part.hidden = true;
    });
    var label = root.getAttribute("data-label-" + voucher.status) || voucher.status;
    var moment = when(voucher.fulfilled_at || voucher.cancelled_at);
    state.textContent = (voucher.status === "fulfilled" ? "✓ " : "") + label + (moment ? " · " + moment : "");
    state.hidden = false;
  }

  function check() {
    timer = null;
    if (document.hidden) return;
    fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (voucher) {
        if (voucher && voucher.status && voucher.status !== "reserved") show(voucher);
        else later();
      }, later);
  }

  function later() {
    if (timer === null) timer = window.setTimeout(check, EVERY_MS);
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && root.getAttribute("data-status") === "reserved") later();
  });
  later();
})();
