// The page of `bike serve`: upload a video, play it, show the top-5, the sampled frames with the
// saliency of the top class, a timeline band, and re-score the uploaded clip with typed class names.
'use strict';
const $ = (id) => document.getElementById(id);
const state = { clip: null, file: null, url: null };
const COLOURS = [
  '#e63946',
  '#457b9d',
  '#2a9d8f',
  '#e9c46a',
  '#8d5fd3',
  '#f4a261',
  '#1d3557',
  '#6a994e',
  '#bc4749',
  '#577590',
];

function setStatus(text, error) {
  const status = $('status');
  status.textContent = text;
  status.className = error ? 'error' : 'muted';
}

async function call(url, options) {
  const response = await fetch(url, options);
  // eslint-disable-next-line no-useless-assignment -- the initial value is the path where nothing is assigned below
  let body = null;
  try {
    body = await response.json();
  } catch (_) {
    body = { error: `${response.status} ${response.statusText}` };
  }
  if (!response.ok) throw new Error(body.error || `${response.status}`);
  return body;
}

function showBars(top) {
  const bars = $('bars');
  bars.textContent = '';
  bars.setAttribute('data-count', String(top.length));
  for (const c of top) {
    const row = document.createElement('div');
    row.className = 'bar';
    row.setAttribute('data-name', c.name);
    row.setAttribute('data-probability', String(c.probability));
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = c.name;
    const track = document.createElement('div');
    track.className = 'track';
    const fill = document.createElement('div');
    fill.className = 'fill';
    fill.style.width = `${(100 * c.probability).toFixed(2)}%`;
    track.appendChild(fill);
    const value = document.createElement('span');
    value.className = 'value';
    value.textContent = `${(100 * c.probability).toFixed(1)}%`;
    row.append(name, track, value);
    bars.appendChild(row);
  }
}

/** Seeks a second video element to each sampled frame's time and draws it, with the saliency bar below. */
async function showStrip(frames, saliency) {
  const strip = $('strip');
  strip.textContent = '';
  strip.setAttribute('data-frames', String(frames.length));
  $('saliency-class').textContent = saliency ? `"${saliency.name}"` : '';
  const weights = saliency ? saliency.weights : frames.map(() => 0);
  const most = Math.max(...weights, 1e-9);
  const canvases = frames.map((f, i) => {
    const cell = document.createElement('div');
    cell.className = 'frame';
    const canvas = document.createElement('canvas');
    canvas.width = 160;
    canvas.height = 120;
    const bar = document.createElement('div');
    bar.className = 'saliency-cell';
    bar.title = `frame ${f.index}: ${weights[i].toFixed(3)}`;
    const fill = document.createElement('div');
    fill.className = 'fill';
    fill.style.height = `${((100 * weights[i]) / most).toFixed(1)}%`;
    bar.appendChild(fill);
    const label = document.createElement('span');
    label.textContent = f.timestamp === null ? `#${f.index}` : `${f.timestamp.toFixed(2)} s`;
    cell.append(canvas, bar, label);
    strip.appendChild(cell);
    return canvas;
  });
  const probe = document.createElement('video');
  probe.muted = true;
  probe.src = state.url;
  await new Promise((resolve) => {
    probe.onloadeddata = resolve;
    probe.onerror = resolve;
    setTimeout(resolve, 5000);
  });
  for (let i = 0; i < frames.length; i++) {
    const t = frames[i].timestamp;
    if (t === null || !(probe.videoWidth > 0)) continue;
    await new Promise((resolve) => {
      probe.onseeked = resolve;
      probe.currentTime = t + 1e-3;
      setTimeout(resolve, 2000);
    });
    const ctx = canvases[i].getContext('2d');
    ctx.drawImage(probe, 0, 0, canvases[i].width, canvases[i].height);
    canvases[i].setAttribute('data-drawn', 'true');
  }
}

function showTimeline(timeline) {
  const band = $('timeline');
  const legend = $('timeline-legend');
  band.textContent = '';
  legend.textContent = '';
  const labels = [...new Set(timeline.windows.map((w) => w.label))];
  const colour = (label) => COLOURS[labels.indexOf(label) % COLOURS.length];
  // Each stretch of time takes the label of the latest window starting before it.
  const cuts = timeline.windows.map((w, i) => ({
    start: w.start,
    end: i + 1 < timeline.windows.length ? timeline.windows[i + 1].start : timeline.duration,
    label: w.label,
  }));
  for (const c of cuts) {
    const seg = document.createElement('div');
    seg.className = 'segment';
    seg.setAttribute('data-label', c.label);
    seg.title = `${c.start.toFixed(1)}-${c.end.toFixed(1)} s: ${c.label}`;
    seg.style.width = `${((100 * (c.end - c.start)) / timeline.duration).toFixed(3)}%`;
    seg.style.background = colour(c.label);
    seg.onclick = () => {
      $('player').currentTime = c.start;
    };
    band.appendChild(seg);
  }
  for (const label of labels) {
    const item = document.createElement('span');
    item.style.setProperty('--c', colour(label));
    item.textContent = label;
    legend.appendChild(item);
  }
  band.setAttribute('data-windows', String(timeline.windows.length));
}

function showResult(result) {
  state.clip = result.clip;
  showBars(result.top);
  $('timings').textContent =
    `decode ${result.timings.decodeMs} ms, model ${result.timings.modelMs} ms (batch of ${result.batch})`;
  document.body.setAttribute('data-state', 'classified');
  return showStrip(result.frames, result.saliency[0]);
}

async function classify(file) {
  state.file = file;
  if (state.url) URL.revokeObjectURL(state.url);
  state.url = URL.createObjectURL(file);
  $('player').src = state.url;
  $('result').hidden = false;
  document.body.setAttribute('data-state', 'working');
  setStatus(`classifying ${file.name}…`);
  const body = new FormData();
  body.append('top', '5');
  body.append('file', file, file.name);
  try {
    const result = await call('/v1/classify', { method: 'POST', body });
    await showResult(result);
    setStatus(`${file.name}: ${result.top[0].name} (${(100 * result.top[0].probability).toFixed(1)}%)`);
    const line = new FormData();
    line.append('window', '1');
    line.append('stride', '0.5');
    line.append('file', file, file.name);
    try {
      showTimeline(await call('/v1/timeline', { method: 'POST', body: line }));
    } catch (error) {
      $('timeline-legend').textContent = `timeline: ${error.message}`;
    }
    document.body.setAttribute('data-state', 'done');
  } catch (error) {
    setStatus(error.message, true);
    document.body.setAttribute('data-state', 'error');
  }
}

async function rescore(event) {
  event.preventDefault();
  const labels = $('labels')
    .value.split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
  if (!state.clip) return setStatus('classify a video first', true);
  document.body.setAttribute('data-state', 'working');
  try {
    const result = await call('/v1/rescore', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ clip: state.clip, labels, top: 5 }),
    });
    await showResult(result);
    setStatus(`re-scored against ${labels.length} class names: ${result.top[0].name}`);
    document.body.setAttribute('data-state', 'rescored');
  } catch (error) {
    setStatus(error.message, true);
    document.body.setAttribute('data-state', 'error');
  }
}

$('file').addEventListener('change', () => {
  if ($('file').files[0]) classify($('file').files[0]);
});
const drop = $('drop');
drop.addEventListener('dragover', (e) => {
  e.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (e) => {
  e.preventDefault();
  drop.classList.remove('over');
  if (e.dataTransfer.files[0]) classify(e.dataTransfer.files[0]);
});
$('rescore').addEventListener('submit', rescore);
call('/v1/model').then(
  (m) => {
    $('model').textContent =
      `${m.mode === 'trained' ? 'trained BIKE' : 'zero-shot CLIP'} ${m.architecture}, ${m.classes.length} classes, ${m.frames} frames per clip, ${m.device} ${m.precision}`;
    $('labels').value = m.classes.slice(0, 10).join('\n');
  },
  (error) => setStatus(`model: ${error.message}`, true),
);
