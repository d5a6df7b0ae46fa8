// The CSV import's progress page: asks the status endpoint every second and moves the bar; when the
// import has finished, loads the page again for the summary and the report link.
(function () {
  "use strict";
  var box = document.getElementById("import-progress");
  if (!box || box.dataset.finished === "1") { return; }
  var bar = document.getElementById("import-bar");
  var text = document.getElementById("import-text");
  function poll() {
    fetch(box.dataset.statusUrl, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      })
      .then(function (data) {
        bar.max = data.total || 1;
        bar.value = data.processed;
        bar.textContent = data.percent + "%";
        text.textContent = data.progress_text;
        if (data.finished) { window.location.reload(); } else { window.setTimeout(poll, 1000); }
      })
      .catch(function () { window.setTimeout(poll, 3000); });
  }
  window.setTimeout(poll, 500);
})();
