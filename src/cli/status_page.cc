// The status page: one file with no external script, font or style (the
// hosts may have no internet), drawing /status.json with inline SVG.
#include "cli/status_server.h"

namespace tandem::cli {

const char kStatusPageHtml[] = R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tandem status</title>
<style>
body{font:14px system-ui,sans-serif;margin:1em 2em;color:#222;background:#fafafa}
h1{font-size:1.3em;margin:0 0 .3em}
#conn{color:#666;margin-bottom:1em}
#conn.bad{color:#b00;font-weight:bold}
.sections{display:flex;flex-wrap:wrap;gap:1.5em}
table{border-collapse:collapse;background:#fff;box-shadow:0 0 2px #bbb}
th{text-align:left;background:#e8eef4;padding:4px 8px}
td{padding:2px 8px;border-top:1px solid #eee;font-variant-numeric:tabular-nums}
td:first-child{color:#555}
.charts{display:flex;flex-wrap:wrap;gap:1.5em;margin-top:1.5em}
.chart{background:#fff;box-shadow:0 0 2px #bbb;padding:6px}
.chart h2{font-size:1em;margin:0 0 4px}
.legend span{margin-right:1em;white-space:nowrap}
.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
svg text{font-size:10px;fill:#666}
</style></head><body>
<h1>tandem status</h1>
<div id="conn">connecting...</div>
<div class="sections" id="sections"></div>
<div class="charts" id="charts"></div>
<script>
"use strict";
const W = 460, H = 150, PAD = 44, WINDOW = 300;
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
const SVGNS = "http://www.w3.org/2000/svg";

function el(tag, text) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  return e;
}
function svg(tag, attrs) {
  const e = document.createElementNS(SVGNS, tag);
  for (const k in attrs) e.setAttribute(k, attrs[k]);
  return e;
}
// 0.00123 -> "1.23m", 45000 -> "45k": axes of seconds, bytes and rates alike.
function si(v) {
  if (v === null || v === undefined || !isFinite(v)) return "-";
  const a = Math.abs(v);
  const units = [[1e9, "G"], [1e6, "M"], [1e3, "k"], [1, ""], [1e-3, "m"], [1e-6, "\u00b5"]];
  if (a === 0) return "0";
  for (const [s, u] of units) if (a >= s) return +(v / s).toPrecision(3) + u;
  return v.toExponential(2);
}

function renderSections(sections) {
  const box = document.getElementById("sections");
  box.replaceChildren();
  for (const s of sections) {
    const t = el("table");
    const head = el("tr");
    const th = el("th", s.title);
    th.colSpan = 2;
    head.appendChild(th);
    t.appendChild(head);
    for (const [k, v] of s.figures) {
      const tr = el("tr");
      tr.appendChild(el("td", k));
      tr.appendChild(el("td", v));
      t.appendChild(tr);
    }
    box.appendChild(t);
  }
}

function renderChart(chart, t, now) {
  const div = el("div");
  div.className = "chart";
  div.appendChild(el("h2", chart.title));
  const g = svg("svg", {width: W, height: H, viewBox: `0 0 ${W} ${H}`});
  let max = 0;
  for (const s of chart.series) for (const v of s.values) if (v !== null && v > max) max = v;
  if (max <= 0) max = 1;
  max *= 1.1;
  const x = ts => PAD + (W - PAD - 4) * (1 - (now - ts) / WINDOW);
  const y = v => H - 16 - (H - 22) * v / max;
  for (const f of [0, 0.5, 1]) {
    g.appendChild(svg("line", {x1: PAD, x2: W - 4, y1: y(max * f), y2: y(max * f), stroke: "#ddd"}));
    const label = svg("text", {x: PAD - 4, y: y(max * f) + 3, "text-anchor": "end"});
    label.textContent = si(max * f);
    g.appendChild(label);
  }
  for (const m of [5, 4, 3, 2, 1, 0]) {
    const anchor = m === 5 ? "start" : m === 0 ? "end" : "middle";  // the ends stay inside
    const label = svg("text", {x: x(now - 60 * m), y: H - 3, "text-anchor": anchor});
    label.textContent = m ? `-${m} min` : "now";
    g.appendChild(label);
  }
  const legend = el("div");
  legend.className = "legend";
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    let d = "", last = null;
    s.values.forEach((v, k) => {
      if (v === null || now - t[k] > WINDOW) { last = null; return; }
      d += (last === null ? "M" : "L") + x(t[k]).toFixed(1) + " " + y(v).toFixed(1);
      last = v;
    });
    if (d) g.appendChild(svg("path", {d: d, fill: "none", stroke: color, "stroke-width": 1.5}));
    const item = el("span");
    const swatch = el("i");
    swatch.style.background = color;
    item.appendChild(swatch);
    const now_v = s.values.length ? s.values[s.values.length - 1] : null;
    item.appendChild(document.createTextNode(`${s.label}: ${si(now_v)}`));
    legend.appendChild(item);
  });
  div.appendChild(g);
  div.appendChild(legend);
  return div;
}

async function tick() {
  const conn = document.getElementById("conn");
  try {
    const r = await fetch("status.json", {cache: "no-store"});
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    const s = await r.json();
    renderSections(s.sections);
    const box = document.getElementById("charts");
    box.replaceChildren();
    for (const c of s.history.charts) box.appendChild(renderChart(c, s.history.t, s.now));
    const age = s.time === null ? null : s.now - s.time;
    conn.className = age === null || age > 5 ? "bad" : "";
    conn.textContent = age === null ? "no figures yet"
        : `figures of ${new Date(s.time * 1000).toLocaleTimeString()}` + (age > 5 ? ` (${Math.round(age)} s old)` : "");
  } catch (e) {
    conn.className = "bad";
    conn.textContent = `no answer from tandem (${e.message}); retrying`;
  }
  setTimeout(tick, 1000);
}
tick();
</script>
</body></html>
)HTML";

}  // namespace tandem::cli
