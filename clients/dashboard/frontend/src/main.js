// The dashboard page: a Leaflet map over an offline Natural Earth basemap, the terminal list,
// a detail panel with commands. The server pushes batches of changed terminals over a
// WebSocket; a batch is applied in one animation frame and the list is redrawn at most once a
// second, showing the first rows that match the filter, so thousands of terminals that move
// every second do not freeze the page.
import L from 'leaflet';
import 'leaflet/dist/leaflet.css';
import { feature, mesh } from 'topojson-client';
import './style.css';

const LIST_ROWS = 300; // rows drawn at most; the filter finds the others
const LIST_REDRAW_MS = 1000;
const TRACK_POINTS = 50;
const COLORS = { online: '#1f7a3a', offline: '#8a8f98', alarm: '#c62828', selected: '#1565c0' };

const terminals = new Map(); // phone -> {data, marker, track}
let selected = null;
let pending = []; // batches received, not yet applied
let frameRequested = false;
let listDirty = true;
let fitted = false;

const $ = (id) => document.getElementById(id);
const map = L.map('map', { preferCanvas: true, worldCopyJump: true, zoomControl: true });
map.setView([25, 110], 3);
// The basemap has its own canvas under the terminals' one: a moving terminal redraws only the
// terminals' canvas, never the thousands of coastline points beneath it.
map.createPane('basemap').style.zIndex = 250;
const baseRenderer = L.canvas({ pane: 'basemap', padding: 0.5 });
const renderer = L.canvas({ padding: 0.5 });

// ---- basemap ---------------------------------------------------------------------------------

async function loadBasemap(config) {
  if (config.tiles) {
    L.tileLayer(config.tiles, { maxZoom: 19, attribution: 'tiles: configured server' }).addTo(map);
  }
  const world = await (await fetch('/static/world-50m.json')).json();
  const countries = feature(world, world.objects.countries);
  L.geoJSON(countries, {
    renderer: baseRenderer,
    interactive: false,
    style: { color: '#b9c2cc', weight: 0.6, fillColor: '#eef1ea', fillOpacity: config.tiles ? 0 : 1 },
  }).addTo(map);
  const borders = mesh(world, world.objects.countries, (a, b) => a !== b);
  L.geoJSON(borders, { renderer: baseRenderer, interactive: false, style: { color: '#9aa5b1', weight: 0.8 } }).addTo(map);
  map.attributionControl.setPrefix('Leaflet');
  map.attributionControl.addAttribution('Natural Earth');
}

// ---- live data -------------------------------------------------------------------------------

function connect() {
  const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
  const socket = new WebSocket(`${scheme}://${location.host}/api/live`);
  socket.onmessage = (message) => {
    pending.push(JSON.parse(message.data));
    if (!frameRequested) {
      frameRequested = true;
      requestAnimationFrame(applyPending);
    }
  };
  socket.onclose = () => {
    showGateway('the dashboard server is unreachable; retrying…');
    setTimeout(connect, 2000);
  };
}

function applyPending() {
  frameRequested = false;
  const batches = pending;
  pending = [];
  for (const batch of batches) {
    if (batch.type === 'snapshot') {
      for (const entry of terminals.values()) {
        entry.marker.remove();
        entry.track.remove();
      }
      terminals.clear();
    }
    for (const data of batch.terminals) upsert(data);
    showGateway(batch.gateway_problem);
  }
  listDirty = true;
  if (!fitted) fitToTerminals();
  if (selected && terminals.has(selected)) renderDetail(terminals.get(selected).data);
}

function upsert(data) {
  let entry = terminals.get(data.phone);
  const points = data.points.map(([lat, lon]) => [lat, lon]);
  if (!entry) {
    const track = L.polyline([], { renderer, weight: 2, opacity: 0.55, interactive: false }).addTo(map);
    const marker = L.circleMarker([0, 0], { renderer, radius: 6, weight: 2, fillOpacity: 0.9 });
    marker.on('click', () => select(data.phone));
    entry = { data, marker, track, points: [] };
    terminals.set(data.phone, entry);
  }
  const moved = data.whole_track || points.length > 0;
  if (moved) {
    entry.points = data.whole_track ? points : entry.points.concat(points).slice(-TRACK_POINTS);
    entry.track.setLatLngs(entry.points);
  }
  entry.data = data;
  if (data.lat !== null && data.lon !== null) {
    const shown = entry.marker.getLatLng();
    if (shown.lat !== data.lat || shown.lng !== data.lon) entry.marker.setLatLng([data.lat, data.lon]);
    if (!map.hasLayer(entry.marker)) entry.marker.addTo(map);
  }
  style(entry);
}

function style(entry) {
  const { data } = entry;
  const isSelected = data.phone === selected;
  const color = isSelected ? COLORS.selected : data.alarms.length ? COLORS.alarm : data.online ? COLORS.online : COLORS.offline;
  const key = `${color}/${isSelected}`;
  if (entry.styled === key) return; // an unchanged style costs no redraw
  entry.styled = key;
  entry.marker.setStyle({ color: '#ffffff', fillColor: color, radius: isSelected ? 8 : 6 });
  entry.track.setStyle({ color, opacity: isSelected ? 0.9 : 0.45, weight: isSelected ? 3 : 2 });
}

function fitToTerminals() {
  const positions = [...terminals.values()].filter((t) => t.data.lat !== null).map((t) => [t.data.lat, t.data.lon]);
  if (positions.length) {
    map.fitBounds(L.latLngBounds(positions).pad(0.3), { maxZoom: 14 });
    fitted = true;
  }
}

function showGateway(problem) {
  const status = $('gateway-status');
  status.textContent = problem ? problem : 'gateway connected';
  status.classList.toggle('problem', Boolean(problem));
}

// ---- the list --------------------------------------------------------------------------------

function rank(data) {
  return (data.alarms.length ? 0 : 2) + (data.online ? 0 : 1);
}

function redrawList() {
  if (!listDirty) return;
  listDirty = false;
  const query = $('filter').value.trim().toLowerCase();
  const all = [...terminals.values()].map((t) => t.data);
  const matching = query
    ? all.filter((d) => d.phone.includes(query) || d.device_name.toLowerCase().includes(query) || d.alarms.some((a) => a.toLowerCase().includes(query)))
    : all;
  matching.sort((a, b) => rank(a) - rank(b) || a.phone.localeCompare(b.phone));
  const online = all.filter((d) => d.online).length;
  $('counts').textContent = `${online} online · ${all.length - online} offline`;
  $('list-info').textContent =
    matching.length > LIST_ROWS ? `showing ${LIST_ROWS} of ${matching.length}; filter to find the others` : `${matching.length} terminal(s)`;
  const body = document.createElement('tbody');
  for (const data of matching.slice(0, LIST_ROWS)) body.appendChild(row(data));
  $('terminals').replaceChild(body, $('terminals').tBodies[0]);
}

function cell(text, className) {
  const td = document.createElement('td');
  td.textContent = text;
  if (className) td.className = className;
  return td;
}

function row(data) {
  const tr = document.createElement('tr');
  tr.dataset.phone = data.phone;
  tr.className = [data.online ? 'online' : 'offline', data.alarms.length ? 'alarm' : '', data.phone === selected ? 'selected' : ''].join(' ');
  const dot = cell(data.online ? '●' : '○', 'state');
  dot.title = data.online ? 'online' : 'offline';
  tr.append(
    dot,
    cell(data.phone, 'phone'),
    cell(data.device_name || '—'),
    cell(position(data)),
    cell(shortTime(data.time || data.received)),
    cell(data.lat === null ? '' : data.speed.toFixed(1), 'number'),
    cell(words(data.alarms) || '—', 'alarms'),
  );
  tr.addEventListener('click', () => select(data.phone));
  return tr;
}

const position = (d) => (d.lat === null ? "no position yet" : `${d.lat.toFixed(4)}, ${d.lon.toFixed(4)}`);
const words = (flags) => flags.map((f) => f.toLowerCase().replaceAll('_', ' ')).join(', ');

function shortTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString();
}

function longTime(iso) {
  if (!iso) return '—';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? '—' : date.toLocaleString();
}

// ---- the detail panel and commands -------------------------------------------------------------

function select(phone) {
  const previous = selected;
  selected = phone;
  for (const key of [previous, phone]) if (key && terminals.has(key)) style(terminals.get(key));
  const entry = terminals.get(phone);
  if (!entry) return;
  $('detail').hidden = false;
  $('command-status').textContent = '';
  renderDetail(entry.data);
  if (entry.data.lat !== null) map.panTo([entry.data.lat, entry.data.lon]);
  listDirty = true;
}

function renderDetail(data) {
  $('detail-phone').textContent = data.phone;
  $('detail-device').textContent = data.device_name || '—';
  $('detail-online').textContent = data.online ? 'online' : 'offline';
  $('detail-position').textContent = data.lat === null ? 'no position yet' : `${data.lat.toFixed(6)}, ${data.lon.toFixed(6)}`;
  $('detail-time').textContent = longTime(data.time);
  $('detail-received').textContent = longTime(data.received);
  $('detail-speed').textContent = data.lat === null ? '—' : `${data.speed.toFixed(1)} km/h, heading ${data.direction}°`;
  $('detail-alarms').textContent = words(data.alarms) || 'none';
  $('detail-status').textContent = words(data.status) || '—';
}

async function command(path, body) {
  const status = $('command-status');
  const phone = selected;
  status.className = 'command-status busy';
  status.textContent = `waiting for ${phone}…`;
  try {
    const response = await fetch(`/api/terminals/${encodeURIComponent(phone)}/${path}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error || `HTTP ${response.status}`);
    status.className = 'command-status ok';
    return answer;
  } catch (error) {
    status.className = 'command-status failed';
    status.textContent = `failed: ${error.message}`;
    return null;
  }
}

$('text-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const text = $('text-input').value;
  const answer = await command('text', { text });
  if (answer) $('command-status').textContent = `terminal answered the text message: ${answer.result}`;
});

$('query-location').addEventListener('click', async () => {
  const answer = await command('query-location', {});
  if (answer) {
    const where = answer.location;
    $('command-status').textContent = `terminal is at ${where.latitude.toFixed(6)}, ${where.longitude.toFixed(6)}`;
  }
});

$('close-detail').addEventListener('click', () => {
  const previous = selected;
  selected = null;
  if (previous && terminals.has(previous)) style(terminals.get(previous));
  $('detail').hidden = true;
  listDirty = true;
});

$('filter').addEventListener('input', () => {
  listDirty = true;
  redrawList();
});

// ---- start -----------------------------------------------------------------------------------

(async () => {
  const config = await (await fetch('/api/config')).json();
  document.title = `jt808 dashboard · ${config.gateway}`;
  connect();
  setInterval(redrawList, LIST_REDRAW_MS);
  await loadBasemap(config);
})();
