// Live OCR progress: polls the filing's progress endpoint while any document is pending or
// running, updates the bars in place, and reloads once everything has finished (to show links).
(function () {
  "use strict";
  const box = document.getElementById("ocr-documents");
  if (!box) { return; }
  const url = box.dataset.progressUrl;
  // Widths are set from script: the Content-Security-Policy forbids inline style attributes.
  box.querySelectorAll(".progress-bar[data-percent]").forEach((bar) => {
    bar.style.width = Math.max(Number(bar.dataset.percent), 5) + "%";
  });
  const unfinished = () => box.querySelectorAll('[data-ocr-status="pending"], [data-ocr-status="running"]').length;
  if (!unfinished()) { return; }

  function render(doc) {
    const row = box.querySelector('[data-document-id="' + doc.id + '"]');
    if (!row) { return; }
    row.dataset.ocrStatus = doc.status;
    const bar = row.querySelector(".progress-bar");
    const wrap = row.querySelector(".progress");
    bar.style.width = Math.max(doc.percent, 5) + "%";
    wrap.setAttribute("aria-valuenow", String(doc.percent));
    bar.classList.toggle("bg-success", doc.status === "done");
    bar.classList.toggle("bg-danger", doc.status === "failed");
    const active = doc.status === "pending" || doc.status === "running";
    bar.classList.toggle("progress-bar-striped", active);
    bar.classList.toggle("progress-bar-animated", active);
    let text = doc.label;
    if (doc.status === "running") { text += " · página " + doc.pages_done + " de " + doc.pages_total; }
    row.querySelector(".ocr-label").textContent = text;
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((data) => {
        data.documents.forEach(render);
        if (unfinished()) { window.setTimeout(poll, 2000); } else { window.location.reload(); }
      })
      .catch(() => window.setTimeout(poll, 5000));
  }
  window.setTimeout(poll, 1500);
}());
