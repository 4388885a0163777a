// Mail intake on the ticket page (i14): the quarantine (messages the intake kept for a person,
// with accept — open a ticket for a customer or attach to a ticket — and reject) and, for the
// ticket shown, its attachments and the bounces of its emails. Plain JavaScript beside app.js;
// it reads and posts the API and watches the ticket panel's title to know which ticket is open.
"use strict";

(() => {
  const API = "api/";
  // $ and el are app.js's (loaded first; classic scripts share their top-level names).

  async function call(path, body) {
    const init = { credentials: "same-origin", headers: { Accept: "application/json" } };
    if (body !== undefined) {
      init.method = "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const res = await fetch(API + path, init);
    const data = await res.json().catch(() => ({}));
    if (!res.ok) {
      const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
      throw new Error(detail || `${path}: HTTP ${res.status}`);
    }
    return data;
  }

  const when = (iso) => (iso ? new Date(iso).toLocaleString([], { dateStyle: "short", timeStyle: "short" }) : "–");
  const kb = (n) => (n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} kB`);

  // -------------------------------------------------------------- quarantine

  let customers = [];

  function decisionForm(item) {
    const form = el("form", { class: "quarantine-decision", "data-id": String(item.id) });
    const target = el("select", { name: "target", "aria-label": `Accept message ${item.id} for` },
      el("option", { value: "" }, "Accept for customer / ticket …"),
      ...customers.map((c) => el("option", { value: `customer:${c.id}` }, `open a ticket for ${c.name}`)),
      el("option", { value: "ticket" }, "attach to ticket …"));
    const number = el("input", { name: "ticket", placeholder: "XOP-000123", pattern: "XOP-\\d{6,9}", size: "11",
      "aria-label": "Ticket number", hidden: true });
    target.addEventListener("change", () => { number.hidden = target.value !== "ticket"; });
    const accept = el("button", { type: "submit" }, "Accept");
    const reject = el("button", { type: "button", class: "reject" }, "Reject");
    const out = el("span", { class: "error", role: "alert" });
    form.append(target, number, accept, reject, out);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = target.value === "ticket" ? { ticket: number.value.trim().toUpperCase() }
        : target.value.startsWith("customer:") ? { customer: target.value.slice(9) } : null;
      if (!body) { out.textContent = "Choose a customer or a ticket."; return; }
      try {
        const done = await call(`quarantine/${item.id}/accept`, body);
        out.textContent = "";
        say(`Message ${item.id}: ${done.reason.split("; ").pop()}`);
        loadQuarantine();
      } catch (e) { out.textContent = e.message; }
    });
    reject.addEventListener("click", async () => {
      const reason = window.prompt(`Reject message ${item.id} from ${item.sender || "no sender"}: why?`, "");
      if (reason === null) return;
      try {
        await call(`quarantine/${item.id}/reject`, { reason });
        say(`Message ${item.id} rejected (kept, marked rejected).`);
        loadQuarantine();
      } catch (e) { out.textContent = e.message; }
    });
    return form;
  }

  function say(text) {
    const box = $("#quarantine-status");
    if (box) box.textContent = text;
  }

  async function loadQuarantine() {
    const box = $("#quarantine-body");
    if (!box) return;
    let q;
    try {
      if (!customers.length) customers = await call("customers");
      q = await call("quarantine?limit=50");
    } catch (e) {
      box.replaceChildren(el("p", { class: "error" }, e.message));
      return;
    }
    $("#quarantine-count").textContent = q.total ? `(${q.total})` : "";
    if (!q.items.length) {
      box.replaceChildren(el("p", { id: "quarantine-empty" }, "Nothing in quarantine."));
      return;
    }
    box.replaceChildren(el("table", { class: "clocks", id: "quarantine-table" },
      el("caption", { class: "sr-only" }, "Messages kept for a person, newest first"),
      el("thead", {}, el("tr", {}, ...["Received", "From", "Subject", "Why", "Decide"]
        .map((h) => el("th", { scope: "col" }, h)))),
      el("tbody", {}, ...q.items.map((m) => el("tr", { "data-id": String(m.id) },
        el("td", {}, when(m.received_at)),
        el("td", {}, m.sender || "(no sender)"),
        el("td", {}, el("a", { href: `${API}inbound/${m.id}/source`, title: "the original message (.eml)" },
          m.subject || "(no subject)")),
        el("td", {}, m.reason),
        el("td", {}, decisionForm(m)))))));
  }

  // -------------------------------------------------------------- the open ticket's mail

  let shown = null;

  async function loadMail(number) {
    const box = $("#ticket-mail");
    if (!box) return;
    let m;
    try {
      m = await call(`tickets/${encodeURIComponent(number)}/mail`);
    } catch (e) {
      box.replaceChildren(el("p", { class: "error" }, e.message));
      return;
    }
    if (number !== shown) return;
    const parts = [];
    parts.push(m.attachments.length
      ? el("ul", { id: "ticket-attachments" }, ...m.attachments.map((a) => el("li", {},
        el("a", { href: `${API}attachments/${a.id}` }, a.filename),
        ` ${kb(a.size)}${a.inline ? " (inline image)" : ""} · sha256 `, el("code", {}, a.sha256.slice(0, 16) + "…"))))
      : el("p", { id: "ticket-attachments" }, "No attachments."));
    if (m.bounces.length) {
      parts.push(el("ul", { id: "ticket-bounces", class: "bounces" }, ...m.bounces.map((b) => el("li", {},
        `${when(b.at)}: the ${b.kind.replaceAll("_", " ")} email to ${b.recipient} ${b.action}`
        + `${b.status ? ` (${b.status})` : ""}${b.diagnostic ? `: ${b.diagnostic}` : ""}`))));
    }
    box.replaceChildren(...parts);
  }

  function watchTicket() {
    const title = $("#ticket-title");
    if (!title) return;
    new MutationObserver(() => {
      const found = /^(XOP-\d+)/.exec(title.textContent || "");
      if (!found) return;
      shown = found[1];
      loadMail(shown);
    }).observe(title, { childList: true, characterData: true, subtree: true });
  }

  document.addEventListener("DOMContentLoaded", () => {
    watchTicket();
    loadQuarantine();
    setInterval(loadQuarantine, 60000);
  });
})();
