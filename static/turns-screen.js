// The turn screen: every 3 seconds, fetch the latest calls and redraw the table (no inline scripts: CSP).
(() => {
  const table = document.getElementById("turn-screen");
  if (!table) return;
  const body = table.querySelector("tbody");
  const cell = (text, cls) => {
    const td = document.createElement("td");
    td.textContent = text;
    if (cls) td.className = cls;
    return td;
  };
  const draw = (calls) => {
    body.replaceChildren();
    if (!calls.length) {
      const tr = document.createElement("tr");
      const td = cell("Sin llamados por ahora.", "text-muted");
      td.colSpan = 3;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const c of calls) {
      const tr = document.createElement("tr");
      if (c.current) tr.className = "table-warning";
      tr.append(cell(c.code, "folio fs-3"), cell(c.window, "fs-4"), cell(c.department));
      body.append(tr);
    }
  };
  const refresh = () => {
    fetch(table.dataset.source, {headers: {Accept: "application/json"}, cache: "no-store"})
      .then((r) => (r.ok ? r.json() : null))
      .then((data) => { if (data) draw(data.calls); })
      .catch(() => {});
  };
  setInterval(refresh, 3000);
})();
