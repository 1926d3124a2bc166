// The offline counter's service worker (scope /counter/), served by this server.
// It keeps the counter's page, scripts and icons (version {{ version }}), answers from them when
// there is no signal, and sends the queued fulfilments when the browser's background sync fires.
"use strict";
importScripts({{ queue|tojson }});

var CACHE = "pingan-counter-{{ version }}";
var URLS = {{ urls|tojson }};
var PAGE = {{ page|tojson }};
var NETWORK_WAIT_MS = 4000;

self.addEventListener("install", function (event) {
  event.waitUntil(caches.open(CACHE).then(function (cache) {
    return cache.addAll(URLS.map(function (url) { return new Request(url, { credentials: "same-origin" }); }));
  }).then(function () { return self.skipWaiting(); }));
});

self.addEventListener("activate", function (event) {
  event.waitUntil(caches.keys().then(function (names) {
    return Promise.all(names.filter(function (name) {
      return name.indexOf("pingan-counter-") === 0 && name !== CACHE;
    }).map(function (name) { return caches.delete(name); }));
  }).then(function () { return self.clients.claim(); }));
});

function withTimeout(promise, ms) {
  return new Promise(function (resolve, reject) {
    var timer = setTimeout(function () { reject(new Error("timeout")); }, ms);
    promise.then(function (value) { clearTimeout(timer); resolve(value); },
                 function (error) { clearTimeout(timer); reject(error); });
  });
}

// Pages: the network first (it has the newest bundle links and sign-in state), the kept page
// when it does not answer in time; any page of the counter falls back to the offline counter.
function page(request) {
  var url = new URL(request.url);
  return withTimeout(fetch(request), NETWORK_WAIT_MS).then(function (response) {
    if (url.pathname === PAGE && response.ok && !response.redirected) {
      var copy = response.clone();
      caches.open(CACHE).then(function (cache) { cache.put(PAGE, copy); });
    }
    return response;
  }).catch(function () {
    return caches.match(url.pathname === PAGE ? request : PAGE, { ignoreSearch: true }).then(function (kept) {
      return kept || caches.match(PAGE);
    });
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(page(request));
    return;
  }
  if (URLS.indexOf(url.pathname) >= 0) {
    event.respondWith(caches.match(request, { ignoreSearch: true }).then(function (kept) {
      return kept || fetch(request);
    }));
  }
});

self.addEventListener("sync", function (event) {
  if (event.tag === CounterQueue.SYNC_TAG) event.waitUntil(CounterQueue.sync());
});
