// Moderation queue keyboard shortcuts: j/k move between groups, 1-9 toggle keeping an image,
// d/h keep the ticked and delete/hide the rest, n dismisses (not a duplicate / not a match), b opens
// the group's ban form, x selects the group for bulk, v reveals (or blurs again) the group's
// thumbnails when the moderator's setting blurs them. Each key is also a button on the card.
(function () {
  "use strict";
  const groups = () => Array.from(document.querySelectorAll(".mod-group"));
  let current = -1;
  function focus(index) {
    const all = groups();
    if (!all.length) return;
    current = Math.max(0, Math.min(all.length - 1, index));
    all[current].focus();
    all[current].scrollIntoView({ block: "nearest" });
  }
  function active() {
    const el = document.activeElement && document.activeElement.closest(".mod-group");
    if (el) current = groups().indexOf(el);
    return el || groups()[current] || null;
  }
  function click(group, selector) {
    const button = group && group.querySelector(selector);
    if (button) button.click();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    const tag = (event.target.tagName || "").toLowerCase();
    if (tag === "input" && event.target.type === "text" || tag === "textarea" || tag === "select") return;
    const group = active();
    if (event.key === "j") { focus(current + 1); event.preventDefault(); }
    else if (event.key === "k") { focus(current - 1); event.preventDefault(); }
    else if (/^[1-9]$/.test(event.key) && group) {
      const boxes = group.querySelectorAll('input[name="keep"]');
      const box = boxes[Number(event.key) - 1];
      if (box) { box.checked = !box.checked; event.preventDefault(); }
    }
    else if (event.key === "d") { click(group, ".act-delete"); }
    else if (event.key === "h") { click(group, ".act-hide"); }
    else if (event.key === "n") { click(group, ".act-dismiss"); }
    else if (event.key === "b" && group) {
      const box = group.querySelector(".ban-box");
      if (box) {
        box.open = true;
        const field = box.querySelector('input[name="bank"]');
        if (field) field.focus();
        event.preventDefault();  // the b is not typed into the field
      }
    }
    else if (event.key === "v") {
      // The focused group's thumbnails, or every group's when none is focused.
      const targets = group ? [group] : groups();
      const reveal = !targets.every((g) => g.classList.contains("revealed"));
      targets.forEach((g) => g.classList.toggle("revealed", reveal));
      event.preventDefault();
    }
    else if (event.key === "x" && group) {
      const box = group.querySelector(".bulk-pick");
      if (box) box.checked = !box.checked;
    }
  });
})();
