// dfdetect web page: upload a video to the HTTP API (docs/openapi.yaml), follow the job's
// progress, show the verdict, a per-frame timeline (inline SVG) and the face heatmaps, and list
// past scans. Plain browser JavaScript, no framework; all network calls go through api()/upload().
'use strict';

(function () {
  const API = '/api/v1';
  const TOKEN_KEY = 'dfdetect.token';
  const PAGE = 20; // history items per page
  const FACES_SHOWN = 6; // face images shown before "Show all"
  const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf'];
  const SVG_NS = 'http://www.w3.org/2000/svg';

  const $ = (id) => document.getElementById(id);
  const el = {
    file: $('file'), drop: $('drop'),
    progressBox: $('progress-box'), progress: $('progress'),
    progressLabel: $('progress-label'), progressValue: $('progress-value'),
    message: $('message'),
    result: $('result'), resultFile: $('result-file'), verdict: $('verdict'), reason: $('reason'),
    timelineBox: $('timeline-box'), timeline: $('timeline'), legend: $('legend'),
    facesBox: $('faces-box'), faces: $('faces'), facesNote: $('faces-note'),
    facesMore: $('faces-more'), facesAll: $('faces-all'), del: $('delete'),
    history: $('history'), historyEmpty: $('history-empty'), historyMore: $('history-more'),
    historyRefresh: $('history-refresh'),
    tokenPanel: $('token-panel'), tokenForm: $('token-form'), tokenInput: $('token-input'),
    tokenClear: $('token-clear'), tokenHint: $('token-hint'), version: $('version'),
  };

  // The scan on show: its id, and a counter that cancels the polling of a scan left behind.
  let current = null;
  let generation = 0;
  let historyShown = 0;
  let shownResult = null; // the result whose timeline is drawn (redrawn on resize)
  const blobUrls = [];

  // ---- HTTP ----

  function token() {
    try {
      return localStorage.getItem(TOKEN_KEY) || '';
    } catch (e) {
      return '';
    }
  }

  function authHeaders() {
    const t = token();
    return t ? { Authorization: 'Bearer ' + t } : {};
  }

  // The message of a JSON error body: {"error": "msg"} or {"error": {"code", "message"}}.
  function errorText(body, fallback) {
    if (body && typeof body.error === 'string') return body.error;
    if (body && body.error && typeof body.error.message === 'string') return body.error.message;
    return fallback;
  }

  class HttpError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  function parseJson(text) {
    try {
      return text ? JSON.parse(text) : null;
    } catch (e) {
      return null;
    }
  }

  function needToken(status) {
    if (status !== 401) return;
    el.tokenPanel.open = true;
    el.tokenHint.textContent = token()
      ? 'The server refused this token: enter the one it was started with (--token).'
      : 'This server needs an access token (it was started with --token).';
    el.tokenInput.focus();
  }

  // fetch + JSON, throwing HttpError with the server's message on any non-2xx answer.
  async function api(path, opts) {
    const o = Object.assign({}, opts || {});
    o.headers = Object.assign({ Accept: 'application/json' }, authHeaders(), o.headers || {});
    let res;
    try {
      res = await fetch(path, o);
    } catch (e) {
      throw new HttpError(0, 'Cannot reach the server (' + e.message + ').');
    }
    const body = parseJson(await res.text());
    if (!res.ok) {
      needToken(res.status);
      throw new HttpError(res.status, errorText(body, 'HTTP ' + res.status + ' ' + res.statusText));
    }
    return body;
  }

  // POST the file as multipart/form-data (field "file") with XMLHttpRequest, for its upload
  // progress events. Resolves with the 202 body {"id", "status"}.
  function upload(file, onProgress) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      xhr.open('POST', API + '/scans');
      const h = authHeaders();
      for (const k in h) xhr.setRequestHeader(k, h[k]);
      xhr.setRequestHeader('Accept', 'application/json');
      xhr.upload.onprogress = (e) => {
        if (e.lengthComputable) onProgress(e.loaded / e.total);
      };
      xhr.onload = () => {
        const body = parseJson(xhr.responseText);
        if (xhr.status >= 200 && xhr.status < 300 && body && body.id !== undefined) {
          resolve(body);
          return;
        }
        needToken(xhr.status);
        let msg = errorText(body, 'Upload failed: HTTP ' + xhr.status);
        const retry = xhr.getResponseHeader('Retry-After');
        if (xhr.status === 503 && retry) msg += ' Try again in ' + retry + ' s.';
        reject(new HttpError(xhr.status, msg));
      };
      xhr.onerror = () => reject(new HttpError(0, 'Upload failed: the connection was lost.'));
      const form = new FormData();
      form.append('file', file, file.name);
      xhr.send(form);
    });
  }

  // ---- small helpers ----

  function node(tag, attrs, text) {
    const n = document.createElement(tag);
    for (const k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function svg(tag, attrs, text) {
    const n = document.createElementNS(SVG_NS, tag);
    for (const k in attrs || {}) n.setAttribute(k, attrs[k]);
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function pct(p) {
    return (100 * p).toFixed(p > 0.001 && p < 0.999 ? 1 : 0) + '%';
  }

  function when(created) {
    if (created === undefined || created === null || created === '') return '';
    const d = new Date(typeof created === 'number' ? created * 1000 : created);
    return isNaN(d.getTime()) ? String(created) : d.toLocaleString();
  }

  function showMessage(text) {
    el.message.textContent = text || '';
    el.message.hidden = !text;
  }

  function setProgress(label, fraction) {
    el.progressBox.hidden = false;
    el.progressLabel.textContent = label;
    if (fraction === null || fraction === undefined) {
      el.progress.removeAttribute('value'); // indeterminate
      el.progressValue.textContent = '';
    } else {
      const f = Math.max(0, Math.min(1, fraction));
      el.progress.value = f;
      el.progressValue.textContent = Math.round(100 * f) + '%';
    }
  }

  function sleep(ms) {
    return new Promise((r) => setTimeout(r, ms));
  }

  // ---- upload and follow a scan ----

  async function scanFile(file) {
    if (!file) return;
    showMessage('');
    el.drop.classList.add('busy');
    el.file.disabled = true;
    const gen = ++generation;
    try {
      setProgress('Uploading ' + file.name, 0);
      const job = await upload(file, (f) => {
        if (gen !== generation) return;
        // Sent: the server checks that the file decodes before it answers.
        if (f >= 1) setProgress('Checking ' + file.name, null);
        else setProgress('Uploading ' + file.name, f);
      });
      setProgress('Queued', 0);
      refreshHistory();
      await follow(String(job.id), gen);
    } catch (e) {
      if (gen === generation) {
        el.progressBox.hidden = true;
        showMessage(e.message);
      }
    } finally {
      el.drop.classList.remove('busy');
      el.file.disabled = false;
      el.file.value = '';
    }
  }

  // Poll GET /scans/{id} until the job is done or failed (or another scan is shown), rendering
  // each state.
  async function follow(id, gen) {
    current = id;
    markHistory();
    let delay = 300;
    let shown = ''; // status rendered last: polls that change nothing redraw nothing
    for (;;) {
      const job = await api(API + '/scans/' + encodeURIComponent(id));
      if (gen !== generation) return;
      if (job.status !== shown) {
        renderJob(job);
        shown = job.status;
      }
      if (job.status === 'done' || job.status === 'failed') {
        el.progressBox.hidden = true;
        refreshHistory();
        return;
      }
      const p = typeof job.progress === 'number' ? job.progress : null;
      setProgress(job.status === 'queued' ? 'Queued' : 'Analysing', p);
      await sleep(delay);
      delay = Math.min(1000, delay + 100);
    }
  }

  async function show(id) {
    const gen = ++generation;
    showMessage('');
    try {
      await follow(id, gen);
    } catch (e) {
      if (gen === generation) {
        el.progressBox.hidden = true;
        showMessage(e.message);
      }
    }
  }

  // ---- rendering a job ----

  function renderJob(job) {
    const r = job.result || null;
    el.result.hidden = false;
    el.resultFile.textContent = job.file_name || (r && r.file) || '';
    renderVerdict(job, r);
    const done = job.status === 'done' && r && r.verdict !== 'ERROR';
    renderTimeline(done ? r : null);
    renderFaces(done ? job : null, r);
  }

  function renderVerdict(job, r) {
    const v = el.verdict;
    v.textContent = '';
    el.reason.textContent = '';
    if (job.status === 'failed' || (r && r.verdict === 'ERROR')) {
      v.dataset.verdict = 'failed';
      v.append(node('span', { class: 'label' }, 'FAILED'), ' ');
      const msg = errorText(job, '') || (r && r.error) || 'The scan failed.';
      v.append(node('span', { class: 'detail' }, msg));
      return;
    }
    if (job.status !== 'done' || !r) {
      v.dataset.verdict = 'pending';
      v.append(node('span', { class: 'pending' },
        job.status === 'queued' ? 'Waiting in the queue...' : 'Analysing the video...'));
      return;
    }
    v.dataset.verdict = r.verdict;
    if (r.verdict === 'NO_FACE') {
      v.append(node('span', { class: 'label' }, 'NO FACE'), ' ');
      v.append(node('span', { class: 'detail' }, 'No face was found, so there is nothing to judge.'));
    } else {
      v.append(node('span', { class: 'label' }, r.verdict), ' ');
      if (typeof r.probability === 'number') {
        v.append(node('span', { class: 'prob' }, 'probability of fake ' + pct(r.probability)), ' ');
      }
      if (typeof r.threshold === 'number') {
        v.append(node('span', { class: 'detail' }, 'FAKE above ' + pct(r.threshold) +
          (typeof r.frames === 'number' ? ', ' + r.frames + (r.frames === 1 ? ' frame' : ' frames') +
            ' scored' : '')));
      }
    }
    if (r.reason) el.reason.textContent = r.reason;
  }

  // Inline SVG chart: x = time (s), y = per-frame probability of FAKE, one line per identity.
  function renderTimeline(r) {
    shownResult = r;
    el.timeline.textContent = '';
    el.legend.textContent = '';
    // One series per identity with scored frames; `face` keeps its index in the result.
    const ids = (r && Array.isArray(r.identities) ? r.identities : [])
      .map((id, face) => ({
        face,
        prob: id.probability,
        pts: (Array.isArray(id.frames) ? id.frames : [])
          .filter((f) => typeof f.probability === 'number')
          .map((f, k) => ({ t: typeof f.time_s === 'number' ? f.time_s : k, p: f.probability })),
      }))
      .filter((id) => id.pts.length > 0);
    let t0 = Infinity, t1 = -Infinity;
    for (const id of ids) for (const q of id.pts) { t0 = Math.min(t0, q.t); t1 = Math.max(t1, q.t); }
    if (ids.length === 0 || t1 - t0 < 1e-6) { // nothing over time: no frame, or a still image
      el.timelineBox.hidden = true;
      return;
    }
    el.timelineBox.hidden = false;
    // Drawn at the container's pixel width so the labels keep their size on a phone.
    const W = Math.max(280, Math.round(el.timeline.clientWidth || 600));
    const H = W < 480 ? 180 : 220, L = 40, R = 10, T = 10, B = 28;
    const x = (t) => L + (W - L - R) * (t - t0) / (t1 - t0);
    const y = (p) => T + (H - T - B) * (1 - p);
    const s = svg('svg', {
      viewBox: `0 0 ${W} ${H}`, role: 'img',
      'aria-label': `Per-frame probability of FAKE from ${t0.toFixed(1)} s to ${t1.toFixed(1)} s` +
        ` for ${ids.length} face${ids.length > 1 ? 's' : ''}`,
    });
    for (const p of [0, 0.5, 1]) {
      s.append(svg('line', { class: 'axis', x1: L, x2: W - R, y1: y(p), y2: y(p) }));
      s.append(svg('text', { x: L - 6, y: y(p) + 4, 'text-anchor': 'end' }, pct(p)));
    }
    if (typeof r.threshold === 'number') {
      s.append(svg('line', { class: 'threshold', x1: L, x2: W - R, y1: y(r.threshold), y2: y(r.threshold) }));
    }
    const ticks = 5;
    for (let i = 0; i <= ticks; i++) {
      const t = t0 + (t1 - t0) * i / ticks;
      s.append(svg('text', { x: x(t), y: H - 8, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle' },
        t.toFixed(t1 - t0 < 5 ? 1 : 0) + ' s'));
    }
    for (const { face, prob, pts } of ids) {
      const color = COLORS[face % COLORS.length];
      const line = svg('polyline', {
        class: 'series', stroke: color,
        points: pts.map((q) => x(q.t).toFixed(1) + ',' + y(q.p).toFixed(1)).join(' '),
      });
      s.append(line);
      if (pts.length <= 60) {
        for (const q of pts) {
          const c = svg('circle', { cx: x(q.t).toFixed(1), cy: y(q.p).toFixed(1), r: 2.5, fill: color });
          c.append(svg('title', {}, `face ${face + 1}, ${q.t.toFixed(2)} s: ${pct(q.p)}`));
          s.append(c);
        }
      }
      const li = node('li');
      const swatch = node('span', { class: 'swatch' });
      swatch.style.background = color; // CSSOM, not a style attribute: fine under a strict CSP
      li.append(swatch);
      const score = typeof prob === 'number' ? ' (' + pct(prob) + ')' : '';
      li.append(document.createTextNode('Face ' + (face + 1) + score));
      el.legend.append(li);
    }
    el.timeline.append(s);
  }

  // The face images of a job with what is known of each: the server lists them identity by
  // identity, frame by frame (docs/openapi.yaml), so when the counts agree each image gets its
  // face, time and score from the result.
  function faceEntries(job, r) {
    const urls = job && Array.isArray(job.faces) ? job.faces : [];
    const ids = r && Array.isArray(r.identities) ? r.identities : [];
    const frames = [];
    ids.forEach((id, i) => {
      for (const f of Array.isArray(id.frames) ? id.frames : []) frames.push({ face: i, f });
    });
    return urls.map((url, k) => {
      const e = { url, k, face: null, t: null, p: null };
      if (frames.length === urls.length) {
        const { face, f } = frames[k];
        e.face = face;
        e.t = typeof f.time_s === 'number' && !(r && r.whole_image) ? f.time_s : null;
        e.p = typeof f.probability === 'number' ? f.probability : null;
      }
      return e;
    });
  }

  function faceCaption(e) {
    if (e.face === null) return 'Face image ' + (e.k + 1);
    return 'Face ' + (e.face + 1) + (e.t !== null ? ' at ' + e.t.toFixed(2) + ' s' : '') +
      (e.p !== null ? ': ' + pct(e.p) + ' fake' : '');
  }

  // <img src> cannot send Authorization, so with a token the images are fetched and shown from
  // blob: URLs.
  function faceFigure(e, r) {
    const fig = node('figure');
    const cap = faceCaption(e);
    const img = node('img', { alt: cap + ', under its heatmap', loading: 'lazy', width: 112, height: 112 });
    // Short visible caption (time, score); the alt text carries the whole description.
    const figcap = node('figcaption', { 'aria-hidden': 'true' });
    if (e.face === null) {
      figcap.textContent = cap;
    } else {
      const many = r && Array.isArray(r.identities) && r.identities.length > 1;
      figcap.append(node('span', {}, (many ? 'Face ' + (e.face + 1) + ', ' : '') +
        (e.t !== null ? e.t.toFixed(2) + ' s' : '')));
      if (e.p !== null) figcap.append(node('span', {}, pct(e.p) + ' fake'));
    }
    fig.append(img, figcap);
    if (!token()) {
      img.src = e.url;
      return fig;
    }
    fetch(e.url, { headers: authHeaders() })
      .then((res) => (res.ok ? res.blob() : Promise.reject(new Error('HTTP ' + res.status))))
      .then((b) => {
        const u = URL.createObjectURL(b);
        blobUrls.push(u);
        img.src = u;
      })
      .catch(() => { img.alt = cap + ': image unavailable'; });
    return fig;
  }

  // Face crops under their Grad-CAM heatmaps: the most suspicious few first, all on request.
  function renderFaces(job, r) {
    while (blobUrls.length) URL.revokeObjectURL(blobUrls.pop());
    el.faces.textContent = '';
    el.facesAll.textContent = '';
    const entries = faceEntries(job, r);
    el.facesBox.hidden = entries.length === 0;
    const scored = entries.every((e) => e.p !== null);
    let top = entries;
    if (entries.length > FACES_SHOWN) {
      top = scored ? entries.slice().sort((a, b) => b.p - a.p) : entries;
      top = top.slice(0, FACES_SHOWN);
    }
    el.facesNote.textContent = top.length === entries.length ? ''
      : scored ? `The ${top.length} frames scored most likely fake, of ${entries.length}.`
        : `The first ${top.length} of ${entries.length} face images.`;
    for (const e of top) el.faces.append(faceFigure(e, r));
    el.facesMore.hidden = top.length === entries.length;
    el.facesMore.setAttribute('aria-expanded', 'false');
    el.facesMore.textContent = `Show all ${entries.length} frames`;
    el.facesMore.onclick = () => {
      const open = el.facesMore.getAttribute('aria-expanded') !== 'true';
      el.facesMore.setAttribute('aria-expanded', String(open));
      el.facesMore.textContent = open ? 'Hide the other frames' : `Show all ${entries.length} frames`;
      el.facesAll.hidden = !open;
      if (open && !el.facesAll.firstChild) {
        for (const e of entries) el.facesAll.append(faceFigure(e, r));
      }
    };
    el.facesAll.hidden = true;
  }

  // ---- history ----

  function markHistory() {
    for (const b of el.history.querySelectorAll('button')) {
      b.setAttribute('aria-current', b.dataset.id === current ? 'true' : 'false');
    }
  }

  function historyItem(item) {
    const li = node('li');
    const b = node('button', { type: 'button' });
    b.dataset.id = String(item.id);
    const left = node('span', { class: 'name' }, item.file_name || String(item.id));
    left.append(node('span', { class: 'when' }, when(item.created)));
    const verdict = item.verdict || (item.result && item.result.verdict);
    const tag = item.status === 'done' && verdict ? verdict : item.status;
    const prob = item.status === 'done' && typeof item.probability === 'number' ? ' ' + pct(item.probability) : '';
    b.append(left, node('span', { class: 'tag ' + tag }, String(tag || '').replace('_', ' ') + prob));
    b.addEventListener('click', () => show(String(item.id)));
    li.append(b);
    return li;
  }

  async function refreshHistory(more) {
    const offset = more ? historyShown : 0;
    const limit = more ? PAGE : Math.max(PAGE, historyShown);
    let page;
    try {
      page = await api(`${API}/scans?limit=${limit}&offset=${offset}`);
    } catch (e) {
      el.historyEmpty.hidden = false;
      el.historyEmpty.textContent = 'History unavailable: ' + e.message;
      return;
    }
    const items = page && Array.isArray(page.items) ? page.items : [];
    if (!more) {
      el.history.textContent = '';
      historyShown = 0;
    }
    for (const it of items) el.history.append(historyItem(it));
    historyShown += items.length;
    const total = typeof page.total === 'number' ? page.total : historyShown;
    el.historyEmpty.textContent = 'No scans yet.';
    el.historyEmpty.hidden = historyShown > 0;
    el.historyMore.hidden = historyShown >= total || items.length === 0;
    markHistory();
  }

  // ---- wiring ----

  el.file.addEventListener('change', () => scanFile(el.file.files[0]));
  el.drop.addEventListener('dragover', (e) => {
    e.preventDefault();
    el.drop.classList.add('over');
  });
  el.drop.addEventListener('dragleave', () => el.drop.classList.remove('over'));
  el.drop.addEventListener('drop', (e) => {
    e.preventDefault();
    el.drop.classList.remove('over');
    const f = e.dataTransfer && e.dataTransfer.files[0];
    if (f && !el.file.disabled) scanFile(f);
  });
  // A file dropped beside the zone must not navigate away from the page.
  window.addEventListener('dragover', (e) => e.preventDefault());
  window.addEventListener('drop', (e) => e.preventDefault());

  el.del.addEventListener('click', async () => {
    if (!current || !confirm('Delete this scan and its files?')) return;
    try {
      await api(API + '/scans/' + encodeURIComponent(current), { method: 'DELETE' });
      generation++;
      current = null;
      el.result.hidden = true;
      el.progressBox.hidden = true;
      refreshHistory();
    } catch (e) {
      showMessage(e.message);
    }
  });
  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      if (shownResult && !el.timelineBox.hidden) renderTimeline(shownResult);
    }, 150);
  });
  el.historyRefresh.addEventListener('click', () => refreshHistory());
  el.historyMore.addEventListener('click', () => refreshHistory(true));

  el.tokenForm.addEventListener('submit', (e) => {
    e.preventDefault();
    try {
      localStorage.setItem(TOKEN_KEY, el.tokenInput.value.trim());
    } catch (err) {
      showMessage('Cannot store the token: ' + err.message);
    }
    el.tokenPanel.open = false;
    showMessage('');
    loadVersion();
    refreshHistory();
  });
  el.tokenClear.addEventListener('click', () => {
    try {
      localStorage.removeItem(TOKEN_KEY);
    } catch (err) {
      // nothing stored
    }
    el.tokenInput.value = '';
  });
  el.tokenInput.value = token();

  // The footer names the program's and the model's versions once the server tells them.
  const footer = el.version.textContent;
  function loadVersion() {
    api(API + '/version').then((v) => {
      if (!v || !v.version) return;
      const model = v.model && v.model.name ? ', model ' + v.model.name +
        (v.model.version ? ' ' + v.model.version : '') : '';
      el.version.textContent = footer + ' dfdetect ' + v.version + model + '.';
    }).catch(() => {});
  }

  loadVersion();
  refreshHistory();
})();
