// Image page: ←/→ walk the list the image was opened from (the address changes to the neighbour's
// page), Esc returns to that list; a full-screen view with zoom; similar images and duplicates
// appear once indexing finishes; the edit form saves what is valid and explains the rest in place.
(function () {
  "use strict";
  const LIST_KEY = "image-list";
  const FULL_KEY = "viewer-full";

  function readList() {
    try {
      return JSON.parse(sessionStorage.getItem(LIST_KEY) || "null");
    } catch (err) {
      return null;
    }
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  document.addEventListener("DOMContentLoaded", () => {
    const viewer = document.getElementById("viewer");
    if (!viewer) return;
    const id = viewer.dataset.imageId;
    const list = readList();
    const ids = list && Array.isArray(list.ids) ? list.ids.map(String) : [];
    const at = ids.indexOf(id);
    const prevId = at > 0 ? ids[at - 1] : null;
    const nextId = at >= 0 && at < ids.length - 1 ? ids[at + 1] : null;
    const back = document.getElementById("viewer-back");
    const backUrl = at >= 0 && list.url ? list.url : viewer.dataset.gallery;
    back.href = backUrl;
    const prevLink = document.getElementById("viewer-prev");
    const nextLink = document.getElementById("viewer-next");
    if (prevId) { prevLink.href = "/images/" + prevId + "/"; prevLink.hidden = false; }
    if (nextId) { nextLink.href = "/images/" + nextId + "/"; nextLink.hidden = false; }
    // At the end of a page of the list, the next page of that list carries on.
    const morePage = !nextId && at >= 0 && list.next ? list.next : "";
    if (morePage) {
      nextLink.hidden = false;
      nextLink.addEventListener("click", (e) => { e.preventDefault(); goFurther(); });
    }

    async function goFurther() {
      try {
        const target = new URL(morePage, location.origin + list.url);
        const response = await fetch(target, { credentials: "same-origin" });
        if (!response.ok) return;
        const page = new DOMParser().parseFromString(await response.text(), "text/html");
        const scope = page.querySelector("[data-list]") || page.querySelector(".grid");
        const more = scope ? [...new Set([...scope.querySelectorAll("[data-image-id]")].map((el) => el.dataset.imageId))] : [];
        if (!more.length) return;
        const pager = page.querySelector("[data-next-page]");
        const grown = Object.assign({}, list, { ids: ids.concat(more), next: pager ? pager.dataset.nextPage : "" });
        sessionStorage.setItem(LIST_KEY, JSON.stringify(grown));
        go(more[0]);
      } catch (err) {
        // Stay on this image; the list's own pager still works.
      }
    }

    // --- Full screen with zoom and pan. ---
    const box = document.getElementById("lightbox");
    const big = box.querySelector("img");
    const zoomLabel = box.querySelector(".lb-zoom");
    let scale = 1, x = 0, y = 0, opener = null;

    // Full screen shows the preview; zooming in loads the original (where the browser can show it
    // and it is bigger) and swaps it in once it has arrived.
    let fullSrc = viewer.dataset.full, sharpening = false;
    function sharpen() {
      const original = viewer.dataset.original;
      if (sharpening || !original) return;
      sharpening = true;
      const loader = new Image();
      loader.onload = () => {
        fullSrc = original;
        if (!box.hidden) big.src = original;
      };
      loader.src = original;
    }
    function apply() {
      if (scale > 1) sharpen();
      big.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
      big.style.cursor = scale > 1 ? "grab" : "zoom-in";
      zoomLabel.textContent = Math.round(scale * 100) + "%";
    }
    function zoom(factor) {
      scale = Math.min(8, Math.max(1, scale * factor));
      if (scale === 1) { x = 0; y = 0; }
      apply();
    }
    function open() {
      if (!box.hidden) return;
      opener = document.activeElement;
      big.src = fullSrc;
      box.hidden = false;
      scale = 1; x = 0; y = 0; apply();
      box.querySelector("[data-close]").focus();
      try { sessionStorage.setItem(FULL_KEY, "1"); } catch (err) { /* not remembered */ }
      if (box.requestFullscreen && !document.fullscreenElement) box.requestFullscreen().catch(() => {});
    }
    function close() {
      if (box.hidden) return;
      box.hidden = true;
      try { sessionStorage.removeItem(FULL_KEY); } catch (err) { /* nothing to forget */ }
      if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
      if (opener && opener.focus) opener.focus();
    }
    document.getElementById("viewer-full").addEventListener("click", open);
    const stageImage = document.getElementById("viewer-image");
    if (stageImage) stageImage.addEventListener("click", open);
    box.querySelector("[data-close]").addEventListener("click", close);
    box.querySelectorAll("[data-zoom]").forEach((b) => b.addEventListener("click", () => {
      const how = b.dataset.zoom;
      if (how === "reset") { scale = 1; x = 0; y = 0; apply(); } else zoom(how === "in" ? 1.5 : 1 / 1.5);
    }));
    box.querySelector(".lb-prev").hidden = !prevId;
    box.querySelector(".lb-next").hidden = !nextId && !morePage;
    box.querySelector(".lb-prev").addEventListener("click", () => go(prevId));
    box.querySelector(".lb-next").addEventListener("click", () => (nextId ? go(nextId) : goFurther()));
    box.addEventListener("wheel", (e) => { e.preventDefault(); zoom(e.deltaY < 0 ? 1.2 : 1 / 1.2); }, { passive: false });
    big.addEventListener("dblclick", () => { if (scale > 1) { scale = 1; x = 0; y = 0; apply(); } else zoom(2.5); });
    // Pointers: one drags (pans when zoomed, swipes to a neighbour when not), two pinch to zoom.
    const pointers = new Map();
    let gesture = null;
    function startGesture() {
      const [a, b] = [...pointers.values()];
      gesture = b
        ? { pinch: Math.hypot(a.x - b.x, a.y - b.y) || 1, scale }
        : { sx: a.x - x, sy: a.y - y, ox: a.x, oy: a.y };
    }
    big.addEventListener("pointerdown", (e) => {
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      big.setPointerCapture(e.pointerId);
      startGesture();
    });
    big.addEventListener("pointermove", (e) => {
      if (!pointers.has(e.pointerId) || !gesture) return;
      pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
      const [a, b] = [...pointers.values()];
      if (b && gesture.pinch) {
        scale = Math.min(8, Math.max(1, gesture.scale * (Math.hypot(a.x - b.x, a.y - b.y) / gesture.pinch)));
        if (scale === 1) { x = 0; y = 0; }
        apply();
      } else if (!b && scale > 1 && gesture.sx !== undefined) {
        x = a.x - gesture.sx; y = a.y - gesture.sy; apply();
      }
    });
    function endPointer(e) {
      const last = pointers.get(e.pointerId);
      pointers.delete(e.pointerId);
      if (pointers.size) { startGesture(); return; }
      if (gesture && gesture.ox !== undefined && last && scale === 1) {
        const dx = last.x - gesture.ox;
        if (Math.abs(dx) > 60 && Math.abs(dx) > Math.abs(last.y - gesture.oy)) {
          if (dx < 0 && (nextId || morePage)) (nextId ? go(nextId) : goFurther());
          else if (dx > 0 && prevId) go(prevId);
        }
      }
      gesture = null;
    }
    big.addEventListener("pointerup", endPointer);
    big.addEventListener("pointercancel", endPointer);
    document.addEventListener("fullscreenchange", () => {
      // The browser's own Esc leaves full screen first; close the view with it.
      if (!document.fullscreenElement && !box.hidden) close();
    });

    function go(target) {
      if (target) location.assign("/images/" + target + "/");
    }

    document.addEventListener("keydown", (e) => {
      if (e.defaultPrevented || e.altKey || e.ctrlKey || e.metaKey || typing(e.target)) return;
      if (e.key === "ArrowLeft" && prevId) { e.preventDefault(); go(prevId); }
      else if (e.key === "ArrowRight" && nextId) { e.preventDefault(); go(nextId); }
      else if (e.key === "ArrowRight" && morePage) { e.preventDefault(); goFurther(); }
      else if (e.key === "Escape") {
        e.preventDefault();
        if (!box.hidden) close(); else location.assign(backUrl);
      } else if ((e.key === "f" || e.key === "F") && box.hidden) { e.preventDefault(); open(); }
      else if (!box.hidden && (e.key === "+" || e.key === "=")) zoom(1.5);
      else if (!box.hidden && e.key === "-") zoom(1 / 1.5);
    });
    let wasFull = false;
    try { wasFull = sessionStorage.getItem(FULL_KEY) === "1"; } catch (err) { wasFull = false; }
    if (wasFull && at >= 0) open();
    viewer.dataset.ready = "true"; // keys work from here on (tests wait for it)

    // --- Similar images and duplicates appear once indexing finishes. ---
    document.addEventListener("image-status", async (event) => {
      if (String(event.detail.id) !== id || event.detail.status !== "indexed") return;
      try {
        const response = await fetch(location.pathname, { credentials: "same-origin" });
        if (!response.ok) return;
        const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
        ["#neighbours", ".stage"].forEach((selector) => {
          const now = document.querySelector(selector);
          const then = fresh.querySelector(selector);
          if (now && then && !(selector === ".stage" && now.querySelector("img"))) now.innerHTML = then.innerHTML;
        });
        const img = document.getElementById("viewer-image");
        if (img) img.addEventListener("click", open);
        // Full screen now shows the preview too, not the original it used while there was none.
        const freshViewer = fresh.getElementById("viewer");
        if (freshViewer && !sharpening) {
          viewer.dataset.full = fullSrc = freshViewer.dataset.full;
          viewer.dataset.original = freshViewer.dataset.original;
        }
      } catch (err) {
        // A reload shows them; nothing is lost.
      }
    });

    // --- Edit in place. ---
    const form = document.getElementById("edit-form");
    if (form) {
      const result = document.getElementById("edit-result");
      form.addEventListener("submit", async (e) => {
        e.preventDefault();
        result.textContent = gettext("Saving…");
        let body;
        try {
          const response = await fetch(form.action, {
            method: "POST", body: new FormData(form), credentials: "same-origin",
            headers: { Accept: "application/json" },
          });
          body = await response.json();
        } catch (err) {
          result.textContent = gettext("Not saved: the server could not be reached. Your changes are still here.");
          return;
        }
        form.querySelectorAll(".field-error").forEach((span) => { span.textContent = ""; });
        form.querySelectorAll("[aria-invalid]").forEach((field) => field.removeAttribute("aria-invalid"));
        Object.entries(body.errors || {}).forEach(([name, message]) => {
          const span = document.getElementById("edit-error-" + name);
          if (span) span.textContent = message;
          if (form.elements[name]) form.elements[name].setAttribute("aria-invalid", "true");
        });
        const saved = body.saved || [];
        const problems = Object.keys(body.errors || {});
        gettext_noop("title"); gettext_noop("tags"); gettext_noop("visibility"); // the fields named below
        const names = (fields) => fields.map((name) => gettext(name)).join(gettext(", "));
        result.textContent = (saved.length ? interpolate(gettext("Saved %s."), [names(saved)]) : gettext("Nothing saved.")) +
          (problems.length ? " " + interpolate(gettext("Fix %s and save again."), [names(problems)]) : "");
        if (saved.includes("title")) {
          document.querySelectorAll(".meta h1").forEach((h) => { h.textContent = body.title; });
          document.title = interpolate(gettext("%s · Image search"), [body.title]);
        }
      });
    }
  });
})();
