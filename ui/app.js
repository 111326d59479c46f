// The inspection page: reads the exporter's JSON API (views of its last poll; no KMS traffic)
// and renders with textContent only. The one markup it inserts is the server's pipeline SVG,
// escaped server-side and parsed as XML (never as HTML), so KMS names cannot become markup.
'use strict';

(() => {
  const API = '../api/v1';
  const enc = encodeURIComponent;
  let refreshMs = 15000;
  let timer = null;
  let generation = 0;
  // Sort and filter choices survive refreshes.
  const sorts = { fleet: { key: 'kms', dir: 1 }, pipelines: { key: 'zombie', dir: 1 } };
  let nameFilter = '';

  // --- DOM helpers ---------------------------------------------------------------------------

  function h(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
      else node.setAttribute(key, value);
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const link = (href, text) => h('a', { href }, text);

  // --- formatting ----------------------------------------------------------------------------

  const dash = '—';
  const num = (v, digits = 0) => (v === null || v === undefined ? dash : Number(v).toFixed(digits));
  const pct = (ratio) => (ratio === null || ratio === undefined ? dash : (ratio * 100).toFixed(1) + ' %');
  const ms = (seconds) => (seconds === null || seconds === undefined ? dash : (seconds * 1000).toFixed(1) + ' ms');
  const kbps = (bps) => (bps === null || bps === undefined ? dash : (bps / 1000).toFixed(0) + ' kbit/s');
  const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : dash);

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return dash;
    const s = Math.max(0, Math.round(seconds));
    if (s < 120) return s + ' s';
    if (s < 7200) return Math.round(s / 60) + ' min';
    if (s < 172800) return (s / 3600).toFixed(1) + ' h';
    return (s / 86400).toFixed(1) + ' d';
  }

  const now = () => Date.now() / 1000;
  const ago = (unix) => (unix ? 'as of ' + duration(now() - unix) + ' ago' : 'no data yet');

  // The data age keeps counting between refreshes.
  function ageNode(unix) {
    return h('span', { class: 'as-of', 'data-as-of': unix || '' }, ago(unix));
  }
  setInterval(() => {
    for (const node of document.querySelectorAll('[data-as-of]')) {
      node.textContent = ago(Number(node.getAttribute('data-as-of')));
    }
  }, 1000);

  function upNode(up) {
    return up ? h('span', { class: 'up' }, 'up') : h('span', { class: 'down' }, 'DOWN');
  }

  function zombieBadge(zombie) {
    return zombie ? h('span', { class: 'zombie-badge', title: 'zombie since ' + new Date(zombie.since_unix_seconds * 1000).toISOString() }, '⚠ zombie: ' + zombie.reason) : null;
  }

  // --- data ----------------------------------------------------------------------------------

  async function getJson(path) {
    const response = await fetch(path, { cache: 'no-store', headers: { Accept: 'application/json' } });
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    return response.json();
  }

  async function getSvg(path) {
    const response = await fetch(path, { cache: 'no-store' });
    if (!response.ok) throw new Error(path + ': HTTP ' + response.status);
    const doc = new DOMParser().parseFromString(await response.text(), 'image/svg+xml');
    if (doc.getElementsByTagName('parsererror').length > 0 || doc.documentElement.localName !== 'svg') {
      throw new Error('the graph is not valid SVG');
    }
    return document.importNode(doc.documentElement, true);
  }

  // --- sortable tables -----------------------------------------------------------------------

  // columns: [{key, label, num, value(row) -> sortable, cell(row) -> node|text}]
  function table(name, columns, rows, rowClass) {
    const sort = sorts[name];
    if (sort) {
      const column = columns.find((c) => c.key === sort.key);
      if (column) {
        rows = rows.slice().sort((a, b) => {
          const x = column.value(a), y = column.value(b);
          if (x === y) return 0;
          if (x === null || x === undefined) return 1;
          if (y === null || y === undefined) return -1;
          return (x < y ? -1 : 1) * sort.dir;
        });
      }
    }
    const head = columns.map((c) => {
      const sorted = sort && sort.key === c.key;
      const label = sort && c.value
        ? h('button', { type: 'button', onclick: () => { sort.dir = sorted ? -sort.dir : 1; sort.key = c.key; render(); } }, c.label)
        : c.label;
      return h('th', { class: c.num ? 'num' : null, scope: 'col', 'aria-sort': sorted ? (sort.dir > 0 ? 'ascending' : 'descending') : null }, label);
    });
    const body = rows.map((row) => h('tr', { class: rowClass ? rowClass(row) : null },
      columns.map((c) => h('td', { class: c.num ? 'num' : null }, c.cell(row)))));
    return h('div', { class: 'scroll' }, h('table', { 'data-table': name }, h('thead', {}, h('tr', {}, head)), h('tbody', {}, body)));
  }

  // --- routes --------------------------------------------------------------------------------

  function parseRoute() {
    const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map((p) => {
      try { return decodeURIComponent(p); } catch { return p; }
    });
    if (parts[0] === 'kms' && parts.length >= 2) {
      if (parts[2] === 'pipeline' && parts.length >= 4) return { view: 'pipeline', kms: parts[1], id: parts[3] };
      return { view: 'kms', kms: parts[1] };
    }
    return { view: 'fleet' };
  }

  const kmsHref = (kms) => '#/kms/' + enc(kms);
  const pipelineHref = (kms, id) => kmsHref(kms) + '/pipeline/' + enc(id);

  function crumbs(route, pipelineName) {
    const items = [link('#/', 'Fleet')];
    if (route.kms !== undefined) items.push(route.view === 'kms' ? h('span', {}, route.kms) : link(kmsHref(route.kms), route.kms));
    if (route.view === 'pipeline') items.push(h('span', {}, pipelineName || route.id));
    return items;
  }

  // --- fleet view ----------------------------------------------------------------------------

  async function fleetView() {
    const targets = await getJson(API + '/targets');
    const columns = [
      { key: 'kms', label: 'KMS', value: (t) => t.kms, cell: (t) => link(kmsHref(t.kms), t.kms) },
      { key: 'up', label: 'State', value: (t) => (t.up ? 1 : 0), cell: (t) => upNode(t.up) },
      { key: 'source', label: 'Source', value: (t) => t.source, cell: (t) => t.source || dash },
      { key: 'version', label: 'Version', value: (t) => t.version, cell: (t) => t.version || dash },
      { key: 'pipelines', label: 'Pipelines', num: true, value: (t) => t.pipelines, cell: (t) => num(t.pipelines) },
      { key: 'webrtc', label: 'WebRTC endpoints', num: true, value: (t) => t.webrtc_endpoints, cell: (t) => num(t.webrtc_endpoints) },
      { key: 'zombies', label: 'Zombie pipelines', num: true, value: (t) => t.zombie_pipelines, cell: (t) => num(t.zombie_pipelines) },
      { key: 'zombie_elements', label: 'Zombie elements', num: true, value: (t) => t.zombie_elements, cell: (t) => num(t.zombie_elements) },
      { key: 'transcoding', label: 'Transcoding', num: true, value: (t) => t.transcoding_elements, cell: (t) => num(t.transcoding_elements) },
      { key: 'mos', label: 'Worst MOS', num: true, value: (t) => t.worst_mos, cell: (t) => num(t.worst_mos, 2) },
      { key: 'age', label: 'Data', value: (t) => -t.as_of_unix_seconds, cell: (t) => ageNode(t.as_of_unix_seconds) },
      { key: 'error', label: 'Last error', value: (t) => t.last_error, cell: (t) => t.last_error || dash },
    ];
    const down = targets.filter((t) => !t.up).length;
    return {
      title: 'Fleet',
      nodes: [
        h('h1', {}, 'Fleet'),
        h('p', { class: 'muted' }, targets.length + ' KMS watched' + (down ? ', ' + down + ' down' : '') + '. Select a KMS to see its pipelines.'),
        table('fleet', columns, targets, (t) => (t.up ? null : 'down-row')),
      ],
    };
  }

  // --- KMS view ------------------------------------------------------------------------------

  async function kmsView(route) {
    const base = API + '/targets/' + enc(route.kms);
    const [list, worst, zombies] = await Promise.all([
      getJson(base + '/pipelines'), getJson(base + '/streams/worst'), getJson(base + '/zombies'),
    ]);
    const nodes = [h('h1', {}, 'KMS ', h('code', {}, route.kms))];
    nodes.push(h('div', { class: 'summary' }, h('div', {}, 'State: ', upNode(list.up)), h('div', {}, ageNode(list.as_of_unix_seconds))));
    if (!list.up) nodes.push(h('p', { class: 'banner', role: 'alert' }, 'KMS is down or not answering: nothing below is current.'));

    // Zombies: what an operator needs to release them.
    nodes.push(h('h2', {}, 'Zombies'));
    const zp = zombies.pipelines || [];
    const ze = (zombies.elements || []).filter((e) => !zp.some((p) => p.id === e.pipeline));
    if (zombies.pipelines === null) nodes.push(h('p', { class: 'muted' }, 'Unknown while KMS is unreachable.'));
    else if (zp.length === 0 && ze.length === 0) nodes.push(h('p', {}, 'No zombie pipeline or element.'));
    else {
      const zombieRows = zp.map((p) => ({ kind: 'pipeline', id: p.id, pipeline: p.id, name: p.name, reason: p.reason, since: p.zombie_since }))
        .concat(ze.map((e) => ({ kind: e.element_type, id: e.id, pipeline: e.pipeline, name: null, reason: e.reason, since: e.zombie_since })));
      nodes.push(table('zombies', [
        { key: 'what', label: 'What', cell: (z) => z.kind },
        { key: 'name', label: 'Pipeline', cell: (z) => link(pipelineHref(route.kms, z.pipeline), z.name || z.pipeline) },
        { key: 'id', label: 'Id', cell: (z) => h('code', {}, z.id) },
        { key: 'reason', label: 'Reason', cell: (z) => h('span', { class: 'zombie-badge' }, z.reason) },
        { key: 'since', label: 'Zombie for', num: true, cell: (z) => duration(list.as_of_unix_seconds - z.since) },
      ], zombieRows, () => 'zombie'));
    }

    nodes.push(h('h2', {}, 'Worst streams now'));
    const streams = worst.streams || [];
    if (streams.length === 0) nodes.push(h('p', { class: 'muted' }, worst.streams === null ? 'Unknown while KMS is unreachable.' : 'No scored stream.'));
    else nodes.push(table('worst', [
      { key: 'mos', label: 'MOS', num: true, cell: (s) => num(s.mos, 2) },
      { key: 'media', label: 'Media', cell: (s) => (s.media || dash) + ' ' + (s.direction || '') },
      { key: 'loss', label: 'Loss', num: true, cell: (s) => pct(s.loss_ratio) },
      { key: 'jitter', label: 'Jitter', num: true, cell: (s) => ms(s.jitter_seconds) },
      { key: 'rtt', label: 'RTT', num: true, cell: (s) => ms(s.round_trip_seconds) },
      { key: 'element', label: 'Element', cell: (s) => s.element_type },
      { key: 'pipeline', label: 'Pipeline', cell: (s) => link(pipelineHref(route.kms, s.pipeline), s.pipeline_name || s.pipeline) },
    ], streams));

    nodes.push(h('h2', {}, 'Pipelines'));
    const pipelines = list.pipelines || [];
    const focused = document.activeElement && document.activeElement.id === 'name-filter';
    const input = h('input', { id: 'name-filter', type: 'search', placeholder: 'name or id contains…', value: nameFilter });
    const columns = [
      { key: 'name', label: 'Name', value: (p) => (p.name || p.id).toLowerCase(), cell: (p) => link(pipelineHref(route.kms, p.id), p.name || p.id) },
      { key: 'zombie', label: 'Zombie', value: (p) => (p.zombie ? 0 : 1), cell: (p) => zombieBadge(p.zombie) || 'no' },
      { key: 'age', label: 'Age', num: true, value: (p) => p.age_seconds, cell: (p) => duration(p.age_seconds) },
      { key: 'elements', label: 'Elements', num: true, value: (p) => p.elements, cell: (p) => num(p.elements) },
      { key: 'types', label: 'Types', cell: (p) => Object.entries(p.elements_by_type || {}).map(([t, n]) => n + '× ' + t).join(', ') || dash },
      { key: 'flowing', label: 'Media in / out', cell: (p) => (p.flowing ? yesNo(p.flowing.in) + ' / ' + yesNo(p.flowing.out) : dash) },
      { key: 'transcoding', label: 'Transcoding', value: (p) => (p.transcoding ? 0 : 1), cell: (p) => yesNo(p.transcoding) },
      { key: 'mos', label: 'Worst MOS', num: true, value: (p) => p.worst_mos, cell: (p) => num(p.worst_mos, 2) },
    ];
    const shown = () => pipelines.filter((p) => {
      const needle = nameFilter.trim().toLowerCase();
      return needle === '' || (p.name || '').toLowerCase().includes(needle) || p.id.toLowerCase().includes(needle);
    });
    const holder = h('div', {}, table('pipelines', columns, shown(), (p) => (p.zombie ? 'zombie' : null)));
    input.addEventListener('input', () => {
      nameFilter = input.value;
      holder.replaceChildren(table('pipelines', columns, shown(), (p) => (p.zombie ? 'zombie' : null)));
    });
    nodes.push(h('p', { class: 'filter' }, h('label', { for: 'name-filter' }, 'Filter by name: '), input));
    nodes.push(list.pipelines === null ? h('p', { class: 'muted' }, 'Unknown while KMS is unreachable.') : holder);
    return { title: 'KMS ' + route.kms, nodes, after: () => { if (focused) input.focus(); } };
  }

  // --- pipeline view -------------------------------------------------------------------------

  function elementCard(e, asOf) {
    const facts = [
      ['Type', e.type],
      ['Id', h('code', {}, e.id)],
    ];
    if (e.hub) facts.push(['Hub', h('code', {}, e.hub)]);
    if (!e.read) facts.push(['Readings', 'not read (hubs have none, or the read failed)']);
    for (const [key, label] of [['media_state', 'Media state'], ['connection_state', 'Connection'], ['ice_state', 'ICE'], ['uri_state', 'URI state']]) {
      if (e[key]) facts.push([label, e[key]]);
    }
    if (e.flowing) {
      const f = (dir) => 'audio ' + yesNo(e.flowing[dir].audio) + ', video ' + yesNo(e.flowing[dir].video);
      facts.push(['Flowing in', f('in')], ['Flowing out', f('out')]);
    }
    if (e.transcoding) facts.push(['Transcoding', 'audio ' + yesNo(e.transcoding.audio) + ', video ' + yesNo(e.transcoding.video)]);
    for (const pair of e.selected_pairs || []) {
      facts.push(['ICE pair', (pair.local_type || '?') + ' ' + (pair.local_address || '') + ' ↔ ' + (pair.remote_type || '?') + ' ' + (pair.remote_address || '')]);
    }
    if (e.worst_mos !== null && e.worst_mos !== undefined) facts.push(['Worst MOS', num(e.worst_mos, 2)]);
    if (e.zombie) facts.push(['Zombie for', duration(asOf - e.zombie.since_unix_seconds)]);
    const card = h('section', { class: e.zombie ? 'card zombie' : 'card', 'data-element': e.id, 'aria-label': e.type + ' ' + e.id },
      h('h3', {}, e.type, ' ', zombieBadge(e.zombie)),
      h('dl', {}, facts.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])));
    const streams = e.streams || [];
    if (streams.length > 0) {
      card.append(table('streams', [
        { key: 'media', label: 'Media', cell: (s) => s.media || dash },
        { key: 'direction', label: 'Direction', cell: (s) => s.direction || dash },
        { key: 'bitrate', label: 'Bitrate', num: true, cell: (s) => kbps(s.bitrate_bps) },
        { key: 'loss', label: 'Loss', num: true, cell: (s) => pct(s.loss_ratio) },
        { key: 'jitter', label: 'Jitter', num: true, cell: (s) => ms(s.jitter_seconds) },
        { key: 'rtt', label: 'RTT', num: true, cell: (s) => ms(s.round_trip_seconds) },
        { key: 'mos', label: 'MOS', num: true, cell: (s) => num(s.mos, 2) },
      ], streams));
    }
    return card;
  }

  async function pipelineView(route) {
    const path = API + '/targets/' + enc(route.kms) + '/pipelines/' + enc(route.id);
    const [graph, svg] = await Promise.all([getJson(path), getSvg(path + '/graph.svg')]);
    const p = graph.pipeline;
    const nodes = [h('h1', {}, 'Pipeline ', p.name || p.id, ' ', zombieBadge(p.zombie))];
    nodes.push(h('div', { class: 'summary' },
      h('div', {}, 'KMS ', upNode(graph.up)),
      h('div', {}, 'Id ', h('code', {}, p.id)),
      h('div', {}, 'Age ', duration(p.age_seconds)),
      h('div', {}, 'Elements ', num(p.elements)),
      h('div', {}, 'Worst MOS ', num(p.worst_mos, 2)),
      h('div', {}, ageNode(graph.as_of_unix_seconds))));
    if (!graph.up) nodes.push(h('p', { class: 'banner', role: 'alert' }, 'KMS is down or not answering: nothing below is current.'));
    nodes.push(h('h2', {}, 'Graph'));
    nodes.push(h('p', { class: 'muted' }, 'Edges: green solid = media flowing, red dashed with ✕ = not flowing, grey dotted = unknown. Hover for details.'));
    nodes.push(h('div', { class: 'graph', id: 'graph' }, svg));
    nodes.push(h('h2', {}, 'Elements'));
    nodes.push(h('div', { class: 'cards' }, graph.elements.map((e) => elementCard(e, graph.as_of_unix_seconds))));
    const connections = graph.connections || [];
    nodes.push(h('details', {}, h('summary', {}, connections.length + ' connections'),
      table('connections', [
        { key: 'source', label: 'Source', cell: (c) => h('code', {}, c.source) },
        { key: 'media', label: 'Media', cell: (c) => c.media },
        { key: 'sink', label: 'Sink', cell: (c) => h('code', {}, c.sink) },
      ], connections)));
    return { title: 'Pipeline ' + (p.name || p.id), name: p.name || p.id, nodes };
  }

  // --- render loop ---------------------------------------------------------------------------

  async function render() {
    clearTimeout(timer);
    const mine = ++generation;
    const route = parseRoute();
    const main = document.getElementById('view');
    const status = document.getElementById('status');
    try {
      const views = { fleet: fleetView, kms: kmsView, pipeline: pipelineView };
      const page = await views[route.view](route);
      if (mine !== generation) return; // a newer render (navigation) won
      // Swapped in one step, so a reader (or a test) never sees half a view.
      main.replaceChildren(...page.nodes);
      main.setAttribute('data-view', route.view);
      main.setAttribute('data-state', 'ready');
      document.getElementById('crumbs').replaceChildren(...crumbs(route, page.name));
      document.title = page.title + ' · Kurento Exporter';
      status.className = '';
      status.textContent = 'Refreshes every ' + Math.round(refreshMs / 1000) + ' s';
      if (page.after) page.after();
    } catch (err) {
      if (mine !== generation) return;
      status.className = 'error';
      status.textContent = 'Could not load: ' + err.message;
      if (main.getAttribute('data-state') !== 'ready') {
        main.replaceChildren(h('p', { class: 'banner', role: 'alert' }, 'Could not load this view: ' + err.message));
        main.setAttribute('data-state', 'error');
      }
    }
    if (mine === generation) timer = setTimeout(render, refreshMs);
  }

  async function start() {
    try {
      const status = await getJson(API + '/status');
      if (status.poll_interval_seconds > 0) refreshMs = Math.max(1000, status.poll_interval_seconds * 1000);
    } catch {
      // Keep the default: the page still works against an exporter without /status.
    }
    window.addEventListener('hashchange', () => {
      document.getElementById('view').setAttribute('data-state', 'loading');
      render();
    });
    render();
  }

  start();
})();
