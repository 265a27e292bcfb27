// The printable payment order: «Imprimir» opens the browser's print dialog (no inline scripts: CSP).
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print-order");
  if (button) button.addEventListener("click", () => window.print());
});
