// Pending images turn to indexed (or failed) without a reload: poll the API for them.
(function () {
  const POLL_MS = 2000;

  function pendingIds() {
    return Array.from(document.querySelectorAll('[data-status="pending"]')).map((el) => el.dataset.imageId);
  }

  function update(el, image) {
    el.dataset.status = image.status;
    el.dispatchEvent(new CustomEvent("image-status", { bubbles: true, detail: image }));
    el.querySelectorAll(".status").forEach((badge) => {
      badge.textContent = gettext(image.status); // one of:
      gettext_noop("pending"); gettext_noop("indexed"); gettext_noop("failed");
      badge.className = "status status-" + image.status;
      badge.title = image.failure_reason || "";
    });
    el.querySelectorAll(".now-indexing").forEach((badge) => badge.remove()); // done: no longer "being indexed"
    if (image.moderation === "hidden") markWithheld(el, image.moderation_reason);
    const thumb = el.querySelector(".thumb");
    if (thumb && image.thumbnail_url && !thumb.querySelector("img")) {
      thumb.innerHTML = "";
      const img = document.createElement("img");
      // The grid's sharper size (512 px on the shorter side); the thumbnail for older API answers.
      img.src = (image.thumbnails && image.thumbnails.medium) || image.thumbnail_url;
      img.alt = image.title || image.original_filename || "";
      thumb.appendChild(img);
    }
    // Cards rendered as pending had no "find similar" link; add it as the server would.
    const caption = el.querySelector("figcaption");
    if (image.status === "indexed" && caption && !caption.querySelector(".similar-link")) {
      const link = document.createElement("a");
      link.className = "similar-link";
      link.href = "/search/?similar=" + encodeURIComponent(image.id);
      link.textContent = gettext("find similar");
      caption.appendChild(link);
    }
  }

  // Its owner is told when an upload is withheld (a ban matched it while it was indexed).
  function markWithheld(el, reason) {
    if (el.querySelector(".withheld")) return;
    const badge = document.createElement("span");
    badge.className = "badge withheld";
    badge.textContent = gettext("withheld");
    badge.title = reason || "";
    const status = el.querySelector(".status");
    if (status) status.after(" ", badge);
    if (reason && el.matches("li")) {
      const why = document.createElement("span");
      why.className = "withheld-reason muted";
      why.textContent = " " + reason;
      badge.after(why);
    }
  }
  window.markWithheld = markWithheld;

  async function poll() {
    const ids = [...new Set(pendingIds())].slice(0, 200); // the API takes at most 200 ids
    if (!ids.length) {
      setTimeout(poll, POLL_MS); // pending items may still appear (the upload page adds them)
      return;
    }
    try {
      const response = await fetch("/api/images/?ids=" + ids.join(","), { credentials: "same-origin" });
      if (response.ok) {
        const body = await response.json();
        for (const image of body.results) {
          if (image.status === "pending") continue;
          document.querySelectorAll('[data-image-id="' + image.id + '"]').forEach((el) => update(el, image));
        }
      }
    } catch (err) {
      // The server may be restarting; keep polling.
    }
    setTimeout(poll, POLL_MS);
  }

  document.addEventListener("DOMContentLoaded", () => setTimeout(poll, POLL_MS));
})();
