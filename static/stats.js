/* Draws every <canvas data-chart="{type, labels, datasets, horizontal, stacked}"> with Chart.js. */
(function () {
  "use strict";
  var PALETTE = ["#691c32", "#235b4e", "#bc955c", "#10312b", "#9f2241", "#6f7271", "#ddc9a3", "#1f77b4",
                 "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#17becf"];

  function draw(canvas) {
    var spec = JSON.parse(canvas.dataset.chart);
    var round = spec.type === "doughnut";
    var datasets = spec.datasets.map(function (ds, i) {
      var color = PALETTE[i % PALETTE.length];
      return {
        label: ds.label,
        data: ds.data,
        backgroundColor: round ? spec.labels.map(function (_, j) { return PALETTE[j % PALETTE.length]; }) : color,
        borderColor: round ? "#fff" : color,
        borderWidth: round ? 1 : 2,
        pointRadius: spec.labels.length > 60 ? 0 : 2,
        tension: 0.2
      };
    });
    var options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { display: round || datasets.length > 1, position: round ? "right" : "top" } }
    };
    if (!round) {
      options.indexAxis = spec.horizontal ? "y" : "x";
      options.scales = { x: { stacked: spec.stacked }, y: { stacked: spec.stacked, beginAtZero: true } };
    }
    return new window.Chart(canvas, { type: spec.type, data: { labels: spec.labels, datasets: datasets },
                                      options: options });
  }

  function init() {
    if (!window.Chart) { return; }
    document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      draw(canvas);
      canvas.dataset.drawn = "1";
    });
    document.body.dataset.chartsReady = "1";
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
}());
