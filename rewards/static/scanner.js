// The counter's scanner: read a resident's voucher QR code with the camera, then send it with
// the page's own short-code form (so the server checks it exactly as a typed code).
// Native BarcodeDetector where the browser has it, else qr-scanner served from this server: its
// decoder runs in a Worker started from our own static file (the CSP allows workers from 'self').
// No inline script anywhere: the CSP forbids it.
(function () {
  "use strict";

  var root = document.getElementById("scanner");
  var form = document.getElementById("scan-form");
  if (!root || !form) return;
  var video = document.getElementById("scanner-video");
  var statusLine = document.getElementById("scanner-status");
  var startButton = document.getElementById("scanner-start");
  var input = form.querySelector("[name=code]");
  var refused = root.getAttribute("data-refused") || "";
  var SCAN_EVERY_MS = 150;
  var MAX_WIDTH = 800; // pixels handed to the decoder: enough for a phone-sized code, quick to decode

  var stream = null;
  var decode = null;
  var finished = false;
  var timer = null;

  function say(key) {
    statusLine.textContent = root.getAttribute("data-msg-" + key) || "";
  }

  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    root.hidden = false;
    video.parentNode.hidden = true;
    say("unsupported");
    return;
  }

  function nativeDecoder() {
    if (!("BarcodeDetector" in window)) return Promise.resolve(null);
    return Promise.resolve(window.BarcodeDetector.getSupportedFormats ?
      window.BarcodeDetector.getSupportedFormats() : ["qr_code"])
      .then(function (formats) {
        if (formats.indexOf("qr_code") < 0) return null;
        var detector = new window.BarcodeDetector({ formats: ["qr_code"] });
        return function () {
          return detector.detect(video).then(function (codes) {
            return codes.length ? codes[0].rawValue : null;
          });
        };
      })
      .catch(function () { return null; });
  }

  function loadScript(src, name) {
    return new Promise(function (resolve, reject) {
      if (window[name || "QrScanner"]) { resolve(); return; }
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function workerDecoder() {
    return loadScript(root.getAttribute("data-decoder")).then(function () {
      var engine = new Worker(root.getAttribute("data-decoder-worker"));
      // Codes shown light on dark (a phone in dark mode) read as well as dark on light.
      engine.postMessage({ id: -1, type: "inversionMode", data: "both" });
      var canvas = document.createElement("canvas");
      return function () {
        var width = video.videoWidth;
        var height = video.videoHeight;
        if (!width || !height) return Promise.resolve(null);
        var scale = Math.min(1, MAX_WIDTH / width);
        // The whole frame, not qr-scanner's default centre square: the code may be anywhere in it.
        var region = { x: 0, y: 0, width: width, height: height,
                       downScaledWidth: Math.round(width * scale), downScaledHeight: Math.round(height * scale) };
        return window.QrScanner.scanImage(video, {
          qrEngine: engine, canvas: canvas, scanRegion: region, returnDetailedScanResult: true
        }).then(function (result) { return result.data || null; }, function () { return null; });
      };
    });
  }

  // The same decoder on this page's own thread (a page that must work offline: a worker's script is
  // fetched past the service worker that keeps the page's files, so offline it would not start).
  function inlineDecoder() {
    return loadScript(root.getAttribute("data-decoder-inline"), "PinganQrDecoder").then(function () {
      var canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var width = video.videoWidth;
        var height = video.videoHeight;
        if (!width || !height) return Promise.resolve(null);
        var scale = Math.min(1, MAX_WIDTH / width);
        canvas.width = Math.round(width * scale);
        canvas.height = Math.round(height * scale);
        context.drawImage(video, 0, 0, canvas.width, canvas.height);
        return Promise.resolve(window.PinganQrDecoder.decode(context.getImageData(0, 0, canvas.width, canvas.height)));
      };
    });
  }

  function chooseDecoder() {
    if (decode) return Promise.resolve(decode);
    return nativeDecoder().then(function (native) {
      if (native) return native;
      return root.hasAttribute("data-decoder-inline") ? inlineDecoder() : workerDecoder();
    }).then(function (chosen) {
      decode = chosen;
      return decode;
    });
  }

  function stop() {
    window.clearTimeout(timer);
    if (stream) {
      stream.getTracks().forEach(function (track) { track.stop(); });
      stream = null;
    }
  }

  function found(text) {
    finished = true;
    stop();
    say("found");
    input.value = text;
    // A page that checks codes itself (the offline counter) takes them as an event; it sends
    // "restart" to scan the next one. Elsewhere the form goes to the server.
    if (root.hasAttribute("data-local")) root.dispatchEvent(new CustomEvent("code", { detail: text }));
    else form.submit();
  }

  root.addEventListener("restart", function () {
    finished = false;
    start();
  });

  function later() {
    timer = window.setTimeout(scanFrame, SCAN_EVERY_MS);
  }

  function scanFrame() {
    if (finished || !stream) return;
    if (video.readyState < 2) { later(); return; }
    decode().then(function (text) {
      text = text ? String(text).trim() : "";
      if (text && text !== refused) found(text);
      else later();
    }, later);
  }

  function start() {
    if (stream || finished) return;
    startButton.hidden = true;
    root.hidden = false;
    say("starting");
    navigator.mediaDevices.getUserMedia({
      audio: false,
      video: { facingMode: { ideal: "environment" }, width: { ideal: 1280 }, height: { ideal: 720 } }
    }).then(function (opened) {
      stream = opened;
      video.srcObject = opened;
      return video.play();
    }).then(chooseDecoder).then(function () {
      say("scanning");
      scanFrame();
    }).catch(function () {
      stop();
      say("denied");
      startButton.hidden = false;
    });
  }

  startButton.addEventListener("click", start);
  // Give the camera back when the page is hidden; take it again when it returns.
  document.addEventListener("visibilitychange", function () {
    if (document.hidden) stop();
    else start();
  });
  start();
})();
