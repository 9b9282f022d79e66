// The book's own script: what the theme leaves to us.

// Figures open at full size: the column shrinks a wide figure, and on a phone a great deal, so
// every image a cell drew becomes a link to itself (keyboard-reachable, with the focus ring
// book.css gives links). Its accessible name stays the image's alt text.
document.addEventListener("DOMContentLoaded", () => {
  for (const img of document.querySelectorAll("div.cell_output img, figure img")) {
    if (img.closest("a") || !img.getAttribute("src")) continue;
    const link = document.createElement("a");
    link.href = img.getAttribute("src");
    link.className = "figure-enlarge";
    link.title = "Open the figure at full size";
    img.replaceWith(link);
    link.appendChild(img);
  }
});

// Equations wider than the column (on a phone) scroll sideways; a scrolling region a keyboard
// cannot reach is unreadable without a mouse, so such an equation, and only such a one, becomes
// a tab stop with a name. It is measured again when the window changes size.
function markWideEquations() {
  for (const eq of document.querySelectorAll('mjx-container[display="true"]')) {
    if (eq.scrollWidth > eq.clientWidth + 1) {
      eq.setAttribute("tabindex", "0");
      eq.setAttribute("role", "group");
      eq.setAttribute("aria-label", "equation, scrolls sideways");
    } else if (eq.getAttribute("role") === "group") {
      eq.removeAttribute("tabindex");
      eq.removeAttribute("role");
      eq.removeAttribute("aria-label");
    }
  }
}
window.addEventListener("load", () => {
  const ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
  (ready || Promise.resolve()).then(markWideEquations);
  window.addEventListener("resize", markWideEquations);
});
