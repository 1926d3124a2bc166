// The counter's scanner: read a resident's voucher QR code with the camera, then send it with
// the page's own short-code form (so the server checks it exactly as a typed code).
// Native BarcodeDetector where the browser has it, else jsQR served from this server.
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
  var MAX_WIDTH = 800; // pixels handed to jsQR: enough for a phone-sized code, quick to decode

  var stream = null;
  var decode = null;
  var canvas = null;
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

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      if (window.jsQR) { resolve(); return; }
      var script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = reject;
      document.head.appendChild(script);
    });
  }

  function jsqrDecoder() {
    return loadScript(root.getAttribute("data-decoder")).then(function () {
      canvas = document.createElement("canvas");
      var context = canvas.getContext("2d", { willReadFrequently: true });
      return function () {
        var scale = Math.min(1, MAX_WIDTH / video.videoWidth);
        var width = Math.round(video.videoWidth * scale);
        var height = Math.round(video.videoHeight * scale);
        if (!width || !height) return Promise.resolve(null);
        canvas.width = width;
        canvas.height = height;
        context.drawImage(video, 0, 0, width, height);
        var image = context.getImageData(0, 0, width, height);
        var found = window.jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" });
        return Promise.resolve(found && found.data ? found.data : null);
      };
    });
  }

  function chooseDecoder() {
    if (decode) return Promise.resolve(decode);
    return nativeDecoder().then(function (native) {
      return native || jsqrDecoder();
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
    form.submit();
  }

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
