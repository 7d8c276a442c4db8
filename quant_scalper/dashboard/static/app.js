// quant-scalper dashboard: polls /api/v1 every 2 s and redraws only what changed.
"use strict";

const API = "/api/v1";
const POLL_MS = 2000;
const TZ = "America/Chicago";
const COLUMNS = [
  ["id", "#"], ["trading_day", "Day"], ["instrument_id", "Instrument"], ["side", "Side"],
  ["quantity", "Qty"], ["entry_ns", "Entry (CT)"], ["exit_ns", "Exit (CT)"],
  ["holding_secs", "Held"], ["entry_price", "Entry px"], ["exit_price", "Exit px"],
  ["gross_pnl_cents", "Gross"], ["fees_cents", "Fees"], ["net_pnl_cents", "Net"],
  ["entry_z", "Entry z"], ["exit_reason", "Exit reason"],
];
const EXIT_REASONS = ["signal", "stop", "target", "max_holding", "session", "daily_limit",
  "kill", "flatten", "roll", "refused_child", "external", "unknown"];

const state = {
  book: null, sort: "exit_ns", order: "desc", page: 1, period: "day",
  last: {}, instruments: [], polls: 0,
};

const $ = (id) => document.getElementById(id);
const dtf = new Intl.DateTimeFormat("en-US", {
  timeZone: TZ, month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
  hour12: false,
});
const dayf = new Intl.DateTimeFormat("en-US", { timeZone: TZ, month: "short", day: "2-digit" });

function fmtTime(ns) { return ns == null ? "–" : dtf.format(new Date(Number(ns) / 1e6)); }
function fmtMoney(cents) {
  if (cents == null) return "–";
  const v = Number(cents) / 100;
  const s = Math.abs(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return (v < 0 ? "−$" : "$") + s;
}
function moneyClass(cents) { return cents > 0 ? "pos" : cents < 0 ? "neg" : ""; }
function fmtAge(secs) {
  if (secs == null) return "–";
  secs = Math.round(Number(secs));
  if (secs < 90) return secs + " s";
  if (secs < 5400) return Math.round(secs / 60) + " min";
  if (secs < 172800) return (secs / 3600).toFixed(1) + " h";
  return Math.round(secs / 86400) + " d";
}
function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
function kv(rows) {
  return rows.map(([k, v, cls]) => `<div class="k">${esc(k)}</div><div class="v ${cls || ""}">${v}</div>`).join("");
}

async function getJSON(path, params) {
  const q = new URLSearchParams();
  if (state.book) q.set("book", state.book);
  for (const [k, v] of Object.entries(params || {})) if (v !== "" && v != null) q.set(k, v);
  const res = await fetch(`${API}/${path}?${q}`, { credentials: "same-origin", cache: "no-store" });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) {
    const detail = body && body.detail;
    const msg = Array.isArray(detail) ? detail.map((d) => `${(d.loc || []).slice(-1)[0]}: ${d.msg}`).join("; ") : (detail || res.statusText);
    const err = new Error(msg);
    err.status = res.status;
    err.journal = Boolean(body && body.journal_error);
    throw err;
  }
  return body;
}

function changed(key, data) {
  const text = JSON.stringify(data);
  if (state.last[key] === text) return false;
  state.last[key] = text;
  return true;
}

function banner(kind, text) {
  const el = $("banner");
  if (!text) { el.hidden = true; el.className = "banner"; el.textContent = ""; return; }
  el.hidden = false;
  el.className = "banner banner-" + kind;
  el.textContent = text;
}

// -- status: connection, position, risk ------------------------------------------------------

function renderStatus(s) {
  const snap = s.snapshot;
  const conn = $("conn");
  let stale = false;
  if (s.kind === "backtest") {
    conn.className = "pill pill-blue"; conn.textContent = "backtest";
    $("age").textContent = s.run && s.run.ended_at_ns ? "run ended " + fmtTime(s.run.ended_at_ns) : "";
  } else if (!snap) {
    conn.className = "pill pill-grey"; conn.textContent = "no node snapshot";
    $("age").textContent = "";
    stale = true;
  } else {
    stale = snap.stale;
    if (stale) { conn.className = "pill pill-amber"; conn.textContent = "stale"; }
    else if (!snap.running) { conn.className = "pill pill-grey"; conn.textContent = "node stopped"; }
    else if (snap.connected === false) { conn.className = "pill pill-red"; conn.textContent = "IB disconnected"; }
    else { conn.className = "pill pill-green"; conn.textContent = "live · connected"; }
    $("age").textContent = `snapshot ${fmtAge(snap.age_secs)} old · last bar ${fmtAge(snap.last_bar_age_secs)} ago`;
  }
  if (s.kind !== "backtest" && stale) {
    banner("amber", snap
      ? `The node's snapshot is ${fmtAge(snap.age_secs)} old (more than ${s.stale_after_secs} s): the node may be down or not writing the journal. What you see may be out of date.`
      : "No snapshot from this node in the journal yet: the node has not started, or it does not write this journal.");
  } else {
    banner(null, null);
  }

  const pos = s.positions || [];
  if (!pos.length) {
    $("position").innerHTML = kv([["Position", s.kind === "backtest" ? "n/a (backtest)" : "flat"]]);
  } else {
    const p = pos[0];
    $("position").innerHTML = kv([
      ["Instrument", esc(p.instrument_id)],
      ["Side", `<span class="side side-${esc(p.side)}">${esc(p.side)}</span> ${esc(p.quantity)}`],
      ["Entry", esc(p.entry_price)],
      ["Open P&L", fmtMoney(p.open_pnl_cents), moneyClass(p.open_pnl_cents)],
      ["Stop", esc(p.stop_price ?? "–")],
      ["Target", esc(p.target_price ?? "–")],
      ["Age", fmtAge(p.age_secs)],
    ]) + (pos.length > 1 ? `<div class="small muted">+${pos.length - 1} more</div>` : "");
  }

  const r = s.risk || {};
  const limit = r.daily_loss_limit_cents;
  const day = r.day_pnl_cents;
  let bar = "";
  if (limit && day != null) {
    const used = Math.max(0, Math.min(1, -day / limit));
    bar = `<div class="meter" title="loss used of the daily limit"><div style="width:${(used * 100).toFixed(0)}%" class="${used > 0.75 ? "hot" : ""}"></div></div>`;
  }
  const halted = r.halted ? `<span class="neg">HALTED</span> ${esc(r.halt_reason || "")}` : (r.daily_limit_hit ? '<span class="neg">daily limit hit</span>' : '<span class="pos">no</span>');
  $("risk").innerHTML = kv([
    ["Trading day", esc(r.trading_day || "–")],
    ["Day P&L", fmtMoney(day), moneyClass(day)],
    ["Daily limit", limit ? "−" + fmtMoney(limit) + bar : "–"],
    ["Losing streak", esc(r.consecutive_losses ?? "–")],
    ["Paused until", r.paused_until ? esc(fmtTime(Date.parse(r.paused_until) * 1e6)) : "–"],
    ["Halted", halted],
  ]);
  if (r.error) $("risk").innerHTML += `<div class="neg small">${esc(r.error)}</div>`;
  renderControl(s.control || {});
}

function renderSummary(t, eq) {
  if (!t) return;
  const s = t.summary;
  const rate = s.total ? ((100 * s.winners) / s.total).toFixed(0) + "%" : "–";
  const rows = [
    ["Book", `<span class="mono">${esc(state.book || "")}</span>`],
    ["Trades (filtered)", esc(s.total)],
    ["Net P&L", fmtMoney(s.net_cents), moneyClass(s.net_cents)],
    ["Fees", fmtMoney(s.fees_cents)],
    ["Win rate", `${rate} <span class="muted small">(${s.winners} W / ${s.losers} L)</span>`],
  ];
  if (eq) rows.push(["Max drawdown", fmtMoney(-eq.max_drawdown_cents), eq.max_drawdown_cents ? "neg" : ""]);
  $("summary").innerHTML = kv(rows);
}

// -- operator actions --------------------------------------------------------------------

let pendingConfirm = null;
function renderControl(c) {
  const box = $("control");
  if (!c.enabled) { box.hidden = true; return; }
  box.hidden = false;
  const holder = $("control-buttons");
  const key = c.commands.join(",");
  if (holder.dataset.key === key) return;
  holder.dataset.key = key;
  holder.innerHTML = c.commands.map((cmd) => `<button data-cmd="${esc(cmd)}" class="${cmd === "kill" ? "danger" : ""}">${esc(cmd)}</button>`).join(" ");
  holder.querySelectorAll("button").forEach((b) => b.addEventListener("click", () => askControl(b.dataset.cmd)));
}
async function postControl(path, body) {
  const res = await fetch(`${API}/${path}`, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-QS-Control": "1" },
    body: JSON.stringify(body),
  });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}
async function askControl(cmd) {
  try {
    const r = await postControl(`control/${encodeURIComponent(cmd)}`, { reason: "" });
    pendingConfirm = r.confirm_id;
    $("confirm-text").textContent = r.prompt + " Confirm within " + r.expires_in_secs + " s.";
    $("confirm-yes").textContent = "Confirm " + cmd;
    $("confirm").hidden = false;
  } catch (e) { $("control-result").textContent = "refused: " + e.message; }
}
async function confirmControl() {
  const id = pendingConfirm; pendingConfirm = null; $("confirm").hidden = true;
  if (!id) return;
  try {
    const r = await postControl("control-confirm", { confirm_id: id });
    $("control-result").textContent = r.result ? `${r.command}: ${r.result}` : `${r.command}: queued (${r.id}); the node applies it when it next polls`;
  } catch (e) { $("control-result").textContent = "refused: " + e.message; }
}

// -- charts --------------------------------------------------------------------------------

const PLOT_CONFIG = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["lasso2d", "select2d"] };
const FONT = { family: "system-ui, -apple-system, Segoe UI, Roboto, sans-serif", size: 12, color: "#334" };

// plotly.js loads async (4.6 MB to parse): the cards and table draw first, charts when ready.
function plotlyReady() {
  if (window.Plotly) return true;
  const tag = $("plotly-js");
  if (tag && !tag.dataset.hooked) {
    tag.dataset.hooked = "1";
    tag.addEventListener("load", () => {
      if (state.equity) renderEquity(state.equity);
      if (state.pnl) renderPnl(state.pnl);
    }, { once: true });
  }
  return false;
}

function renderEquity(eq) {
  if (!plotlyReady()) return;
  const el = $("equity");
  const x = eq.index;
  const times = eq.ts_ns.map(fmtTime);
  const ticks = eq.day_starts.index;
  const step = Math.max(1, Math.ceil(ticks.length / 10));
  const tickvals = ticks.filter((_, i) => i % step === 0);
  const ticktext = eq.day_starts.trading_day.filter((_, i) => i % step === 0).map(
    (d) => dayf.format(new Date(d + "T12:00:00Z")));
  const eqUsd = eq.equity_cents.map((c) => c / 100);
  const ddUsd = eq.drawdown_cents.map((c) => -c / 100);
  const traces = [
    { x, y: eqUsd, customdata: times, type: "scatter", mode: "lines", name: "Equity (realized + open)",
      line: { color: "#2563eb", width: 1.6 }, hovertemplate: "%{customdata} CT<br>$%{y:,.2f}<extra>equity</extra>" },
    { x, y: ddUsd, customdata: times, type: "scatter", mode: "lines", name: "Drawdown", yaxis: "y2",
      fill: "tozeroy", line: { color: "#dc2626", width: 1 }, fillcolor: "rgba(220,38,38,0.15)",
      hovertemplate: "%{customdata} CT<br>$%{y:,.2f}<extra>drawdown</extra>" },
  ];
  const layout = {
    margin: { l: 64, r: 16, t: 8, b: 36 }, font: FONT, showlegend: true,
    legend: { orientation: "h", x: 0, y: 1.08 }, hovermode: "x unified",
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { type: "linear", tickvals, ticktext, showgrid: true, gridcolor: "#eef0f4", zeroline: false },
    yaxis: { domain: [0.32, 1], tickprefix: "$", gridcolor: "#eef0f4", zerolinecolor: "#ccd" },
    yaxis2: { domain: [0, 0.24], tickprefix: "$", gridcolor: "#eef0f4", zerolinecolor: "#ccd" },
    uirevision: state.book,
  };
  Plotly.react(el, traces, layout, PLOT_CONFIG);
  el.dataset.points = String(x.length);
  document.body.dataset.charts = String(Number(document.body.dataset.charts || 0) + 1);
  $("equity-meta").textContent = eq.points
    ? `${eq.points.toLocaleString()} marks, ${eq.returned.toLocaleString()} drawn · now ${fmtMoney(eq.last_equity_cents)} · max drawdown ${fmtMoney(-eq.max_drawdown_cents)}`
    : "no equity marks yet";
}

function renderPnl(p) {
  if (!plotlyReady()) return;
  const rows = p.rows;
  const x = rows.map((r) => r.period);
  const y = rows.map((r) => r.net_cents / 100);
  const traces = [{
    x, y, type: "bar", name: "Net P&L",
    marker: { color: rows.map((r) => (r.net_cents >= 0 ? "#16a34a" : "#dc2626")) },
    customdata: rows.map((r) => `${r.trades} trades, ${r.wins} W / ${r.losses} L`),
    hovertemplate: "%{x}<br>$%{y:,.2f}<br>%{customdata}<extra></extra>",
  }];
  const layout = {
    margin: { l: 64, r: 16, t: 8, b: 40 }, font: FONT, showlegend: false,
    paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
    xaxis: { type: "category", automargin: true },
    yaxis: { tickprefix: "$", gridcolor: "#eef0f4", zerolinecolor: "#99a" },
    uirevision: state.book + p.period,
  };
  Plotly.react($("pnl"), traces, layout, PLOT_CONFIG);
}

// -- trade table ---------------------------------------------------------------------------

function filters() {
  const f = new FormData($("filters"));
  const out = {};
  for (const [k, v] of f.entries()) if (v) out[k] = v;
  return out;
}

function renderHead() {
  const tr = document.querySelector("#trades thead tr");
  tr.innerHTML = COLUMNS.map(([key, label]) => {
    const arrow = state.sort === key ? (state.order === "asc" ? " ▲" : " ▼") : "";
    const cls = state.sort === key ? "sorted" : "";
    return `<th data-col="${key}" class="${cls}" title="sort by ${label}">${label}${arrow}</th>`;
  }).join("");
  tr.querySelectorAll("th").forEach((th) => th.addEventListener("click", () => {
    const col = th.dataset.col;
    if (state.sort === col) state.order = state.order === "asc" ? "desc" : "asc";
    else { state.sort = col; state.order = col === "exit_ns" || col === "entry_ns" || col === "id" ? "desc" : "asc"; }
    state.page = 1;
    renderHead();
    refreshTrades();
  }));
}

function renderTrades(t) {
  const body = document.querySelector("#trades tbody");
  if (!t.trades.length) {
    body.innerHTML = `<tr><td colspan="${COLUMNS.length}" class="muted center">no trades match</td></tr>`;
  } else {
    body.innerHTML = t.trades.map((r) => `<tr data-id="${r.id}">
      <td class="num muted">${r.id}</td><td>${esc(r.trading_day)}</td><td>${esc(r.instrument_id)}</td>
      <td><span class="side side-${esc(r.side)}">${esc(r.side)}</span></td><td class="num">${esc(r.quantity)}</td>
      <td>${fmtTime(r.entry_ns)}</td><td>${fmtTime(r.exit_ns)}</td><td class="num">${fmtAge(r.holding_secs)}</td>
      <td class="num">${esc(r.entry_price)}</td><td class="num">${esc(r.exit_price)}</td>
      <td class="num ${moneyClass(r.gross_pnl_cents)}">${fmtMoney(r.gross_pnl_cents)}</td>
      <td class="num">${fmtMoney(r.fees_cents)}</td>
      <td class="num strong ${moneyClass(r.net_pnl_cents)}">${fmtMoney(r.net_pnl_cents)}</td>
      <td class="num">${r.entry_z == null ? "–" : Number(r.entry_z).toFixed(2)}</td>
      <td><span class="tag tag-${esc(r.exit_reason)}">${esc(r.exit_reason)}</span>${r.found_at_reconciliation ? ' <span class="tag" title="found at reconciliation">rec</span>' : ""}</td>
    </tr>`).join("");
  }
  $("page-info").textContent = `page ${t.page} of ${t.pages} · ${t.summary.total.toLocaleString()} trades`;
  $("prev").disabled = t.page <= 1;
  $("next").disabled = t.page >= t.pages;
  const s = t.summary;
  $("trade-summary").innerHTML = `net <span class="${moneyClass(s.net_cents)}">${fmtMoney(s.net_cents)}</span> · ${s.winners} winners · ${s.losers} losers`;
}

function renderList(id, rows, cells) {
  const body = document.querySelector(`#${id} tbody`);
  body.innerHTML = rows.length ? rows.map((r) => `<tr>${cells(r).map((c) => `<td>${c}</td>`).join("")}</tr>`).join("")
    : `<tr><td colspan="4" class="muted center">none</td></tr>`;
}

// -- polling -------------------------------------------------------------------------------

async function refreshTrades() {
  try {
    const t = await getJSON("trades", { ...filters(), sort: state.sort, order: state.order, page: state.page });
    if (changed("trades", t)) renderTrades(t);
    state.trades = t;
    renderSummary(t, state.equity);
    return t;
  } catch (e) { handleError(e); }
}

function handleError(e) {
  if (e.status === 401) { window.location = "/login"; return; }
  $("conn").className = "pill pill-red";
  $("conn").textContent = e.journal || e.status === 503 ? "journal unreadable" : "dashboard unreachable";
  banner("red", e.journal || e.status === 503 ? `The journal cannot be read: ${e.message}` : `Cannot reach the dashboard server (${e.message}); retrying every 2 s.`);
}

async function loadBooks() {
  const b = await getJSON("books");
  const sel = $("book");
  sel.innerHTML = b.books.map((x) => `<option value="${esc(x.book)}">${esc(x.book)}</option>`).join("");
  state.book = state.book || b.default;
  if (state.book) sel.value = state.book;
}

async function loadInstruments() {
  const r = await getJSON("instruments");
  const sel = document.querySelector('#filters [name="instrument"]');
  const keep = sel.value;
  sel.innerHTML = '<option value="">all</option>' + r.instruments.map((i) => `<option>${esc(i)}</option>`).join("");
  sel.value = keep;
}

async function poll() {
  try {
    if (!state.book) await loadBooks();
    if (!state.book) { banner("amber", "The journal holds no run yet: start the node or a backtest."); return; }
    if (state.polls % 15 === 0) await loadInstruments();
    const [s, eq, p, br, ev] = await Promise.all([
      getJSON("status"), getJSON("equity"), getJSON("pnl", { period: state.period }),
      getJSON("breakers", { limit: 50 }), getJSON("events", { limit: 50 }),
    ]);
    renderStatus(s);
    state.equity = eq;
    state.pnl = p;
    if (changed("equity", eq)) renderEquity(eq);
    if (changed("pnl", p)) renderPnl(p);
    if (changed("breakers", br)) renderList("breakers", br.events, (r) => [fmtTime(r.ts_ns), esc(r.rule), r.kind === "trip" ? '<span class="neg">trip</span>' : '<span class="pos">reset</span>', esc(r.reason)]);
    if (changed("events", ev)) renderList("events", ev.events, (r) => [fmtTime(r.ts_ns), esc(r.kind), esc(r.detail)]);
    await refreshTrades();
    document.body.dataset.polls = String(++state.polls);
  } catch (e) { handleError(e); }
}

function setup() {
  const reasons = document.querySelector('#filters [name="exit_reason"]');
  reasons.innerHTML += EXIT_REASONS.map((r) => `<option>${r}</option>`).join("");
  renderHead();
  $("filters").addEventListener("change", () => { state.page = 1; refreshTrades(); });
  $("filters").addEventListener("reset", () => setTimeout(() => { state.page = 1; refreshTrades(); }, 0));
  $("prev").addEventListener("click", () => { state.page = Math.max(1, state.page - 1); refreshTrades(); });
  $("next").addEventListener("click", () => { state.page += 1; refreshTrades(); });
  $("book").addEventListener("change", (e) => { state.book = e.target.value; state.page = 1; state.last = {}; poll(); });
  document.querySelectorAll("#period button").forEach((b) => b.addEventListener("click", () => {
    state.period = b.dataset.period;
    document.querySelectorAll("#period button").forEach((x) => x.classList.toggle("on", x === b));
    $("period-name").textContent = state.period;
    poll();
  }));
  $("confirm-yes").addEventListener("click", confirmControl);
  $("confirm-no").addEventListener("click", () => { pendingConfirm = null; $("confirm").hidden = true; });
  poll();
  setInterval(poll, POLL_MS);
}

document.addEventListener("DOMContentLoaded", setup);
