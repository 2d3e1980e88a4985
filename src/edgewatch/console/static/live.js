// edgewatch site console: live camera tiles, tracks and alarm notices over server-sent events.
// No library, no build step. Boxes and track ids are drawn on a canvas over the frame they belong to.
"use strict";
(function () {
  const tiles = document.getElementById("tiles");
  if (!tiles) return;
  const root = tiles.dataset.root;
  const status = document.getElementById("live-state");
  const fmt = (ts) => ts ? new Date(ts * 1000).toISOString().replace("T", " ").slice(0, 19) + " UTC" : "—";
  const text = (el, value) => { if (el) el.textContent = value; };
  const esc = (s) => String(s ?? "").replace(/[&<>"']/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));

  function tileFor(t) {
    const id = `tile-${t.site_id}-${t.camera_id}`;
    let el = document.getElementById(id);
    if (el) return el;
    el = document.createElement("article");
    el.className = "tile"; el.id = id; el.dataset.site = t.site_id; el.dataset.camera = t.camera_id; el.dataset.seq = "";
    el.setAttribute("aria-label", `Camera ${t.camera_id}`);
    el.innerHTML = `<canvas width="640" height="480" role="img" aria-label="Latest frame of ${esc(t.camera_id)}"></canvas>
      <div class="meta"><h3><span>${esc(t.camera_id)}</span> <span class="state" data-field="state"></span></h3>
      <span>site <b>${esc(t.site_id)}</b></span><span><b data-field="fps"></b> frames/s</span>
      <span><b data-field="frames"></b> frames</span><span><b data-field="drops"></b> dropped</span>
      <span>persons <b data-field="persons"></b></span><span>last seen <time data-field="last_seen"></time></span></div>`;
    tiles.appendChild(el);
    const none = document.getElementById("no-cameras");
    if (none) none.hidden = true;
    return el;
  }

  function draw(el, seq, boxes) {
    const url = `${root}/cameras/${encodeURIComponent(el.dataset.site)}/${encodeURIComponent(el.dataset.camera)}/frame.jpg?seq=${seq}`;
    const img = new Image();
    img.onload = () => {
      const canvas = el.querySelector("canvas");
      canvas.width = img.naturalWidth; canvas.height = img.naturalHeight;
      const ctx = canvas.getContext("2d");
      ctx.drawImage(img, 0, 0);
      const line = Math.max(2, Math.round(canvas.width / 300));
      ctx.lineWidth = line; ctx.font = `${Math.max(12, line * 7)}px system-ui, sans-serif`;
      for (const p of boxes || []) {
        const [x1, y1, x2, y2] = p.box;
        ctx.strokeStyle = "#ff4040"; ctx.strokeRect(x1, y1, x2 - x1, y2 - y1);
        const label = `track ${p.track_id}`;
        const w = ctx.measureText(label).width + 8, h = line * 7 + 6;
        ctx.fillStyle = "rgba(0,0,0,.65)"; ctx.fillRect(x1, Math.max(0, y1 - h), w, h);
        ctx.fillStyle = "#ffeb3b"; ctx.fillText(label, x1 + 4, Math.max(h - 4, y1 - 4));
      }
      el.dataset.seq = String(seq);
      el.dataset.drawn = String(Number(el.dataset.drawn || 0) + 1);
    };
    img.src = url;
  }

  function updateTile(t) {
    const el = tileFor(t);
    const state = el.querySelector('[data-field="state"]');
    text(state, t.online ? "online" : "offline");
    state.className = `state ${t.online ? "online" : "offline"}`;
    text(el.querySelector('[data-field="fps"]'), t.fps.toFixed(1));
    text(el.querySelector('[data-field="frames"]'), t.frames);
    text(el.querySelector('[data-field="drops"]'), t.drops);
    text(el.querySelector('[data-field="persons"]'), (t.boxes || []).length);
    text(el.querySelector('[data-field="last_seen"]'), fmt(t.last_seen));
    if (t.has_frame && t.seq !== null && String(t.seq) !== el.dataset.seq) draw(el, t.seq, t.boxes);
  }

  function updateTracks(list) {
    const body = document.getElementById("tracks");
    if (!body) return;
    body.innerHTML = list.length ? list.map((t) => `<tr><td>${esc(t.site_id)}/${esc(t.camera_id)}</td><td>${t.track_id}</td>
      <td><span class="badge ${esc(t.state)}">${esc(t.state)}</span></td><td>${esc(t.name || "—")}</td>
      <td>${t.similarity == null ? "—" : t.similarity.toFixed(2)}</td><td>${fmt(t.appeared_at)}</td></tr>`).join("")
      : '<tr><td colspan="6" class="muted">Nobody in view.</td></tr>';
  }

  function alarmNotice(a) {
    const box = document.getElementById("alarm-notice");
    if (!box) return;
    if (a.reason) {
      const onAlarms = location.pathname.endsWith("/alarms");
      box.innerHTML = `New <b>${esc(a.reason)}</b> alarm at ${esc(a.site_id)}/${esc(a.camera_id)} (track ${esc(a.track_id)}): ${esc(a.detail)}.
        <a href="${root}/alarms">${onAlarms ? "Reload the list" : "See alarms"}</a>`;
      box.hidden = false;
    } else if (a.acked_by) {
      const row = document.querySelector(`#alarm-${CSS.escape(a.event_id)} [data-field="delivery"]`);
      if (row) row.innerHTML = `acknowledged by <b>${esc(a.acked_by)}</b> at ${fmt(a.acked_at)}`;
    }
  }

  for (const el of tiles.querySelectorAll(".tile")) if (el.dataset.seq) { const seq = el.dataset.seq; el.dataset.seq = ""; draw(el, seq, JSON.parse(el.dataset.boxes || "[]")); }

  let since = tiles.dataset.version || 0;
  let source = null;
  function connect() {
    source = new EventSource(`${root}/events?since=${since}`);
    source.onopen = () => text(status, "Live updates: connected.");
    source.onerror = () => {
      text(status, "Live updates: reconnecting…");
      // EventSource retries by itself, except after an error status (e.g. 503 when the edge has too
      // many streams): then start a new one a little later.
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 3000);
    };
    source.addEventListener("tile", (e) => updateTile(JSON.parse(e.data)));
    source.addEventListener("tracks", (e) => updateTracks(JSON.parse(e.data)));
    source.addEventListener("alarm", (e) => alarmNotice(JSON.parse(e.data)));
    source.addEventListener("version", (e) => { since = e.data; });
  }
  connect();
  window.addEventListener("pagehide", () => source && source.close());
})();
