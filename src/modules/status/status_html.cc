// The HTML view of the status page: one self-contained document (style and script inline,
// nothing fetched from elsewhere) that asks the same location for ?format=json every two
// seconds and draws tables from it. Text goes in through textContent only (no markup from the
// data). Elements carry ids and data- attributes that tests (and scripts) can read:
// tr.peer[data-upstream][data-peer][data-state], tr.server[data-server][data-requests]
// [data-h2-requests], tr.stream-listen[data-listen][data-protocol][data-connections]
// [data-sessions], tr.peer[data-block], #conn-<name> (h2_active... too), #updated, #error;
// the cluster view (status_peers): #node, #cluster-alerts div.alert(.split-brain, .fault,
// .disagreement, .unreachable), tr.cluster-vrrp[data-node][data-instance][data-state]
// [data-vrid] (.split, .fault), tr.cluster-node[data-reachable], tr.cluster-upstream
// [data-disagree] with td.cluster-peer[data-node][data-state].
#include "modules/status/status.h"

namespace mod::status {

namespace {

constexpr std::string_view kPage = R"HTML(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>halo status</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
h1 { font-size: 1.5em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.4em 0 .4em; }
table { border-collapse: collapse; background: #fff; box-shadow: 0 1px 2px #0002; }
th, td { padding: .3em .8em; border-bottom: 1px solid #e4e4e4; text-align: left; }
th { background: #eef1f5; font-weight: 600; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.state { display: inline-block; min-width: 5.5em; padding: .05em .5em; border-radius: 3px;
         color: #fff; font-weight: 600; text-align: center; }
.s-up { background: #2e9e48; } .s-down { background: #d33a2c; }
.s-backup { background: #6c7a89; } .s-draining { background: #e8930c; }
.s-MASTER { background: #2e9e48; } .s-BACKUP { background: #6c7a89; }
.s-FAULT { background: #d33a2c; } .s-INIT { background: #999; }
.s-ANNOUNCED { background: #2e9e48; } .s-WITHDRAWN { background: #d33a2c; }
tr.peer.down td { background: #fdecea; }
#meta { color: #666; }
#error { display: none; margin: 1em 0; padding: .5em 1em; background: #d33a2c; color: #fff; }
#cluster-section { display: none; }
.alert { margin: .3em 0; padding: .4em 1em; background: #d33a2c; color: #fff; font-weight: 600; }
.alert.warn { background: #e8930c; }
tr.split td, tr.disagree td { background: #fdecea; }
tr.unreachable td { background: #fff4e0; }
td.odd { outline: 2px solid #d33a2c; }
.empty { color: #888; font-style: italic; }
</style>
</head>
<body>
<h1>halo <span id="node"></span></h1>
<div id="meta"><span id="version"></span> &middot; updated <span id="updated">never</span></div>
<div id="error"></div>
<div id="cluster-section">
<h2>Cluster</h2>
<div id="cluster-alerts"></div>
<table id="cluster-nodes"></table>
<h2>Upstream servers as each node sees them</h2>
<table id="cluster-upstreams"></table>
</div>
<h2>Connections</h2>
<table id="connections"><tr><th>active</th><th>reading</th><th>writing</th><th>waiting</th>
<th>accepted</th><th>handled</th><th>requests</th>
<th>HTTP/2 active</th><th>HTTP/2 connections</th><th>HTTP/2 streams</th></tr>
<tr><td class="n" id="conn-active"></td><td class="n" id="conn-reading"></td>
<td class="n" id="conn-writing"></td><td class="n" id="conn-waiting"></td>
<td class="n" id="conn-accepted"></td><td class="n" id="conn-handled"></td>
<td class="n" id="conn-requests"></td><td class="n" id="conn-h2_active"></td>
<td class="n" id="conn-h2_connections"></td><td class="n" id="conn-h2_streams"></td></tr></table>
<h2>Access</h2>
<table id="auth"><tr><th>auth_basic refusals (401)</th><th>no credentials</th>
<th>user not found</th><th>password mismatch</th></tr>
<tr><td class="n" id="auth-failures"></td><td class="n" id="auth-no_credentials"></td>
<td class="n" id="auth-user_not_found"></td><td class="n" id="auth-password_mismatch"></td></tr>
</table>
<h2>Processes</h2>
<table id="processes"></table>
<h2>Server blocks</h2>
<table id="servers"></table>
<h2>Stream servers</h2>
<table id="stream-servers"></table>
<h2>Upstreams</h2>
<table id="upstreams"></table>
<h2>VRRP instances</h2>
<table id="vrrp"></table>
<h2>Anycast</h2>
<table id="anycast"></table>
<h2>Connection limits</h2>
<table id="limit-conns"></table>
<h2>Request rate limits</h2>
<table id="limit-reqs"></table>
<script>
"use strict";
const REFRESH_MS = 2000;
function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (cls) e.className = cls;
  return e;
}
function row(table, cells, header) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    if (c instanceof Node) { const td = el(header ? "th" : "td"); td.appendChild(c); tr.appendChild(td); }
    else tr.appendChild(el(header ? "th" : "td", c, typeof c === "number" ? "n" : ""));
  }
  table.appendChild(tr);
  return tr;
}
function clear(id) { const t = document.getElementById(id); t.textContent = ""; return t; }
function badge(state) { return el("span", state, "state s-" + state); }
function uptime(s) {
  s = Math.floor(s);
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return (d ? d + "d " : "") + (d || h ? h + "h " : "") + (d || h || m ? m + "m " : "") + s % 60 + "s";
}
function when(ms) { return ms ? new Date(ms).toLocaleTimeString() : "-"; }
function empty(table, cols, text) {
  const tr = row(table, [text]);
  tr.firstChild.colSpan = cols;
  tr.firstChild.className = "empty";
}
function alert(box, text, cls) { box.appendChild(el("div", text, "alert " + cls)); }
function drawCluster(c) {
  const section = document.getElementById("cluster-section");
  if (!c) { section.style.display = "none"; return; }
  section.style.display = "block";
  const split = new Set(c.split_brain.map(b => b.vrid));
  const box = document.getElementById("cluster-alerts");
  box.textContent = "";
  for (const b of c.split_brain)
    alert(box, "Split brain: VRID " + b.vrid + " has " + b.masters.length + " masters: " +
          b.masters.join(", "), "split-brain");
  for (const v of c.no_master) alert(box, "No master for VRID " + v, "warn no-master");
  for (const f of c.faults) alert(box, f.node + ": " + f.instance + " is in FAULT", "warn fault");
  for (const d of c.disagreements)
    alert(box, "Nodes disagree on " + d.upstream + " " + d.server + ": " +
          Object.entries(d.states).map(([n, st]) => n + " " + st).join(", "), "warn disagreement");
  for (const n of c.nodes)
    if (!n.reachable) alert(box, "Cannot read " + n.url + ": " + n.error, "warn unreachable");

  const t = clear("cluster-nodes");
  row(t, ["node", "instance", "state", "vrid", "priority", "master", "last tracker change",
          "trackers failing", "addresses"], true);
  for (const n of c.nodes) {
    const name = (n.node || n.url) + (n.self ? " (this node)" : "");
    if (!n.reachable) {
      const tr = row(t, [name, "unreachable: " + n.error]);
      tr.lastChild.colSpan = 8;
      tr.className = "cluster-node unreachable";
      tr.dataset.node = n.node; tr.dataset.url = n.url; tr.dataset.reachable = "false";
      continue;
    }
    if (!n.vrrp.length) {
      const tr = row(t, [name, "no VRRP instances"]);
      tr.lastChild.colSpan = 8;
      tr.className = "cluster-node";
      tr.dataset.node = n.node; tr.dataset.reachable = "true";
    }
    for (const i of n.vrrp) {
      const tr = row(t, [name, i.name, badge(i.state), i.vrid,
        i.priority + (i.priority != i.base_priority ? " (" + i.base_priority + ")" : ""),
        i.master, i.tracker || "-", i.failing.join(", ") || "-",
        i.addresses.join(" ") + (i.addresses_up ? " (up here)" : "")]);
      tr.className = "cluster-vrrp" + (split.has(i.vrid) ? " split" : "") +
                     (i.state === "FAULT" ? " fault" : "");
      tr.dataset.node = n.node; tr.dataset.instance = i.name; tr.dataset.state = i.state;
      tr.dataset.vrid = i.vrid; tr.dataset.reachable = "true";
    }
  }

  const u = clear("cluster-upstreams");
  const seen = c.nodes.filter(n => n.reachable);
  row(u, ["upstream", "server"].concat(seen.map(n => n.node)), true);
  const keys = new Map();
  for (const n of seen)
    for (const p of n.upstreams) {
      const k = p.block + " " + p.upstream + " " + p.server;
      if (!keys.has(k)) keys.set(k, {p: p, states: {}});
      keys.get(k).states[n.node] = p.state;
      if (p.down_reason) (keys.get(k).reasons = keys.get(k).reasons || {})[n.node] = p.down_reason;
    }
  for (const {p, states, reasons} of keys.values()) {
    const values = Object.values(states);
    const differ = new Set(values).size > 1;
    // The state most nodes see; the cells that differ from it are outlined (none on a tie).
    const counts = {};
    for (const v of values) counts[v] = (counts[v] || 0) + 1;
    const top = Math.max(...Object.values(counts));
    const leaders = Object.keys(counts).filter(k => counts[k] === top);
    const usual = leaders.length === 1 ? leaders[0] : null;
    const tr = document.createElement("tr");
    tr.className = "cluster-upstream" + (differ ? " disagree" : "");
    tr.dataset.upstream = p.upstream; tr.dataset.server = p.server;
    tr.dataset.disagree = differ ? "true" : "false";
    tr.appendChild(el("td", p.upstream + (p.block === "stream" ? " (stream)" : "")));
    tr.appendChild(el("td", p.server));
    for (const n of seen) {
      const st = states[n.node];
      const td = el("td");
      if (st) td.appendChild(badge(st)); else td.textContent = "-";
      td.className = "cluster-peer" + (differ && usual && st && st !== usual ? " odd" : "");
      td.dataset.node = n.node; td.dataset.state = st || "";
      if (reasons && reasons[n.node]) {
        td.title = "down: " + reasons[n.node];
        td.appendChild(el("span", " " + reasons[n.node].replace("_", " "), "reason"));
      }
      tr.appendChild(td);
    }
    u.appendChild(tr);
  }
  if (!keys.size) empty(u, 2 + seen.length, "no upstream servers");
}
function draw(s) {
  document.getElementById("version").textContent = s.version;
  document.getElementById("node").textContent = s.node || "";
  if (s.node) document.title = "halo status: " + s.node;
  drawCluster(s.cluster);
  document.getElementById("updated").textContent = new Date(s.time).toLocaleTimeString();
  for (const k of ["active", "reading", "writing", "waiting", "accepted", "handled",
                   "h2_active", "h2_connections", "h2_streams"])
    document.getElementById("conn-" + k).textContent = s.connections[k];
  document.getElementById("conn-requests").textContent = s.requests.total;
  for (const k of ["failures", "no_credentials", "user_not_found", "password_mismatch"])
    document.getElementById("auth-" + k).textContent = s.auth_basic ? s.auth_basic[k] : "";

  const p = clear("processes");
  row(p, ["type", "pid", "uptime", "respawns", "requests", "connections", "note"], true);
  const m = s.processes.master;
  if (m) row(p, [m.type, m.pid, uptime(m.uptime), "", m.requests === undefined ? "" : m.requests,
                 m.active === undefined ? "" : m.active, m.reloads + " reloads"]);
  for (const w of s.processes.workers)
    row(p, ["worker " + w.index, w.pid, uptime(w.uptime), w.respawns,
            w.requests === undefined ? "" : w.requests, w.active === undefined ? "" : w.active,
            w.retiring ? "retiring" : ""]);
  for (const h of s.processes.helpers)
    row(p, [h.name + " helper", h.pid, uptime(h.uptime), h.respawns, "", "", h.retiring ? "retiring" : ""]);

  const sv = clear("servers");
  row(sv, ["server", "listen", "requests", "HTTP/2", "1xx", "2xx", "3xx", "4xx", "5xx",
            "received", "sent"], true);
  for (const b of s.servers) {
    const tr = row(sv, [b.name, b.listen.join(" "), b.requests, b.h2_requests, b.responses["1xx"],
                        b.responses["2xx"], b.responses["3xx"], b.responses["4xx"],
                        b.responses["5xx"], b.received, b.sent]);
    tr.className = "server";
    tr.dataset.server = b.name;
    tr.dataset.requests = b.requests;
    tr.dataset.h2Requests = b.h2_requests;
  }
  if (!s.servers.length) empty(sv, 11, "no server blocks");

  const ss = clear("stream-servers");
  row(ss, ["server", "listen", "protocol", "connections", "active", "2xx", "4xx", "5xx",
           "received", "sent"], true);
  for (const srv of s.stream_servers || []) {
    for (const l of srv.listens) {
      const tr = row(ss, [srv.listen.join(" "), l.address, l.protocol, l.connections, l.active,
                          l.sessions["2xx"], l.sessions["4xx"], l.sessions["5xx"], l.received,
                          l.sent]);
      tr.className = "stream-listen";
      tr.dataset.listen = l.address;
      tr.dataset.protocol = l.protocol;
      tr.dataset.connections = l.connections;
      tr.dataset.sessions = l.sessions.total;
    }
  }
  if (!(s.stream_servers || []).length) empty(ss, 10, "no stream servers");

  const u = clear("upstreams");
  row(u, ["upstream", "server", "state", "active", "requests", "failures", "avg response",
          "health check", "last change"], true);
  for (const g of s.upstreams) {
    for (const peer of g.peers) {
      const hc = peer.health_check;
      const tr = row(u, [g.name + (g.block === "stream" ? " (stream)" : ""),
        peer.server + (peer.backup ? " (backup)" : ""), badge(peer.state),
        peer.active, peer.requests, peer.failures,
        peer.response_time_ms === null ? "-" : peer.response_time_ms + " ms",
        hc ? (hc.last_ok ? "ok" : "failed" + (hc.reason ? ": " + hc.reason : "")) + " (" + hc.checks + ")" : "-",
        hc ? when(hc.last_change) : "-"]);
      tr.className = "peer " + peer.state;
      tr.dataset.upstream = g.name;
      tr.dataset.block = g.block;
      tr.dataset.peer = peer.server;
      tr.dataset.state = peer.state;
    }
  }
  if (!s.upstreams.length) empty(u, 9, "no upstream groups");

  const v = clear("vrrp");
  row(v, ["instance", "state", "interface", "vrid", "priority", "master", "last tracker change",
           "addresses"], true);
  for (const i of s.vrrp)
    row(v, [i.name + (i.sync_group ? " (group " + i.sync_group + ")" : ""), badge(i.state),
            i.interface, i.vrid,
            i.priority + (i.priority != i.base_priority ? " (" + i.base_priority + ")" : ""),
            i.master, i.tracker || "-",
            i.addresses.join(" ") + (i.addresses_up ? " (up here)" : "")]);
  if (!s.vrrp.length) empty(v, 8, "no VRRP instances");

  const a = clear("anycast");
  row(a, ["addresses", "state", "reason", "interface", "transitions", "last change"], true);
  for (const i of s.anycast || [])
    row(a, [i.addresses.join(" "), badge(i.state), i.reason, i.interface, i.transitions,
            when(i.last_change)]);
  if (!(s.anycast || []).length) empty(a, 6, "no anycast block");

  const l = clear("limit-conns");
  row(l, ["zone", "block", "passed", "rejected", "rejected (dry run)", "keys now"], true);
  for (const z of s.limit_conns || [])
    row(l, [z.zone, z.kind, z.passed, z.rejected, z.rejected_dry_run, z.keys]);
  if (!(s.limit_conns || []).length) empty(l, 6, "no limit_conn zones");

  const q = clear("limit-reqs");
  row(q, ["zone", "passed", "delayed", "rejected", "delayed (dry run)", "rejected (dry run)",
          "keys now"], true);
  for (const z of s.limit_reqs || [])
    row(q, [z.zone, z.passed, z.delayed, z.rejected, z.delayed_dry_run, z.rejected_dry_run,
            z.keys]);
  if (!(s.limit_reqs || []).length) empty(q, 7, "no limit_req zones");
}
async function refresh() {
  const box = document.getElementById("error");
  try {
    const r = await fetch(location.pathname + "?format=json", {cache: "no-store"});
    if (!r.ok) throw new Error("status " + r.status);
    draw(await r.json());
    box.style.display = "none";
  } catch (e) {
    box.textContent = "cannot load the status: " + e.message;
    box.style.display = "block";
  }
  setTimeout(refresh, REFRESH_MS);
}
refresh();
</script>
</body>
</html>
)HTML";

}  // namespace

std::string_view html_page() {
    return kPage;
}

}  // namespace mod::status
