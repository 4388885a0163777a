// SLA reports on the ticket page (i17): the explainable clock timeline of the ticket shown, and
// the compliance view (this month per level and clock, open tickets by level and age, breaches
// this week: the monthly report's figures). Plain JavaScript beside app.js; it only reads the
// API and watches the ticket panel's title to know which ticket is open.
"use strict";

(() => {
  const API = "api/";
  // $ and el are app.js's (loaded first; classic scripts share their top-level names).

  async function get(path) {
    const res = await fetch(API + path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status}`);
    return res.json();
  }

  function hm(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    return h ? `${h} h ${String(m).padStart(2, "0")} min` : `${m} min`;
  }

  function when(iso) {
    if (!iso) return "–";
    return new Date(iso).toLocaleString([], {
      weekday: "short", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      timeZoneName: "short",
    });
  }

  const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)} %`);

  // -------------------------------------------------------------- timeline of the open ticket

  let shown = null;

  async function loadTimeline(number) {
    const box = $("#ticket-timeline");
    if (!box) return;
    let t;
    try {
      t = await get(`tickets/${encodeURIComponent(number)}/timeline`);
    } catch (e) {
      box.replaceChildren(el("p", { class: "error" }, e.message));
      return;
    }
    if (t.number !== shown) return; // another ticket was opened meanwhile
    if (!t.clocks.length) {
      box.replaceChildren(el("p", {}, "No SLA clock (level 1)."));
      return;
    }
    box.replaceChildren(...t.clocks.map((c) => el("details", { class: "timeline", "data-clock": c.name },
      el("summary", {}, `${c.label}${c.cycle ? ` (reopen ${c.cycle})` : ""}: ${c.outcome}, `
        + `${hm(c.used_seconds)} used of ${hm(c.target_seconds)}`),
      el("ol", { class: "history" }, ...c.entries.map((e) => el("li", { class: `tl-${e.kind}` },
        el("div", { class: "meta" }, `${when(e.at)}${e.until ? ` → ${when(e.until)}` : ""} · used ${hm(e.used_seconds)}`
          + (e.actor ? ` · ${e.actor}` : "")),
        el("div", { class: "body" }, e.label + (e.new_target_seconds
          ? ` (target ${e.old_target_seconds ? hm(e.old_target_seconds) : "–"} → ${hm(e.new_target_seconds)})` : "")),
      ))),
    )));
  }

  function watchTicket() {
    const title = $("#ticket-title");
    if (!title) return;
    new MutationObserver(() => {
      const m = /^(XOP-\d+)/.exec(title.textContent || "");
      if (!m) return;
      shown = m[1];
      loadTimeline(shown);
    }).observe(title, { childList: true, characterData: true, subtree: true });
  }

  // -------------------------------------------------------------- compliance view

  async function loadCompliance() {
    const box = $("#compliance-body");
    if (!box) return;
    let v;
    try {
      v = await get("compliance");
    } catch (e) {
      box.replaceChildren(el("p", { class: "error" }, e.message));
      return;
    }
    const clocks = el("table", { class: "clocks", id: "compliance-clocks" },
      el("caption", {}, `This month (${v.month}) so far, per level and clock`),
      el("thead", {}, el("tr", {}, ...["Level", "Clock", "Met", "Met late", "Missed", "Running", "Compliance",
        "Median", "90th pct."].map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...v.clocks.map((c) => el("tr", {},
        el("td", {}, `L${c.level}`), el("td", {}, c.label), el("td", {}, String(c.met)),
        el("td", {}, String(c.met_late)), el("td", {}, String(c.missed)), el("td", {}, String(c.running + c.paused)),
        el("td", {}, pct(c.compliance)), el("td", {}, hm(c.median_seconds)), el("td", {}, hm(c.p90_seconds))))));
    const ages = el("table", { class: "clocks", id: "compliance-open" },
      el("caption", {}, "Open tickets by level and age (business days)"),
      el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Level"),
        ...v.age_buckets.map((b) => el("th", { scope: "col" }, b)), el("th", { scope: "col" }, "Total"))),
      el("tbody", {}, ...v.open_by_level.map((r) => el("tr", {}, el("td", {}, `L${r.level}`),
        ...v.age_buckets.map((b) => el("td", {}, String(r[b]))), el("td", {}, String(r.total))))));
    const breaches = v.breaches_this_week.length
      ? el("table", { class: "clocks", id: "compliance-breaches" },
        el("caption", {}, `Breaches this week (since ${when(v.week_start)})`),
        el("thead", {}, el("tr", {}, ...["Ticket", "Customer", "Clock", "Urgency", "Outcome", "Due", "Late by"]
          .map((h) => el("th", { scope: "col" }, h)))),
        el("tbody", {}, ...v.breaches_this_week.map((b) => el("tr", {},
          el("td", {}, el("a", { href: `#${b.number}`, class: "number-link" }, b.number)), el("td", {}, b.customer),
          el("td", {}, b.label), el("td", {}, b.urgency), el("td", {}, b.status.replace("_", " ")),
          el("td", {}, when(b.due_at)), el("td", {}, hm(b.late_seconds))))))
      : el("p", { id: "compliance-breaches" }, "No breach this week.");
    box.replaceChildren(clocks, ages, breaches);
  }

  document.addEventListener("DOMContentLoaded", () => {
    watchTicket();
    loadCompliance();
    setInterval(loadCompliance, 60000);
  });
})();
