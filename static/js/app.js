// Small behaviours that would otherwise need inline script (the CSP forbids inline JS).
document.addEventListener("DOMContentLoaded", () => {
  // <button data-confirm="...">: ask before a destructive submit.
  document.body.addEventListener("click", (event) => {
    const button = event.target.closest("[data-confirm]");
    if (button && !window.confirm(button.dataset.confirm)) {
      event.preventDefault();
    }
  });
  // htmx sends the CSRF token from the <meta name="csrf-token"> tag when present.
  document.body.addEventListener("htmx:configRequest", (event) => {
    const meta = document.querySelector("meta[name=csrf-token]");
    if (meta) {
      event.detail.headers["X-CSRFToken"] = meta.content;
    }
  });
});
