// The offline counter's store and its sync, shared by the page and its service worker.
// IndexedDB "pingan-counter": bundles (one per supermarket), scans (the queue: one per scan_id,
// kept with its result once sent) and meta (the CSRF token the API posts carry).
// sync() sends the queued scans in batches with the same scan_id on every retry; the server
// settles each scan once. It throws when the server cannot be reached, so callers back off.
var CounterQueue = (function () {
  "use strict";

  var DB_NAME = "pingan-counter";
  var BATCH = 100;
  var SYNC_TAG = "pingan-counter-sync";
  var opened = null;
  var running = null;

  function promised(request) {
    return new Promise(function (resolve, reject) {
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { reject(request.error); };
    });
  }

  function open() {
    if (opened) return opened;
    var request = indexedDB.open(DB_NAME, 1);
    request.onupgradeneeded = function () {
      var db = request.result;
      db.createObjectStore("bundles", { keyPath: "supermarket_id" });
      var scans = db.createObjectStore("scans", { keyPath: "scan_id" });
      scans.createIndex("voucher", ["supermarket_id", "voucher_id"]);
      scans.createIndex("state", "state");
      db.createObjectStore("meta", { keyPath: "key" });
    };
    opened = promised(request);
    return opened;
  }

  function store(name, mode) {
    return open().then(function (db) { return db.transaction(name, mode).objectStore(name); });
  }

  function put(name, value) {
    return store(name, "readwrite").then(function (s) { return promised(s.put(value)); });
  }

  function get(name, key) {
    return store(name, "readonly").then(function (s) { return promised(s.get(key)); });
  }

  function scans() {
    return store("scans", "readonly").then(function (s) { return promised(s.getAll()); }).then(function (all) {
      return all.sort(function (a, b) { return a.scanned_at < b.scanned_at ? -1 : 1; });
    });
  }

  function queued() {
    return store("scans", "readonly").then(function (s) { return promised(s.index("state").getAll("queued")); });
  }

  function scansOfVoucher(supermarketId, voucherId) {
    return store("scans", "readonly").then(function (s) {
      return promised(s.index("voucher").getAll([supermarketId, voucherId]));
    });
  }

  function uuid() {
    if (self.crypto && self.crypto.randomUUID) return self.crypto.randomUUID();
    var bytes = self.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = Array.prototype.map.call(bytes, function (b) { return (b + 0x100).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // Queue one fulfilment made at this counter: its scan_id is drawn once and sent on every retry.
  function enqueue(supermarketId, voucher, code) {
    var scan = { scan_id: uuid(), supermarket_id: supermarketId, voucher_id: voucher.id, code: code,
                 scanned_at: new Date().toISOString(), state: "queued", reason: null, attempts: 0,
                 goods: voucher.items.map(function (item) { return item.name + " ×" + item.quantity; }).join("、"),
                 member: voucher.member ? voucher.member.display_name : "" };
    return put("scans", scan).then(function () { return scan; });
  }

  function send(supermarketId, batch, csrf) {
    var headers = { "Content-Type": "application/json", "Accept": "application/json" };
    if (csrf) headers["X-CSRFToken"] = csrf;
    return fetch("/api/v1/supermarkets/" + supermarketId + "/offline-fulfilments", {
      method: "POST", credentials: "same-origin", headers: headers,
      body: JSON.stringify({ fulfilments: batch.map(function (scan) {
        return { scan_id: scan.scan_id, voucher_id: scan.voucher_id, code: scan.code, scanned_at: scan.scanned_at };
      }) })
    }).then(function (response) {
      if (response.status === 401 || response.status === 403) {
        var stop = new Error("signed_out");
        stop.permanent = true;
        throw stop;
      }
      if (!response.ok) throw new Error("server answered " + response.status);
      return response.json();
    }).then(function (answer) {
      var byId = {};
      answer.results.forEach(function (result) { byId[result.scan_id] = result; });
      return Promise.all(batch.map(function (scan) {
        var result = byId[scan.scan_id];
        if (!result) return null;
        scan.state = result.result;
        scan.reason = result.reason;
        scan.synced_at = new Date().toISOString();
        return put("scans", scan);
      }));
    });
  }

  function syncOnce() {
    return Promise.all([queued(), get("meta", "csrf")]).then(function (found) {
      var waiting = found[0];
      var csrf = found[1] ? found[1].value : null;
      var groups = {};
      waiting.forEach(function (scan) {
        scan.attempts = (scan.attempts || 0) + 1;
        (groups[scan.supermarket_id] = groups[scan.supermarket_id] || []).push(scan);
      });
      var chain = Promise.resolve();
      Object.keys(groups).forEach(function (supermarketId) {
        var group = groups[supermarketId];
        for (var start = 0; start < group.length; start += BATCH) {
          (function (batch) {
            chain = chain.then(function () { return send(supermarketId, batch, csrf); });
          })(group.slice(start, start + BATCH));
        }
      });
      return chain.then(function () { return waiting.length; });
    });
  }

  // Send what waits (one sync at a time per page or worker); answers how many were sent.
  function sync() {
    if (!running) {
      running = syncOnce().then(function (sent) { running = null; return sent; },
                                function (error) { running = null; throw error; });
    }
    return running;
  }

  return {
    SYNC_TAG: SYNC_TAG, open: open, put: put, get: get, scans: scans, queued: queued,
    scansOfVoucher: scansOfVoucher, enqueue: enqueue, sync: sync,
    saveBundle: function (bundle) {
      return put("bundles", { supermarket_id: bundle.supermarket.id, fetched_at: new Date().toISOString(),
                              bundle: bundle });
    },
    bundle: function (supermarketId) { return get("bundles", supermarketId); },
    setCsrf: function (token) { return put("meta", { key: "csrf", value: token }); }
  };
})();
