// A button that prints the page (print views); no inline script, so the CSP holds.
document.addEventListener("click", (event) => {
  if (event.target.closest("[data-print]")) window.print();
});
