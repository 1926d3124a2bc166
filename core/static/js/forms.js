// Page forms on real phones. Loaded by every page (no inline script: the CSP forbids it).
// - A form that posts is sent once: its buttons are disabled while the request runs (the
//   server's one-time form token answers any repeat with the first result anyway).
// - Photos are shrunk before upload (input[type=file][data-shrink]): long side at most
//   data-shrink pixels, JPEG at 0.8, turned upright by their EXIF orientation; a file still
//   larger than data-max-bytes is stopped here with the field's message.
// - Small helpers: a "select all" box for a list of checkboxes, links that close a <details>, and
//   "go back" on an error page (the browser's back keeps what was typed).
(function () {
  "use strict";

  var pending = []; // shrinking photos: {input, promise}

  function buttonsOf(form) {
    return form.querySelectorAll("button:not([type=button]), input[type=submit]");
  }

  function setBusy(form, busy) {
    if (busy) form.setAttribute("data-sending", "1");
    else form.removeAttribute("data-sending");
    Array.prototype.forEach.call(buttonsOf(form), function (button) {
      button.disabled = busy;
      if (busy) button.setAttribute("aria-busy", "true");
      else button.removeAttribute("aria-busy");
    });
  }

  function pendingIn(form) {
    return pending.filter(function (entry) { return entry.input.form === form; });
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if ((form.getAttribute("method") || "get").toLowerCase() !== "post") return;
    if (form.getAttribute("data-sending")) { event.preventDefault(); return; }
    var waiting = pendingIn(form);
    var blocked = form.querySelector("[data-too-large]");
    if (blocked) {
      event.preventDefault();
      blocked.focus();
      return;
    }
    if (waiting.length) {
      event.preventDefault();
      var submitter = event.submitter || null;
      setBusy(form, true);
      Promise.all(waiting.map(function (entry) { return entry.promise; })).then(function () {
        setBusy(form, false);
        if (form.requestSubmit) form.requestSubmit(submitter && submitter.form === form ? submitter : undefined);
        else form.submit();
      });
      return;
    }
    form.setAttribute("data-sending", "1");
    // After this turn, so the pressed button's own name and value still travel with the form.
    window.setTimeout(function () { setBusy(form, true); }, 0);
  }, true);

  // Back to a page kept by the browser: its forms may be sent again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) return;
    Array.prototype.forEach.call(document.querySelectorAll("form[data-sending]"), function (form) {
      setBusy(form, false);
    });
  });

  // --- photos -------------------------------------------------------------------------------

  function say(input, key) {
    var note = document.getElementById(input.id + "-note");
    if (note) note.textContent = key ? (input.getAttribute("data-msg-" + key) || "") : "";
  }

  function decode(file) {
    if (window.createImageBitmap) {
      return window.createImageBitmap(file, { imageOrientation: "from-image" }).catch(function () {
        return decodeWithImage(file);
      });
    }
    return decodeWithImage(file);
  }

  function decodeWithImage(file) {
    return new Promise(function (resolve, reject) {
      var image = new Image();
      var url = URL.createObjectURL(file);
      image.onload = function () { URL.revokeObjectURL(url); resolve(image); };
      image.onerror = function () { URL.revokeObjectURL(url); reject(new Error("unreadable")); };
      image.src = url; // browsers draw an <img> upright by its EXIF orientation
    });
  }

  function shrink(file, longSide) {
    return decode(file).then(function (picture) {
      var width = picture.width, height = picture.height;
      var scale = Math.min(1, longSide / Math.max(width, height));
      if (scale === 1 && file.size <= 1024 * 1024) return file; // already small
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(width * scale);
      canvas.height = Math.round(height * scale);
      var context = canvas.getContext("2d");
      context.fillStyle = "#fff"; // JPEG has no transparency
      context.fillRect(0, 0, canvas.width, canvas.height);
      context.drawImage(picture, 0, 0, canvas.width, canvas.height);
      if (picture.close) picture.close();
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob) { resolve(file); return; }
          var name = (file.name || "photo").replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg", lastModified: Date.now() }));
        }, "image/jpeg", 0.8);
      });
    });
  }

  function checkSize(input, file) {
    var limit = parseInt(input.getAttribute("data-max-bytes") || "0", 10);
    if (limit && file && file.size > limit) {
      input.setAttribute("data-too-large", "1");
      input.setAttribute("aria-invalid", "true");
      say(input, "too-large");
      return false;
    }
    input.removeAttribute("data-too-large");
    input.removeAttribute("aria-invalid");
    return true;
  }

  function onPhotoChosen(event) {
    var input = event.target;
    var file = input.files && input.files[0];
    pending = pending.filter(function (entry) { return entry.input !== input; });
    input.removeAttribute("data-too-large");
    if (!file) { say(input, null); return; }
    say(input, "shrinking");
    var entry = { input: input };
    entry.promise = shrink(file, parseInt(input.getAttribute("data-shrink"), 10) || 1600)
      .then(function (smaller) {
        if (smaller !== file && window.DataTransfer) {
          var transfer = new DataTransfer();
          transfer.items.add(smaller);
          input.files = transfer.files;
        } else {
          smaller = file;
        }
        if (checkSize(input, smaller)) say(input, "ready");
      }, function () {
        if (checkSize(input, file)) say(input, null); // not decodable here: the server decides
      })
      .then(function () {
        pending = pending.filter(function (other) { return other !== entry; });
      });
    pending.push(entry);
  }

  Array.prototype.forEach.call(document.querySelectorAll("input[type=file][data-shrink]"), function (input) {
    input.addEventListener("change", onPhotoChosen);
  });

  // --- small helpers ------------------------------------------------------------------------

  Array.prototype.forEach.call(document.querySelectorAll("input[data-select-all]"), function (box) {
    var name = box.getAttribute("data-select-all");
    var scope = box.form || document;
    var holder = box.closest(".select-all"); // shown only where this script runs
    if (holder) holder.hidden = false;
    box.addEventListener("change", function () {
      Array.prototype.forEach.call(scope.querySelectorAll("input[type=checkbox][name='" + name + "']"),
        function (each) { each.checked = box.checked; });
    });
  });

  // "Go back" on an error page: the browser's own back keeps what was typed in the form.
  Array.prototype.forEach.call(document.querySelectorAll("a[data-back]"), function (link) {
    link.addEventListener("click", function (event) {
      if (window.history.length < 2) return;
      event.preventDefault();
      window.history.back();
    });
  });

  Array.prototype.forEach.call(document.querySelectorAll("[data-close-details]"), function (link) {
    link.addEventListener("click", function (event) {
      var details = link.closest("details");
      if (!details) return;
      event.preventDefault();
      details.open = false;
    });
  });
})();
