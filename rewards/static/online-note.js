// Show the page's "no signal" note while the browser is offline (a card sale needs the server).
(function () {
  "use strict";
  var note = document.getElementById("online-note");
  if (!note) return;
  function update() { note.hidden = navigator.onLine !== false; }
  window.addEventListener("online", update);
  window.addEventListener("offline", update);
  update();
})();
