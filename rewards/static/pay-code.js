// The pay code page: load a new code a few seconds before this one runs out (a code works for a minute).
(function () {
  "use strict";
  var root = document.getElementById("pay-code");
  if (!root) return;
  var seconds = parseInt(root.getAttribute("data-seconds"), 10) || 60;
  window.setTimeout(function () {
    if (!document.hidden) window.location.reload();
  }, Math.max(seconds - 8, 5) * 1000);
  // Back on the page after a while (the phone was put away): the code may be old, fetch a new one.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && Date.now() > Date.parse(root.getAttribute("data-expires")) - 8000) {
      window.location.reload();
    }
  });
})();
