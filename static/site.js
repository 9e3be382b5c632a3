// Site-wide behaviour: the light/dark switch, the header's indexing indicator, and remembering
// which list an image was opened from (the image page's arrow keys walk that list).
(function () {
  "use strict";

  // --- Light / dark switch: follows the system until the visitor picks one. ---
  function currentTheme() {
    const forced = document.documentElement.dataset.theme;
    if (forced) return forced;
    return window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  function setupThemeToggle() {
    const button = document.getElementById("theme-toggle");
    if (!button) return;
    const sync = () => button.setAttribute("aria-pressed", String(currentTheme() === "dark"));
    sync();
    button.addEventListener("click", () => {
      const next = currentTheme() === "dark" ? "light" : "dark";
      document.documentElement.dataset.theme = next;
      try {
        localStorage.setItem("theme", next);
      } catch (err) {
        // Not remembered, but applied for this page.
      }
      sync();
    });
    window.matchMedia("(prefers-color-scheme: dark)").addEventListener("change", sync);
  }

  // --- Header indicator: waiting / failed counts from the status JSON. ---
  // It polls on its own (5 s idle, 2 s while images wait) and, so it never trails the page, at
  // once when the page learns of a change: an image shown as pending appears (an upload) or
  // stops being pending (app.js's poll). The status page fills its numbers from these polls.
  const QUEUE_POLL_MS = 5000;

  function setupQueueIndicator() {
    const link = document.getElementById("queue-indicator");
    if (!link || !link.dataset.url) return;
    const text = link.querySelector(".queue-text");
    let timer = null;
    let inFlight = false;
    let again = false; // a change came while a poll was on its way: poll once more after it
    function next(ms) {
      clearTimeout(timer);
      if (again) {
        again = false;
        poll();
      } else {
        timer = setTimeout(poll, ms);
      }
    }
    async function poll() {
      if (inFlight) {
        again = true;
        return;
      }
      inFlight = true;
      clearTimeout(timer);
      try {
        const response = await fetch(link.dataset.url, { credentials: "same-origin" });
        if (response.ok) {
          const s = await response.json();
          let state = "ok";
          let words = gettext("All indexed");
          if (s.pending > 0) {
            state = "busy";
            // "indexing" while a worker serves the queue (between two batches too, so it does not
            // flicker) or is at it; a queue no worker serves says "waiting".
            words = interpolate(s.indexing > 0 || s.ingest_state === "ok" ? gettext("%s indexing") : gettext("%s waiting"), [s.pending]);
          } else if (s.failed > 0) {
            state = "failed";
            words = interpolate(gettext("%s failed"), [s.failed]);
          }
          link.dataset.state = state;
          text.textContent = words;
          link.setAttribute("aria-label", interpolate(gettext("Indexing status: %s"), [words]));
          document.dispatchEvent(new CustomEvent("queue-status", { detail: s }));
          inFlight = false;
          next(s.pending > 0 ? 2000 : QUEUE_POLL_MS);
          return;
        }
      } catch (err) {
        // The server may be restarting; try again later.
      }
      inFlight = false;
      next(QUEUE_POLL_MS * 2);
    }
    poll();
    const pending = (node) =>
      node.nodeType === 1 && (node.dataset.status === "pending" || node.querySelector('[data-status="pending"]'));
    new MutationObserver((records) => {
      const changed = records.some((r) =>
        r.type === "attributes"
          ? r.oldValue === "pending" || r.target.dataset.status === "pending"
          : Array.from(r.addedNodes).some(pending)
      );
      if (changed) poll();
    }).observe(document.body, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-status"],
      attributeOldValue: true,
    });
  }

  // --- The list an image page was opened from. ---
  const LIST_KEY = "image-list";

  function rememberList(event) {
    const link = event.target.closest && event.target.closest('a[href^="/images/"]');
    if (!link || !/^\/images\/\d+\/$/.test(link.getAttribute("href"))) return;
    const scope = link.closest("[data-list]") || link.closest(".grid");
    if (!scope) return;
    const ids = [];
    scope.querySelectorAll("[data-image-id]").forEach((el) => {
      const id = el.dataset.imageId;
      if (id && !ids.includes(id)) ids.push(id);
    });
    const pager = document.querySelector("[data-next-page]");
    const list = {
      ids: ids,
      url: location.pathname + location.search,
      title: document.title,
      next: pager ? pager.dataset.nextPage : "",
    };
    try {
      sessionStorage.setItem(LIST_KEY, JSON.stringify(list));
    } catch (err) {
      // No keyboard neighbours then; the page still works.
    }
  }

  document.addEventListener("click", rememberList, true);
  document.addEventListener("keydown", (e) => { if (e.key === "Enter") rememberList(e); }, true);
  // --- Search page: an example image can be dropped on its form, and is previewed. ---
  function setupExampleDrop() {
    const form = document.getElementById("image-search");
    const input = form && form.querySelector('input[type="file"]');
    if (!input) return;
    const preview = document.createElement("img");
    preview.className = "example-preview";
    preview.alt = gettext("The example image");
    preview.hidden = true;
    input.insertAdjacentElement("afterend", preview);
    const show = () => {
      const file = input.files[0];
      const tool = form.closest("details");
      if (tool && file) tool.open = true; // a dropped example shows its form, and its button
      preview.hidden = !(file && file.type.startsWith("image/"));
      if (!preview.hidden) preview.src = URL.createObjectURL(file);
    };
    input.addEventListener("change", show);
    // The folded "Search with an example image" takes a dropped picture too.
    const zone = form.closest("details") || form;
    zone.addEventListener("dragover", (e) => { e.preventDefault(); form.classList.add("over"); });
    zone.addEventListener("dragleave", () => form.classList.remove("over"));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      form.classList.remove("over");
      if (e.dataTransfer && e.dataTransfer.files.length) {
        input.files = e.dataTransfer.files;
        show();
      }
    });
    // The filters and sort of the search box (the header's form, which the filter panel's fields
    // belong to) apply to an image search too: the server reads them from the address, so they go
    // on the form's action (a search by example has no words-only mode).
    form.addEventListener("submit", () => {
      const words = document.getElementById("site-search");
      if (!words) return;
      const params = new URLSearchParams();
      for (const [name, value] of new FormData(words)) {
        if (name !== "q" && value !== "" && !(name === "mode" && value === "text")) params.append(name, value);
      }
      const query = params.toString();
      form.action = form.action.split("?")[0] + (query ? "?" + query : "");
    });
  }

  document.addEventListener("DOMContentLoaded", () => {
    setupThemeToggle();
    setupQueueIndicator();
    setupExampleDrop();
  });
})();

// Copy buttons (the account page's new API token).
document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest("[data-copy]");
  if (!button) return;
  const source = document.querySelector(button.dataset.copy);
  if (source && navigator.clipboard) {
    navigator.clipboard.writeText(source.textContent.trim()).then(
      () => { button.textContent = gettext("Copied"); },
      () => { button.textContent = gettext("Select and copy it by hand"); },
    );
  }
});

// Forms that ask first (no inline handlers anywhere, so a strict Content-Security-Policy can be set).
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset && form.dataset.confirm && !confirm(form.dataset.confirm)) event.preventDefault();
});
