// Upload page: files from the drop zone, the clipboard or the file picker start uploading at once
// (POST /api/images/, a few at a time, each with its own progress bar and result); once uploaded,
// each file's title, tags and visibility can be changed in place (PATCH /api/images/{id}/).
// Without this script the form posts the chosen files to the page itself.
(function () {
  "use strict";
  const PARALLEL = 3;

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.getElementById("upload-form");
    if (!form) return;
    const api = form.dataset.api;
    const maxBytes = Number(form.dataset.maxBytes) || Infinity;
    const input = document.getElementById("file-input");
    const zone = document.getElementById("dropzone");
    const queueList = document.getElementById("upload-queue");
    const summary = document.getElementById("upload-summary");
    const button = document.getElementById("upload-button");
    const clearButton = document.getElementById("upload-clear");
    const doneLink = document.getElementById("upload-done");
    const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
    const items = [];
    let running = 0;
    let pausedUntil = 0;

    // Fills a translated string's named %(placeholders)s.
    const fmt = (text, values) => interpolate(text, values, true);

    function megabytes(bytes) {
      return (bytes / 1048576).toFixed(bytes < 1048576 ? 2 : 1) + " MB";
    }

    function el(tag, attrs, text) {
      const node = document.createElement(tag);
      Object.entries(attrs || {}).forEach(([k, v]) => node.setAttribute(k, v));
      if (text) node.textContent = text;
      return node;
    }

    function addFiles(files) {
      for (const file of files) {
        const li = el("li", { "data-state": "queued" });
        const preview = el("img", { class: "preview", alt: "" });
        preview.addEventListener("error", () => { preview.style.visibility = "hidden"; });
        if (/^image\/(png|jpeg|gif|webp|avif|bmp)$/.test(file.type)) preview.src = URL.createObjectURL(file);
        const name = el("span", { class: "name", title: file.name }, file.name);
        const remove = el("button", { type: "button", class: "remove", "aria-label": fmt(gettext("Remove %(name)s"), { name: file.name }) }, "×");
        const progress = el("progress", { max: "100", value: "0", "aria-label": fmt(gettext("Progress of %(name)s"), { name: file.name }) });
        progress.hidden = true;
        const result = el("span", { class: "file-result" }, megabytes(file.size) + " · " + gettext("waiting"));
        li.append(preview, name, remove, progress, result);
        queueList.appendChild(li);
        // The tags, visibility and duplicate choice for all, as they are when the file is added.
        const item = {
          file, li, progress, result, remove, state: "queued",
          tags: form.elements.tags.value, visibility: form.elements.visibility.value,
          allowDuplicate: form.elements.allow_duplicate.checked,
        };
        remove.addEventListener("click", () => {
          if (item.state === "uploading") return; // a file on its way cannot be taken back here
          li.remove();
          items.splice(items.indexOf(item), 1);
          report();
        });
        if (file.size > maxBytes) {
          fail(item, fmt(gettext("%(name)s is too large (%(size)s); the limit is %(limit)s."), { name: file.name, size: megabytes(file.size), limit: megabytes(maxBytes) }));
        }
        items.push(item);
      }
      start();
    }

    // Once uploaded: the file's own title, tags and visibility, each saved when changed.
    function editor(item, body) {
      const name = item.file.name;
      const box = el("div", { class: "file-edit" });
      const title = el("input", {
        type: "text", class: "file-title", maxlength: "200", placeholder: gettext("Title"),
        "aria-label": fmt(gettext("Title for %(name)s"), { name }),
      });
      title.value = body.title || "";
      const tags = el("input", {
        type: "text", class: "file-tags", placeholder: gettext("tags, comma-separated"), "aria-label": fmt(gettext("Tags for %(name)s"), { name }),
      });
      tags.value = (body.tags || []).join(", ");
      const visibility = el("select", { class: "file-visibility", "aria-label": fmt(gettext("Visibility of %(name)s"), { name }) });
      [["public", gettext("Public")], ["private", gettext("Private")]].forEach(([value, label]) => {
        visibility.append(el("option", { value }, label));
      });
      visibility.value = body.visibility || "public";
      const saved = el("span", { class: "file-saved", "aria-live": "polite" });
      box.append(title, tags, visibility);
      item.li.append(box, saved);
      const fields = { title, tags, visibility };
      Object.entries(fields).forEach(([field, input]) => {
        input.addEventListener("change", () => save(item, body.id, field, input, saved));
      });
    }

    async function save(item, id, field, input, saved) {
      const value = field === "tags" ? input.value.split(",").map((t) => t.trim()).filter(Boolean) : input.value;
      item.saving = (item.saving || 0) + 1;
      saved.textContent = gettext("saving…");
      try {
        const response = await fetch(api + id + "/", {
          method: "PATCH",
          credentials: "same-origin",
          headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
          body: JSON.stringify({ [field]: value }),
        });
        let body = {};
        try { body = await response.json(); } catch (err) { body = {}; }
        if (response.ok) {
          if (field === "tags") input.value = (body.tags || []).join(", ");
          saved.textContent = field === "tags" ? gettext("Tags saved") : field === "title" ? gettext("Title saved") : gettext("Visibility saved");
        } else {
          saved.textContent = body.error || gettext("Not saved: the server refused it.");
        }
      } catch (err) {
        saved.textContent = gettext("Not saved: the connection failed.");
      } finally {
        item.saving--;
      }
    }

    function setState(item, state) {
      item.state = state;
      item.li.dataset.state = state;
    }

    function fail(item, message, retry) {
      setState(item, "failed");
      item.progress.hidden = true;
      item.result.textContent = message;
      if (retry) {
        const again = el("button", { type: "button", class: "link" }, gettext("Retry"));
        again.addEventListener("click", () => { setState(item, "queued"); item.result.textContent = gettext("ready"); start(); });
        item.result.append(" ", again);
      }
    }

    function succeed(item, body) {
      setState(item, "done");
      item.li.dataset.imageId = body.id;
      item.li.dataset.status = body.status; // the page's status poller turns it to indexed
      item.progress.hidden = true;
      item.remove.hidden = true;
      item.result.textContent = gettext("Uploaded as") + " ";
      const link = el("a", { href: "/images/" + body.id + "/" }, "#" + body.id);
      const badge = el("span", { class: "status status-" + body.status }, gettext(body.status));
      item.result.append(link, " ", badge);
      if (body.moderation === "hidden" && window.markWithheld) window.markWithheld(item.li, body.moderation_reason);
      editor(item, body);
    }

    function duplicate(item, body) {
      setState(item, "duplicate");
      item.progress.hidden = true;
      const where = body.in_trash ? gettext("%(name)s is in your trash as") : gettext("%(name)s is already in your library as");
      item.result.textContent = fmt(where, { name: item.file.name }) + " ";
      const link = el("a", { href: body.duplicate_url || "/images/" + body.duplicate_of + "/" }, "#" + body.duplicate_of);
      const anyway = el("button", { type: "button", class: "link upload-anyway" }, gettext("Upload anyway"));
      anyway.addEventListener("click", () => { setState(item, "queued"); item.allowDuplicate = true; start(); });
      item.result.append(link, ". ", anyway);
    }

    function send(item) {
      return new Promise((resolve) => {
        setState(item, "uploading");
        item.progress.hidden = false;
        item.progress.value = 0;
        item.result.textContent = gettext("uploading…");
        const data = new FormData();
        data.append("file", item.file, item.file.name);
        if (item.tags.trim()) data.append("tags", item.tags);
        data.append("visibility", item.visibility);
        data.append("allow_duplicate", item.allowDuplicate ? "true" : "false");
        const xhr = new XMLHttpRequest();
        xhr.open("POST", api);
        xhr.setRequestHeader("X-CSRFToken", csrf);
        xhr.setRequestHeader("Accept", "application/json");
        xhr.upload.addEventListener("progress", (e) => {
          if (e.lengthComputable) item.progress.value = Math.round((100 * e.loaded) / e.total);
        });
        xhr.addEventListener("load", () => {
          item.progress.value = 100;
          let body = {};
          try { body = JSON.parse(xhr.responseText); } catch (err) { body = {}; }
          if (xhr.status === 201) succeed(item, body);
          else if (xhr.status === 409 && body.duplicate_of) duplicate(item, body);
          else if (xhr.status === 401 || xhr.status === 403) fail(item, gettext("You are signed out; log in again, then retry."), true);
          else if (xhr.status === 413) fail(item, fmt(gettext("%(name)s is too large for the server."), { name: item.file.name }));
          else if (xhr.status === 429) {
            // The hourly upload allowance is used up: the whole queue waits, then carries on by itself.
            const wait = Math.max(1, Number(xhr.getResponseHeader("Retry-After")) || 60);
            pausedUntil = Date.now() + wait * 1000;
            setState(item, "queued");
            item.progress.hidden = true;
            item.result.textContent = fmt(gettext("waiting: upload limit reached, continuing in %(wait)s s"), { wait });
          }
          else if (xhr.status >= 500) fail(item, body.error || gettext("The server is busy."), true);
          else if (body.error && body.error.includes(item.file.name)) fail(item, body.error);
          else fail(item, body.error ? `${item.file.name}: ${body.error}` : fmt(gettext("%(name)s was refused."), { name: item.file.name }));
          resolve();
        });
        xhr.addEventListener("error", () => { fail(item, "The connection failed.", true); resolve(); });
        xhr.send(data);
      });
    }

    async function worker() {
      running++;
      let next;
      while ((next = items.find((i) => i.state === "queued"))) {
        setState(next, "uploading"); // claimed: no other worker sends it too
        while (Date.now() < pausedUntil) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(1000, pausedUntil - Date.now())));
        }
        await send(next);
        report();
      }
      running--;
      report();
    }

    function start() {
      while (running < PARALLEL && items.some((i) => i.state === "queued")) worker();
      report();
    }

    function report() {
      const count = (state) => items.filter((i) => i.state === state).length;
      const parts = [];
      const busy = count("uploading") + count("queued");
      if (count("done")) parts.push(fmt(gettext("%(n)s uploaded"), { n: count("done") }));
      if (count("duplicate")) parts.push(fmt(gettext("%(n)s already in your library"), { n: count("duplicate") }));
      if (count("failed")) parts.push(fmt(gettext("%(n)s refused"), { n: count("failed") }));
      if (busy) parts.push(fmt(gettext("%(n)s to go"), { n: busy }));
      summary.textContent = parts.join(" · ");
      const finished = items.length > 0 && !busy;
      clearButton.hidden = !items.some((i) => ["done", "failed", "duplicate"].includes(i.state));
      doneLink.hidden = !(finished && count("done"));
    }

    // Leaving while files are on their way (or their changes being saved) would lose them: ask.
    window.addEventListener("beforeunload", (e) => {
      if (!items.some((i) => ["queued", "uploading"].includes(i.state) || i.saving > 0)) return;
      e.preventDefault();
      e.returnValue = ""; // older browsers ask only when this is set
    });
    // With this script: the drop zone and its button; the plain picker and Upload are for without.
    form.dataset.ready = "true";
    button.hidden = true;
    document.getElementById("choose-files").hidden = false;
    input.tabIndex = -1;
    input.addEventListener("change", () => {
      addFiles(input.files);
      input.value = "";
    });
    document.getElementById("choose-files").addEventListener("click", (e) => { e.stopPropagation(); input.click(); });
    zone.addEventListener("click", () => input.click());
    ["dragenter", "dragover"].forEach((type) =>
      zone.addEventListener(type, (e) => { e.preventDefault(); zone.classList.add("over"); }));
    ["dragleave", "drop"].forEach((type) => zone.addEventListener(type, () => zone.classList.remove("over")));
    zone.addEventListener("drop", (e) => {
      e.preventDefault();
      if (e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    // Files dropped anywhere on the page are taken too (the browser must not leave the page to show them).
    document.addEventListener("dragover", (e) => e.preventDefault());
    document.addEventListener("drop", (e) => {
      e.preventDefault();
      if (!zone.contains(e.target) && e.dataTransfer && e.dataTransfer.files.length) addFiles(e.dataTransfer.files);
    });
    document.addEventListener("paste", (e) => {
      const files = e.clipboardData ? Array.from(e.clipboardData.files) : [];
      if (files.length) { e.preventDefault(); addFiles(files); }
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      start();
    });
    clearButton.addEventListener("click", () => {
      for (const item of items.filter((i) => ["done", "failed", "duplicate"].includes(i.state))) {
        item.li.remove();
        items.splice(items.indexOf(item), 1);
      }
      report();
    });
    report();
  });
})();
