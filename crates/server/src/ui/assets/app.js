// Sluice dashboard: local times, copy buttons, and the browser's time zone on range forms.
"use strict";

(function () {
  const pad = (n) => String(n).padStart(2, "0");

  // <time datetime="…Z"> → the browser's local date and time.
  for (const el of document.querySelectorAll("time[datetime]")) {
    const d = new Date(el.getAttribute("datetime"));
    if (!isNaN(d)) {
      el.textContent = d.toLocaleString(undefined, {
        year: "numeric", month: "short", day: "numeric",
        hour: "2-digit", minute: "2-digit", second: "2-digit",
      });
      el.title = el.getAttribute("datetime");
    }
  }

  // Chart axis labels (SVG <text data-ms>) → local hour or day.
  for (const el of document.querySelectorAll("text[data-ms]")) {
    const d = new Date(Number(el.getAttribute("data-ms")));
    if (isNaN(d)) continue;
    el.textContent = el.getAttribute("data-unit") === "day"
      ? `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })}`
      : `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // datetime-local inputs rendered in UTC (data-ms) → the same instant in local time.
  for (const el of document.querySelectorAll("input[type=datetime-local][data-ms]")) {
    const d = new Date(Number(el.getAttribute("data-ms")));
    if (isNaN(d)) continue;
    el.value = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  // Copy buttons: data-copy names the element whose text is copied.
  for (const button of document.querySelectorAll("button[data-copy]")) {
    button.addEventListener("click", async () => {
      const source = document.getElementById(button.getAttribute("data-copy"));
      if (!source) return;
      try {
        await navigator.clipboard.writeText(source.textContent.trim());
        button.textContent = "Copied";
      } catch (_) {
        const range = document.createRange();
        range.selectNodeContents(source);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        button.textContent = "Selected: press Ctrl+C";
      }
    });
  }

  // Forms with datetime-local inputs send the browser's UTC offset, so the server reads
  // the times as the user meant them.
  for (const input of document.querySelectorAll("input[name=tz]")) {
    input.value = String(new Date().getTimezoneOffset());
  }

  // Confirm before destructive actions (revoke, purge).
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (e) => {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  }
})();
