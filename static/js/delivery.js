// Sending pages: copy buttons for the DNS records (no inline script: the CSP forbids it).
// The buttons are in the HTML with ``hidden``; without JavaScript (or without a
// clipboard) they stay hidden and the <code> blocks are still selectable by hand.
document.addEventListener("DOMContentLoaded", () => {
  if (!navigator.clipboard) {
    return;
  }
  document.querySelectorAll("button[data-copy]").forEach((button) => {
    button.hidden = false;
    const label = button.textContent;
    button.addEventListener("click", () => {
      const source = document.getElementById(button.dataset.copy);
      if (!source) {
        return;
      }
      navigator.clipboard.writeText(source.textContent.trim()).then(() => {
        button.textContent = button.dataset.copied || label;
        window.setTimeout(() => {
          button.textContent = label;
        }, 1500);
      });
    });
  });
});
