// The import page while the worker imports: polls the job's status, moves the progress bar, and reloads
// the page (which then shows the outcome) once the import has finished. Without JavaScript the page
// refreshes itself instead (a <noscript> refresh in the page's head).
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box) { return; }
  var url = box.getAttribute("data-status-url");
  var bar = box.querySelector("progress");
  var text = box.querySelector("[data-progress-text]");
  var label = document.getElementById("job-status");
  var delay = 700;

  function show(state) {
    if (state.finished) {
      window.location.reload();
      return false;
    }
    text.textContent = state.text;
    if (label) {
      label.textContent = state.label;
      label.className = "status-label " + state.status;
    }
    if (state.fraction === null || state.fraction === undefined) {
      bar.removeAttribute("value");  // indeterminate: the importer has not said how far it is yet
    } else {
      bar.value = state.fraction;
    }
    return true;
  }

  function poll() {
    fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (response) { return response.ok ? response.json() : null; })
      .then(function (state) {
        if (state === null || show(state)) {
          delay = Math.min(delay * 1.3, 5000);
          window.setTimeout(poll, delay);
        }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }

  window.setTimeout(poll, delay);
})();
