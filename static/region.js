// Image page: search by a region of the picture. "Search a region" puts a box over the picture:
// drag anywhere to draw one (mouse, pen or finger: pointer events), drag the box to move it; with
// the box focused, arrow keys move it, Shift+arrow keys resize it, Enter searches and Esc stops.
// The search is the form's GET /search/?similar=<id>&region=x,y,w,h (fractions of the picture):
// the server crops the stored original, so the results address carries the region.
(function () {
  "use strict";
  const MIN = 0.02; // search/regions.py MIN_FRACTION: the server refuses smaller boxes
  const STEP = 0.02;

  function clamp(v, lo, hi) { return Math.min(hi, Math.max(lo, v)); }

  document.addEventListener("DOMContentLoaded", () => {
    const toggle = document.getElementById("region-toggle");
    const form = document.getElementById("region-form");
    const stage = document.querySelector("#viewer .stage");
    if (!toggle || !form || !stage) return;
    const status = document.getElementById("region-status");
    let box = { x: 0.25, y: 0.25, w: 0.5, h: 0.5 };

    const layer = document.createElement("div");
    layer.className = "region-layer";
    layer.hidden = true;
    const frame = document.createElement("div");
    frame.className = "region-box";
    frame.id = "region-box";
    frame.tabIndex = 0;
    frame.setAttribute("role", "application");
    frame.setAttribute("aria-roledescription", gettext("region selector"));
    frame.setAttribute("aria-label", gettext("Region to search"));
    frame.setAttribute("aria-describedby", "region-help region-status");
    layer.appendChild(frame);
    stage.appendChild(layer);

    function picture() { return document.getElementById("viewer-image"); }

    function fit(b) {
      const w = clamp(b.w, MIN, 1), h = clamp(b.h, MIN, 1);
      return { x: clamp(b.x, 0, 1 - w), y: clamp(b.y, 0, 1 - h), w, h };
    }

    function draw() {
      box = fit(box);
      frame.style.left = box.x * 100 + "%";
      frame.style.top = box.y * 100 + "%";
      frame.style.width = box.w * 100 + "%";
      frame.style.height = box.h * 100 + "%";
      form.elements.region.value = [box.x, box.y, box.w, box.h].map((v) => v.toFixed(4)).join(",");
      const pct = (v) => Math.round(v * 100) + "%";
      status.textContent = interpolate(
        gettext("Box %(w)s wide and %(h)s high, %(x)s from the left, %(y)s from the top."),
        { w: pct(box.w), h: pct(box.h), x: pct(box.x), y: pct(box.y) }, true);
    }

    // The layer lies exactly over the picture as drawn (it is centred and scaled in the stage).
    function place() {
      const img = picture();
      if (!img || layer.hidden) return;
      layer.style.left = img.offsetLeft + "px";
      layer.style.top = img.offsetTop + "px";
      layer.style.width = img.offsetWidth + "px";
      layer.style.height = img.offsetHeight + "px";
    }

    function open() {
      if (!picture()) return;
      layer.hidden = false;
      form.hidden = false;
      toggle.setAttribute("aria-pressed", "true");
      place();
      draw();
      frame.focus();
    }

    function close() {
      layer.hidden = true;
      form.hidden = true;
      toggle.setAttribute("aria-pressed", "false");
      toggle.focus();
    }

    toggle.addEventListener("click", () => (layer.hidden ? open() : close()));
    document.getElementById("region-cancel").addEventListener("click", close);
    window.addEventListener("resize", place);
    if (window.ResizeObserver) new ResizeObserver(place).observe(stage);
    form.addEventListener("submit", draw);

    // --- Pointers: drag on the picture draws a box, drag on the box moves it. ---
    let drag = null;
    function at(e) {
      const r = layer.getBoundingClientRect();
      return { x: clamp((e.clientX - r.left) / r.width, 0, 1), y: clamp((e.clientY - r.top) / r.height, 0, 1) };
    }
    layer.addEventListener("pointerdown", (e) => {
      if (e.button !== 0) return;
      e.preventDefault();
      const p = at(e);
      drag = e.target === frame ? { move: true, p, start: { ...box } } : { move: false, p };
      layer.setPointerCapture(e.pointerId);
    });
    layer.addEventListener("pointermove", (e) => {
      if (!drag) return;
      const p = at(e);
      if (drag.move) {
        box = { ...drag.start, x: drag.start.x + p.x - drag.p.x, y: drag.start.y + p.y - drag.p.y };
      } else {
        box = {
          x: Math.min(p.x, drag.p.x), y: Math.min(p.y, drag.p.y),
          w: Math.abs(p.x - drag.p.x), h: Math.abs(p.y - drag.p.y),
        };
      }
      draw();
    });
    function release(e) {
      if (!drag) return;
      const p = at(e);
      // A tap (no drag) on the picture moves the box there instead of making a sliver.
      if (!drag.move && Math.abs(p.x - drag.p.x) < MIN && Math.abs(p.y - drag.p.y) < MIN) {
        box = { ...box, x: p.x - box.w / 2, y: p.y - box.h / 2 };
      }
      drag = null;
      draw();
      frame.focus();
    }
    layer.addEventListener("pointerup", release);
    layer.addEventListener("pointercancel", release);

    // --- Keys on the focused box (before the page's own ←/→/Esc, which it stops). ---
    frame.addEventListener("keydown", (e) => {
      const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (moves[e.key]) {
        const [dx, dy] = moves[e.key];
        if (e.shiftKey) box = { ...box, w: box.w + dx * STEP, h: box.h + dy * STEP };
        else box = { ...box, x: box.x + dx * STEP, y: box.y + dy * STEP };
        draw();
      } else if (e.key === "Enter") {
        draw();
        form.requestSubmit();
      } else if (e.key === "Escape") {
        close();
      } else {
        return;
      }
      e.preventDefault();
      e.stopPropagation();
    });
  });
})();
