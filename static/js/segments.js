// The segment builder (templates/segments/form.html). Everything else on that page is
// htmx attributes; this file only keeps Enter inside a rule's value from saving the
// whole segment half-edited: it refreshes the live count instead.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("segment-form");
  if (!form) {
    return;
  }
  form.addEventListener("keydown", (event) => {
    const input = event.target.closest("#segment-rules input");
    if (event.key !== "Enter" || !input) {
      return;
    }
    event.preventDefault();
    if (window.htmx) {
      window.htmx.trigger(input, "input");
    }
  });
});
