// Status page: the numbers follow the header indicator's polls (site.js sends "queue-status").
(function () {
  "use strict";
  document.addEventListener("queue-status", (event) => {
    const s = event.detail;
    document.querySelectorAll("[data-field]").forEach((node) => {
      const value = s[node.dataset.field];
      if (value !== undefined && node.textContent !== String(value)) node.textContent = value;
    });
  });
})();
