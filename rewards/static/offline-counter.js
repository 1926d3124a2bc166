// The offline counter: keep the shop's bundle, check a resident's voucher code on this device (its
// Ed25519 signature with the bundle's public keys: the browser's WebCrypto where it has Ed25519, else
// the audited @noble/ed25519 served from this server), hand it over into the queue, and send the
// queue whenever there is signal, with backoff. No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var root = document.getElementById("counter");
  if (!root || !window.indexedDB || !window.CounterQueue) return;
  var Q = window.CounterQueue;
  var shopId = parseInt(root.getAttribute("data-supermarket"), 10);
  var banner = document.getElementById("banner");
  var scanner = document.getElementById("scanner");
  var form = document.getElementById("scan-form");
  var input = form.querySelector("[name=code]");
  var refusalBox = document.getElementById("refusal");
  var found = document.getElementById("found");
  var queuedNote = document.getElementById("queued");
  var nextButton = document.getElementById("next");
  var list = document.getElementById("scans");
  var VOUCHER_TAG = 2;
  var SHORT_ALPHABET = /^[ACDEFGHJKLMNPQRTUVWXY34679]{8}$/;
  var BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  var MAX_BACKOFF_S = 60;

  var bundle = null;
  var current = null; // {voucher, code} on screen, waiting for "hand over"
  var backoff = 0;
  var retryTimer = null;
  var verifyWith = null; // a function (publicKey, signature, message) → Promise<boolean>

  function msg(key, values) {
    var text = root.getAttribute("data-msg-" + key) || "";
    Object.keys(values || {}).forEach(function (name) { text = text.replace("{" + name + "}", values[name]); });
    return text;
  }

  // --- codes ---------------------------------------------------------------------------------

  function base32(text) {
    var bits = 0, value = 0, out = [];
    for (var i = 0; i < text.length; i++) {
      var index = BASE32.indexOf(text[i]);
      if (index < 0) return null;
      value = (value << 5) | index;
      bits += 5;
      if (bits >= 8) { out.push((value >>> (bits - 8)) & 0xff); bits -= 8; }
    }
    return new Uint8Array(out);
  }

  function tokenOf(text) {
    text = text.trim();
    if (text.indexOf("/") >= 0) text = text.replace(/\/+$/, "").split("/").pop();
    return text.toUpperCase().replace(/=+$/, "");
  }

  function bytesOf(base64) {
    var raw = atob(base64);
    var out = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  function hex(buffer) {
    return Array.prototype.map.call(new Uint8Array(buffer), function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
  }

  function chooseVerifier(sampleKey) {
    if (verifyWith) return Promise.resolve(verifyWith);
    var viaWebCrypto = function (key, signature, message) {
      return crypto.subtle.importKey("raw", key, { name: "Ed25519" }, false, ["verify"]).then(function (imported) {
        return crypto.subtle.verify({ name: "Ed25519" }, imported, signature, message);
      });
    };
    var probe = window.crypto && crypto.subtle ?
      crypto.subtle.importKey("raw", sampleKey, { name: "Ed25519" }, false, ["verify"]) : Promise.reject();
    return probe.then(function () {
      root.setAttribute("data-verifier", "webcrypto");
      return viaWebCrypto;
    }, function () {
      return import(root.getAttribute("data-fallback")).then(function (ed) {
        root.setAttribute("data-verifier", "noble");
        return function (key, signature, message) {
          return ed.verifyAsync(signature, message, key, { zip215: false });
        };
      });
    }).then(function (chosen) { verifyWith = chosen; return chosen; });
  }

  // A voucher code's fields when its signature verifies with one of the bundle's keys, else null.
  function verifyPayload(text) {
    var raw = base32(tokenOf(text));
    if (!raw || raw.length !== 3 + 16 + 64 || raw[0] >> 5 !== 1 || (raw[0] & 0x1f) !== VOUCHER_TAG) {
      return Promise.resolve(null);
    }
    var kid = (raw[1] << 8) | raw[2];
    var key = bundle.keys.filter(function (k) { return k.kid === kid; })[0];
    if (!key) return Promise.resolve(null);
    var publicKey = bytesOf(key.public_key);
    var message = raw.slice(0, raw.length - 64);
    var signature = raw.slice(raw.length - 64);
    return chooseVerifier(publicKey).then(function (verify) {
      return verify(publicKey, signature, message);
    }).then(function (good) {
      if (!good) return null;
      var view = new DataView(message.buffer, message.byteOffset + 3);
      return { voucher_id: view.getUint32(0), supermarket_id: view.getUint32(4), points: view.getUint32(8),
               expires: view.getUint32(12) };
    }, function () { return null; });
  }

  function lookUp(text) {
    var short = text.replace(/[\s-]/g, "").toUpperCase();
    if (text.indexOf("/") < 0 && short.length <= 12) {
      if (!SHORT_ALPHABET.test(short)) return Promise.resolve({ problem: "invalid" });
      return crypto.subtle.digest("SHA-256", new TextEncoder().encode(short)).then(function (digest) {
        var sha = hex(digest);
        var voucher = bundle.vouchers.filter(function (v) { return v.short_code_sha256 === sha; })[0];
        return voucher ? { voucher: voucher, code: short } : { problem: "unknown" };
      });
    }
    return verifyPayload(text).then(function (fields) {
      if (!fields) return { problem: "invalid" };
      if (fields.supermarket_id !== shopId) return { problem: "other-shop" };
      if (fields.expires * 1000 < Date.now()) return { problem: "expired" };
      var voucher = bundle.vouchers.filter(function (v) { return v.id === fields.voucher_id; })[0];
      if (!voucher) return { problem: "unknown" };
      if (voucher.points !== fields.points) return { problem: "invalid" };
      return { voucher: voucher, code: text.trim() };
    });
  }

  // --- the screen ----------------------------------------------------------------------------

  function refuse(key) {
    refusalBox.querySelector(".refusal-title").textContent = msg(key);
    refusalBox.hidden = false;
    found.hidden = true;
    nextButton.hidden = false;
  }

  function show(voucher, code) {
    current = { voucher: voucher, code: code };
    refusalBox.hidden = true;
    found.querySelector("[data-member]").textContent = voucher.member ? voucher.member.display_name : "";
    found.querySelector("[data-points]").textContent = String(voucher.points);
    var items = found.querySelector("[data-items]");
    items.textContent = "";
    voucher.items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "row";
      li.textContent = item.name + " × " + item.quantity;
      items.appendChild(li);
    });
    found.hidden = false;
    document.getElementById("fulfil").disabled = false;
  }

  function check(text) {
    queuedNote.hidden = true;
    ready.then(function () {
      if (!bundle) return { problem: "no-bundle" };
      return lookUp(text);
    }).then(function (answer) {
      if (answer.problem) { refuse(answer.problem); return null; }
      if (Date.parse(answer.voucher.expires_at) < Date.now()) { refuse("expired"); return null; }
      return Q.scansOfVoucher(shopId, answer.voucher.id).then(function (earlier) {
        if (earlier.length) refuse("used");
        else show(answer.voucher, answer.code);
      });
    }).catch(function () { refuse("invalid"); });
  }

  function handOver() {
    if (!current) return;
    document.getElementById("fulfil").disabled = true;
    var taken = current;
    current = null;
    Q.enqueue(shopId, taken.voucher, taken.code).then(function () {
      found.hidden = true;
      queuedNote.textContent = "✓ " + msg("queued");
      queuedNote.hidden = false;
      nextButton.hidden = false;
      input.value = "";
      render();
      if ("serviceWorker" in navigator && window.SyncManager) {
        navigator.serviceWorker.ready.then(function (registration) {
          return registration.sync.register(Q.SYNC_TAG);
        }).catch(function () { /* the page's own retries still send it */ });
      }
      syncNow();
    });
  }

  function render() {
    return Q.scans().then(function (all) {
      var mine = all.filter(function (scan) { return scan.supermarket_id === shopId; }).reverse();
      var waiting = mine.filter(function (scan) { return scan.state === "queued"; }).length;
      var online = navigator.onLine !== false;
      banner.setAttribute("data-state", online ? "online" : "offline");
      banner.setAttribute("data-waiting", String(waiting));
      banner.textContent = (online ? msg("online") : msg("offline")) + " · " +
        (waiting ? msg("waiting", { n: waiting }) : msg("synced"));
      list.textContent = "";
      mine.slice(0, 50).forEach(function (scan) {
        var li = document.createElement("li");
        li.className = "row scan";
        li.setAttribute("data-state", scan.state);
        li.setAttribute("data-voucher", String(scan.voucher_id));
        var what = document.createElement("span");
        what.textContent = (scan.member ? scan.member + " · " : "") + scan.goods;
        var state = document.createElement("span");
        state.className = "num";
        state.textContent = msg("state-" + scan.state) + (scan.reason ? " (" + scan.reason + ")" : "");
        li.appendChild(what);
        li.appendChild(state);
        list.appendChild(li);
      });
    });
  }

  // --- the bundle and the queue --------------------------------------------------------------

  function showBundle(kept) {
    var status = document.getElementById("bundle-status");
    if (!kept) { status.textContent = msg("no-bundle"); return; }
    bundle = kept.bundle;
    var when = new Date(kept.fetched_at);
    status.textContent = msg("bundle", { t: when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }),
                                         n: bundle.vouchers.length });
    root.setAttribute("data-bundle-at", kept.fetched_at);
  }

  function refreshBundle() {
    if (navigator.onLine === false) return Promise.resolve();
    return fetch(root.getAttribute("data-bundle"), { credentials: "same-origin", cache: "no-store" })
      .then(function (response) {
        if (!response.ok) throw new Error("bundle " + response.status);
        return response.json();
      })
      .then(Q.saveBundle)
      .then(function () { return Q.bundle(shopId); })
      .then(showBundle)
      .catch(function () { /* keep the bundle we have */ });
  }

  function syncNow() {
    window.clearTimeout(retryTimer);
    if (navigator.onLine === false) { render(); return; }
    Q.queued().then(function (waiting) {
      if (!waiting.length) { backoff = 0; return render(); }
      banner.textContent = msg("syncing");
      return Q.sync().then(function () {
        backoff = 0;
        return render().then(refreshBundle);
      }, function (error) {
        if (error && error.permanent) { banner.textContent = msg("signed-out"); return; }
        backoff = Math.min(backoff ? backoff * 2 : 2, MAX_BACKOFF_S);
        var wait = backoff + Math.random();
        return render().then(function () {
          banner.textContent += " · " + msg("retry", { s: Math.round(wait) });
          retryTimer = window.setTimeout(syncNow, wait * 1000);
        });
      });
    });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    if (input.value.trim()) check(input.value);
  });
  scanner.addEventListener("code", function (event) { check(event.detail); });
  document.getElementById("fulfil").addEventListener("click", handOver);
  nextButton.addEventListener("click", function () {
    refusalBox.hidden = true;
    queuedNote.hidden = true;
    nextButton.hidden = true;
    found.hidden = true;
    input.value = "";
    scanner.dispatchEvent(new CustomEvent("restart"));
  });
  window.addEventListener("online", function () { syncNow(); refreshBundle(); });
  window.addEventListener("offline", render);

  // The bundle kept from last time (a code scanned meanwhile waits for it), then the newest one.
  var ready = Q.setCsrf(root.getAttribute("data-csrf"))
    .then(function () { return Q.bundle(shopId); })
    .then(showBundle);
  ready.then(render)
    .then(function () {
      if ("serviceWorker" in navigator) {
        navigator.serviceWorker.register(root.getAttribute("data-worker"), { scope: "/counter/" })
          .catch(function () { /* the page still works while it is open */ });
      }
      var minutes = parseFloat(root.getAttribute("data-refresh-minutes")) || 3;
      window.setInterval(function () { refreshBundle(); syncNow(); }, minutes * 60 * 1000);
      return refreshBundle();
    })
    .then(syncNow);
})();
