// The MoCo4J serve page: a paged grid of the indexed images, their nearest neighbours, a search by upload and a
// 2-D map. Talks only to the JSON API of the same server; no external scripts (works offline).
'use strict';

const PAGE = 200;
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7',
  '#9c755f', '#bab0ac', '#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#8c564b', '#17becf'];
const state = { total: 0, page: 0, k: 12, classes: [], map: null, selected: null, highlighted: [] };

const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function message(text) {
  $('message').textContent = text || '';
}

async function api(url, options) {
  const response = await fetch(url, options);
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || ('HTTP ' + response.status));
  return body;
}

function color(label) {
  const i = state.classes.indexOf(label);
  return i < 0 ? '#6b7280' : PALETTE[i % PALETTE.length];
}

async function loadPage(page) {
  const data = await api('/api/images?offset=' + page * PAGE + '&limit=' + PAGE);
  state.total = data.total;
  state.k = data.k;
  state.classes = data.classes;
  state.page = page;
  $('summary').textContent = data.title + ': ' + data.total + ' images' +
    (data.classes.length ? ' in ' + data.classes.length + ' classes' : '') + ', ' + data.dimension + '-d embeddings, k = ' + data.k;
  const pages = Math.max(1, Math.ceil(data.total / PAGE));
  $('page-info').textContent = 'page ' + (page + 1) + ' of ' + pages;
  $('prev').disabled = page === 0;
  $('next').disabled = page + 1 >= pages;
  const grid = $('grid');
  grid.replaceChildren();
  for (const image of data.images) {
    const cell = el('figure', 'cell');
    cell.dataset.id = image.id;
    const img = el('img');
    img.src = '/image/' + image.id;
    img.loading = 'lazy';
    img.alt = image.path;
    img.title = image.path + (image.label ? ' (' + image.label + ')' : '');
    cell.append(img, el('figcaption', '', image.label || image.path.split('/').pop()));
    cell.addEventListener('click', () => showNeighbors(image.id));
    grid.append(cell);
  }
  if (data.purity) showPurity(data.purity);
  markSelected();
}

function showPurity(purity) {
  const box = $('purity');
  box.replaceChildren();
  const table = el('table');
  const head = el('tr');
  head.append(el('th', '', 'class'), el('th', '', 'kNN purity (k = ' + purity.k + ')'), el('th', '', ''));
  table.append(head);
  const rows = Object.entries(purity.classes);
  rows.push(['all images', purity.overall]);
  for (const [name, value] of rows) {
    const tr = el('tr');
    const bar = el('div', 'bar');
    bar.style.width = Math.round(value * 100) + '%';
    const barCell = el('td');
    barCell.append(bar);
    tr.append(el('td', '', name), barCell, el('td', 'num', (value * 100).toFixed(1) + '%'));
    table.append(tr);
  }
  box.append(table);
}

function markSelected() {
  for (const cell of document.querySelectorAll('#grid .cell')) {
    cell.classList.toggle('selected', Number(cell.dataset.id) === state.selected);
  }
}

function renderQuery(src, title, label) {
  const q = $('query');
  q.replaceChildren();
  const img = el('img');
  img.src = src;
  img.alt = title;
  const what = el('div', 'what');
  what.append(el('strong', '', title), el('br'), document.createTextNode(label ? 'class: ' + label : ''));
  q.append(img, what);
}

function renderNeighbors(neighbors, queryLabel, queryId) {
  const box = $('neighbors');
  box.replaceChildren();
  for (const n of neighbors) {
    const fig = el('figure', 'neighbor' + (queryLabel && n.label ? (n.label === queryLabel ? ' same' : ' other') : ''));
    fig.dataset.id = n.id;
    fig.dataset.score = n.score;
    const img = el('img');
    img.src = '/image/' + n.id;
    img.alt = n.path;
    img.title = n.path + (n.label ? ' (' + n.label + ')' : '');
    const cap = el('figcaption');
    cap.append(el('span', 'label', n.label || n.path.split('/').pop()), el('span', 'score', n.score.toFixed(3)));
    fig.append(img, cap);
    fig.addEventListener('click', () => showNeighbors(n.id));
    box.append(fig);
  }
  box.dataset.query = queryId === null ? 'upload' : String(queryId);
  state.highlighted = neighbors.map((n) => n.id);
  drawMap();
}

async function showNeighbors(id) {
  message('');
  try {
    const data = await api('/api/neighbors/' + id + '?k=' + state.k);
    state.selected = id;
    markSelected();
    renderQuery('/image/' + id, data.query.path, data.query.label);
    renderNeighbors(data.neighbors, data.query.label, id);
  } catch (e) {
    message(e.message);
  }
}

async function searchWith(file) {
  message('');
  try {
    const data = await api('/api/search?k=' + state.k, { method: 'POST', body: file });
    state.selected = null;
    markSelected();
    renderQuery(URL.createObjectURL(file), file.name || 'your image', null);
    renderNeighbors(data.neighbors, null, null);
  } catch (e) {
    message(e.message);
  }
}

// ---- map ----
const thumbs = new Map();

async function loadMap() {
  if (state.map) return;
  state.map = await api('/api/map');
  const n = state.map.x.length;
  // Thumbnails for at most 1500 images (evenly spread over the ids); every image is a dot.
  const stride = Math.max(1, Math.ceil(n / 1500));
  let loaded = 0;
  const wanted = Math.ceil(n / stride);
  for (let i = 0; i < n; i += stride) {
    const img = new Image();
    img.onload = img.onerror = () => {
      loaded++;
      document.body.dataset.mapThumbs = loaded + '/' + wanted; // lets tests and screenshots wait for them
      scheduleDraw();
    };
    img.src = '/image/' + i;
    thumbs.set(i, img);
  }
  const legend = $('legend');
  legend.replaceChildren();
  for (const c of state.classes) {
    const item = el('span');
    const sw = el('span', 'swatch');
    sw.style.background = color(c);
    item.append(sw, document.createTextNode(c));
    legend.append(item);
  }
  drawMap();
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawMap(); });
}

const MARGIN = 24;
function toCanvas(i, canvas) {
  const s = canvas.width - 2 * MARGIN;
  return [MARGIN + state.map.x[i] * s, MARGIN + (1 - state.map.y[i]) * s];
}

function drawMap() {
  const canvas = $('map');
  if (!state.map || $('map-view').hidden) return;
  const ctx = canvas.getContext('2d');
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const n = state.map.x.length;
  const labels = state.map.labels;
  for (let i = 0; i < n; i++) {
    const [x, y] = toCanvas(i, canvas);
    ctx.fillStyle = labels[i] >= 0 ? PALETTE[labels[i] % PALETTE.length] : '#6b7280';
    ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
  }
  const T = 18;
  for (const [i, img] of thumbs) {
    if (!img.complete || img.naturalWidth === 0) continue;
    const [x, y] = toCanvas(i, canvas);
    ctx.drawImage(img, x - T / 2, y - T / 2, T, T);
    ctx.strokeStyle = labels[i] >= 0 ? PALETTE[labels[i] % PALETTE.length] : '#6b7280';
    ctx.lineWidth = 1.5;
    ctx.strokeRect(x - T / 2, y - T / 2, T, T);
  }
  ctx.lineWidth = 2.5;
  for (const i of state.highlighted) {
    const [x, y] = toCanvas(i, canvas);
    ctx.strokeStyle = '#111';
    ctx.beginPath();
    ctx.arc(x, y, 7, 0, 2 * Math.PI);
    ctx.stroke();
  }
  if (state.selected !== null) {
    const [x, y] = toCanvas(state.selected, canvas);
    ctx.strokeStyle = '#2d5bff';
    ctx.lineWidth = 4;
    ctx.beginPath();
    ctx.arc(x, y, 11, 0, 2 * Math.PI);
    ctx.stroke();
  }
}

function mapClick(event) {
  const canvas = $('map');
  const rect = canvas.getBoundingClientRect();
  const cx = (event.clientX - rect.left) * canvas.width / rect.width;
  const cy = (event.clientY - rect.top) * canvas.height / rect.height;
  let best = -1;
  let bestD = 14 * 14;
  for (let i = 0; i < state.map.x.length; i++) {
    const [x, y] = toCanvas(i, canvas);
    const d = (x - cx) * (x - cx) + (y - cy) * (y - cy);
    if (d < bestD) { bestD = d; best = i; }
  }
  if (best >= 0) showNeighbors(best);
}

function showTab(name) {
  $('tab-grid').classList.toggle('active', name === 'grid');
  $('tab-map').classList.toggle('active', name === 'map');
  $('grid-view').hidden = name !== 'grid';
  $('map-view').hidden = name !== 'map';
  if (name === 'map') loadMap().catch((e) => message(e.message));
}

function init() {
  $('prev').addEventListener('click', () => loadPage(state.page - 1));
  $('next').addEventListener('click', () => loadPage(state.page + 1));
  $('tab-grid').addEventListener('click', () => showTab('grid'));
  $('tab-map').addEventListener('click', () => showTab('map'));
  $('map').addEventListener('click', mapClick);
  $('file').addEventListener('change', (e) => { if (e.target.files[0]) searchWith(e.target.files[0]); });
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => {
    e.preventDefault();
    drop.classList.remove('over');
    if (e.dataTransfer.files[0]) searchWith(e.dataTransfer.files[0]);
  });
  loadPage(0).then(() => { document.body.dataset.ready = 'true'; }).catch((e) => message(e.message));
}

init();
