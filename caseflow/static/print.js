// The print button on printable documents (kept out of the HTML so a strict Content-Security-Policy can apply).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
