// Actions panel of a filing: "Agregar otra área" adds one more department row to the routing
// form (each with its own instruction and term). Without JavaScript the form keeps one row.
(function () {
  "use strict";
  const rows = document.getElementById("route-rows");
  const button = document.getElementById("add-route-row");
  if (!rows || !button) { return; }
  const MAX_ROWS = 10;
  button.hidden = false;

  button.addEventListener("click", () => {
    const all = rows.querySelectorAll(".route-row");
    if (all.length >= MAX_ROWS) { return; }
    const index = all.length;
    const row = all[all.length - 1].cloneNode(true);
    row.querySelectorAll("[id]").forEach((el) => {
      const label = row.querySelector('label[for="' + el.id + '"]');
      el.id = el.id.replace(/-\d+$/, "-" + index);
      if (label) { label.htmlFor = el.id; }
    });
    row.querySelectorAll("input").forEach((el) => { el.value = ""; });
    row.querySelectorAll("select").forEach((el) => { el.selectedIndex = 0; });
    const legend = row.querySelector("legend");
    if (legend) { legend.textContent = "Área " + (index + 1); }
    rows.appendChild(row);
    row.querySelector("select").focus();
    button.hidden = index + 1 >= MAX_ROWS;
  });
}());
