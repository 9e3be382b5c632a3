// Runs before the page paints: apply the saved light/dark choice (else the system's) with no flash.
(function () {
  try {
    const saved = localStorage.getItem("theme");
    if (saved === "light" || saved === "dark") document.documentElement.dataset.theme = saved;
  } catch (err) {
    // Storage may be disabled; the system preference still applies through CSS.
  }
})();
