// Campaign pages (the CSP forbids inline script).
document.addEventListener("DOMContentLoaded", () => {
  // <select data-autosubmit>: choosing an option submits its form (the preview's
  // "personalised for" chooser); a <noscript> button does the same without JavaScript.
  document.body.addEventListener("change", (event) => {
    const select = event.target.closest("select[data-autosubmit]");
    if (select && select.form) {
      select.form.requestSubmit();
    }
  });
});
