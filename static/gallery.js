// Gallery: pick images (click the box, shift-click for a range) and act on them in bulk.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("bulk-form");
    if (!form) return;
    const boxes = Array.from(document.querySelectorAll("#gallery .pick"));
    const count = document.getElementById("bulk-count");
    const action = document.getElementById("bulk-action");
    const tags = document.getElementById("bulk-tags");
    let last = null;

    function refresh() {
      const picked = boxes.filter((b) => b.checked);
      boxes.forEach((b) => b.closest(".card").classList.toggle("picked", b.checked));
      form.hidden = picked.length === 0;
      document.getElementById("gallery").classList.toggle("selecting", picked.length > 0);
      count.textContent = interpolate(gettext("%s selected"), [picked.length]);
      form.elements.ids.value = picked.map((b) => b.value).join(",");
    }

    function syncTags() {
      const needsTags = action.value === "add_tags" || action.value === "remove_tags";
      tags.hidden = !needsTags;
      tags.required = needsTags;
    }

    boxes.forEach((box, i) => {
      box.addEventListener("click", (event) => {
        if (event.shiftKey && last !== null) {
          const [a, b] = [Math.min(last, i), Math.max(last, i)];
          for (let k = a; k <= b; k++) boxes[k].checked = box.checked;
        }
        last = i;
        refresh();
      });
    });
    document.getElementById("bulk-clear").addEventListener("click", () => {
      boxes.forEach((b) => (b.checked = false));
      refresh();
    });
    action.addEventListener("change", syncTags);
    form.addEventListener("submit", (event) => {
      const n = boxes.filter((b) => b.checked).length;
      if (action.value === "delete" && !confirm(interpolate(ngettext("Move %s image to the trash? You can restore it from the trash.", "Move %s images to the trash? You can restore them from the trash.", n), [n]))) {
        event.preventDefault();
      }
    });
    syncTags();
    refresh();
  });
})();

// The date scrubber: ↑/↓ (Home/End) move between its years and months; the month in view is marked.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", () => {
    const scrubber = document.getElementById("scrubber");
    if (!scrubber) return;
    const links = Array.from(scrubber.querySelectorAll("a"));
    scrubber.addEventListener("keydown", (event) => {
      const at = links.indexOf(document.activeElement);
      if (at < 0) return;
      const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: links.length - 1 }[event.key];
      if (to === undefined) return;
      event.preventDefault();
      links[Math.max(0, Math.min(links.length - 1, to))].focus();
    });
    // The month in view: the last section whose top has passed the upper third of the window.
    const byMonth = new Map(links.filter((a) => a.dataset.month).map((a) => [a.dataset.month, a]));
    const sections = Array.from(document.querySelectorAll("#gallery .month"));
    let queued = false;
    function mark() {
      queued = false;
      const line = window.innerHeight / 3;
      const passed = sections.filter((m) => m.getBoundingClientRect().top <= line);
      const current = (passed.length ? passed[passed.length - 1] : sections[0] || {}).id;
      byMonth.forEach((link, month) => {
        if (month === current) link.setAttribute("aria-current", "true");
        else link.removeAttribute("aria-current");
      });
    }
    window.addEventListener("scroll", () => {
      if (!queued) { queued = true; requestAnimationFrame(mark); }
    }, { passive: true });
    mark();
  });
})();
