// edgewatch consoles: while a slow form (analysis, enrolment) is being answered, say so and prevent a
// second submission. The form works the same without this script.
"use strict";
for (const form of document.querySelectorAll("form[data-busy]")) {
  form.addEventListener("submit", () => {
    const button = form.querySelector("button[type=submit]");
    if (button) { button.disabled = true; button.textContent = form.dataset.busy; }
    const note = form.querySelector("[role=status]");
    if (note) note.textContent = form.dataset.busy;
  });
}
// Destructive forms ask first (without JavaScript they are sent as they are).
for (const form of document.querySelectorAll("form[data-confirm]")) {
  form.addEventListener("submit", (event) => { if (!window.confirm(form.dataset.confirm)) event.preventDefault(); });
}
