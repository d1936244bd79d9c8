/* The console's 总览 page: the district map (Leaflet) and the charts (ECharts), both drawn
   from the dashboard JSON the page carries (<script type="application/json" id="dashboard-data">).
   No tiles unless the server names a tile layer; no inline styles in markup (the CSP forbids them). */
(function () {
  'use strict';

  var dataEl = document.getElementById('dashboard-data');
  if (!dataEl) { return; }
  var data = JSON.parse(dataEl.textContent);

  // Sequential, colour-blind-safe (viridis): light = low values, dark = high values.
  var VIRIDIS = ['#fde725', '#a0da39', '#4ac16d', '#1fa187', '#277f8e', '#365c8d', '#46327e', '#440154'];
  var NO_DATA = '#b8c0c6';
  var ROOM_ZOOM = 12; // below this zoom the map shows one marker per town
  var SERIES_COLOURS = ['#2f6db5', '#d9841c', '#3f8a4a', '#8450a8', '#b5452b', '#1fa187', '#7a6a53', '#c2417a'];

  function esc(text) {
    return String(text == null ? '' : text).replace(/[&<>"']/g, function (c) {
      return { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c];
    });
  }

  function fmt(v) {
    if (v === null || v === undefined) { return '—'; }
    var a = Math.abs(v);
    if (a >= 100) { return Math.round(v).toLocaleString('zh-CN'); }
    if (Number.isInteger(v)) { return String(v); }
    return String(parseFloat(v.toFixed(a < 1 ? 3 : 2)));
  }

  // -- the map --------------------------------------------------------------------------------

  function palette(n) {
    if (n <= 1) { return [VIRIDIS[3]]; }
    var out = [];
    for (var i = 0; i < n; i++) { out.push(VIRIDIS[Math.round(i * (VIRIDIS.length - 1) / (n - 1))]); }
    return out;
  }

  function classOf(value, breaks) {
    if (value === null || value === undefined) { return -1; }
    var k = 0;
    while (k < breaks.length && value >= breaks[k]) { k++; }
    return k;
  }

  function rangeText(k, breaks, unit) {
    if (breaks.length === 0) { return '全部'; }
    if (k === 0) { return '低于 ' + fmt(breaks[0]) + ' ' + unit; }
    if (k === breaks.length) { return fmt(breaks[k - 1]) + ' ' + unit + ' 及以上'; }
    return fmt(breaks[k - 1]) + ' – ' + fmt(breaks[k]) + ' ' + unit;
  }

  function initMap(map) {
    var el = document.getElementById('dash-map');
    var select = document.getElementById('map-layer');
    if (!el || !window.L || !map) { return; }
    var L = window.L;
    var b = map.bbox; // min_lat, min_lng, max_lat, max_lng
    var bounds = L.latLngBounds([b[0], b[1]], [b[2], b[3]]);
    var lmap = L.map(el, { zoomSnap: 0.25, zoomDelta: 0.5, maxBounds: bounds.pad(0.6), minZoom: 8, maxZoom: 17,
                           attributionControl: !!map.tiles });
    // Open on the rooms in scope (a town coordinator's town), or the whole district.
    var placed = (map.rooms || []).map(function (r) { return [r.lat, r.lng]; });
    var home = placed.length > 1 ? L.latLngBounds(placed).pad(0.08) : bounds;
    function goHome() { lmap.fitBounds(home, { padding: [10, 10], maxZoom: ROOM_ZOOM + 1 }); }
    goHome();
    if (map.tiles) {
      L.tileLayer(map.tiles.url, { attribution: map.tiles.attribution || '', maxZoom: 18 }).addTo(lmap);
    } else {
      // No tiles: the district's box and a 0.1° graticule give the eye something to hold on to.
      L.rectangle(bounds, { className: 'dm-district', interactive: false, weight: 1 }).addTo(lmap);
      for (var lat = Math.ceil(b[0] * 10) / 10; lat < b[2]; lat += 0.1) {
        L.polyline([[lat, b[1]], [lat, b[3]]], { className: 'dm-grid', interactive: false, weight: 1 }).addTo(lmap);
      }
      for (var lng = Math.ceil(b[1] * 10) / 10; lng < b[3]; lng += 0.1) {
        L.polyline([[b[0], lng], [b[2], lng]], { className: 'dm-grid', interactive: false, weight: 1 }).addTo(lmap);
      }
    }
    if (data.library) {
      L.marker([data.library.lat, data.library.lng], {
        keyboard: false, interactive: false, zIndexOffset: 1000,
        icon: L.divIcon({ className: 'dm-library', html: '<span aria-hidden="true">★</span>' + esc(data.library.name),
                          iconSize: null, iconAnchor: [-12, 36] }) // above-right: the town's circle sits on it
      }).addTo(lmap);
    }

    var layers = {};
    (map.layers || []).forEach(function (l) { layers[l.key] = l; });
    var townGroup = L.layerGroup();
    var roomGroup = L.layerGroup();
    var labelGroup = L.layerGroup().addTo(lmap);
    var roomMarkers = [];
    var townMarkers = [];
    var roomsByTown = {};
    (map.rooms || []).forEach(function (r) { (roomsByTown[r.town] = roomsByTown[r.town] || []).push(r); });

    (map.towns || []).forEach(function (t) {
      var radius = 11 + Math.min(14, Math.sqrt(t.rooms || 0) * 2);
      // the name sits centred under the town's circle (about 13 px per character)
      labelGroup.addLayer(L.marker([t.lat, t.lng], {
        keyboard: false, interactive: false,
        icon: L.divIcon({ className: 'dm-town-label', html: esc(t.name), iconSize: null,
                          iconAnchor: [t.name.length * 6.5, -(radius + 2)] })
      }));
      if (!t.rooms) { return; }
      var m = L.circleMarker([t.lat, t.lng], { radius: radius, weight: 2,
                                               className: 'dm-town', fillOpacity: 0.9, color: '#1f2a33' });
      m.bindTooltip('', { permanent: true, direction: 'center', className: 'dm-town-count', interactive: false });
      m.on('click', function () { zoomToTown(t); });
      m.town = t;
      townMarkers.push(m);
      townGroup.addLayer(m);
    });

    (map.rooms || []).forEach(function (r) {
      var m = L.circleMarker([r.lat, r.lng], { radius: 7, weight: 1.5, color: '#1f2a33', fillOpacity: 0.95,
                                               className: 'dm-room' });
      m.room = r;
      m.bindPopup('', { className: 'dm-popup' });
      m.on('popupopen', function (e) {
        var link = e.popup.getElement() && e.popup.getElement().querySelector('a');
        if (link && m.openedByKey) { link.focus(); }
        m.openedByKey = false;
      });
      roomMarkers.push(m);
      roomGroup.addLayer(m);
    });

    function zoomToTown(t) {
      var pts = (roomsByTown[t.name] || []).map(function (r) { return [r.lat, r.lng]; });
      if (pts.length > 1) {
        lmap.fitBounds(L.latLngBounds(pts), { padding: [30, 30], maxZoom: 15 });
      }
      if (pts.length <= 1 || lmap.getZoom() < ROOM_ZOOM) {
        var c = pts.length ? L.latLngBounds(pts).getCenter() : L.latLng(t.lat, t.lng);
        lmap.setView(c, Math.max(ROOM_ZOOM, pts.length > 1 ? lmap.getZoom() : ROOM_ZOOM + 1));
      }
    }

    // Leaflet draws circle markers as SVG paths (created when first shown): make each one a
    // focusable button with a spoken label.
    function labelMarker(m) {
      var p = m.getElement();
      if (p && m.ariaLabel) { p.setAttribute('aria-label', m.ariaLabel); }
    }

    function makeFocusable() {
      roomMarkers.concat(townMarkers).forEach(function (m) {
        var p = m.getElement();
        if (!p || p.getAttribute('tabindex')) { labelMarker(m); return; }
        p.setAttribute('tabindex', '0');
        p.setAttribute('role', 'button');
        labelMarker(m);
        p.addEventListener('keydown', function (ev) {
          if (ev.key !== 'Enter' && ev.key !== ' ') { return; }
          ev.preventDefault();
          if (m.town) { zoomToTown(m.town); } else { m.openedByKey = true; m.openPopup(); }
        });
      });
    }

    function showByZoom() {
      var rooms = lmap.getZoom() >= ROOM_ZOOM;
      if (rooms && !lmap.hasLayer(roomGroup)) {
        lmap.removeLayer(townGroup); roomGroup.addTo(lmap);
      } else if (!rooms && !lmap.hasLayer(townGroup)) {
        lmap.removeLayer(roomGroup); townGroup.addTo(lmap);
      }
      el.setAttribute('data-mode', rooms ? 'rooms' : 'towns');
      makeFocusable();
    }

    var legend = document.getElementById('map-legend');
    var tableBody = document.getElementById('map-table-body');
    var valueHead = document.getElementById('map-table-value');
    var sortKey = 'code';
    var sortDir = 1;

    function colourLayer(key) {
      var layer = layers[key];
      if (!layer) { return; }
      var colours = palette(layer.breaks.length + 1);
      var colourOf = function (v) { var k = classOf(v, layer.breaks); return k < 0 ? NO_DATA : colours[k]; };
      roomMarkers.forEach(function (m) {
        var v = m.room.values[key];
        m.setStyle({ fillColor: colourOf(v) });
        m.setPopupContent('<strong>' + esc(m.room.name) + '</strong><br>' + esc(m.room.code) + ' · ' + esc(m.room.town) +
          '<br>' + esc(layer.label) + '：' + esc(fmt(v)) + ' ' + esc(layer.unit) +
          '<br><a href="' + esc(data.room_url + encodeURIComponent(m.room.code)) + '">打开书屋页面</a>');
        m.ariaLabel = m.room.name + '，' + layer.label + ' ' + fmt(v) + ' ' + layer.unit + '，按回车查看';
        labelMarker(m);
      });
      townMarkers.forEach(function (m) {
        var v = m.town.values[key];
        m.setStyle({ fillColor: colourOf(v) });
        m.setTooltipContent(String(m.town.rooms));
        m.ariaLabel = m.town.name + '，' + m.town.rooms + ' 个书屋，' + layer.label + ' ' + fmt(v) + ' ' + layer.unit +
          '，按回车放大';
        labelMarker(m);
      });
      el.setAttribute('data-layer', key);
      // the legend: one line per class, with its range, and the rooms in it
      legend.textContent = '';
      var counts = {};
      roomMarkers.forEach(function (m) { var k = classOf(m.room.values[key], layer.breaks); counts[k] = (counts[k] || 0) + 1; });
      var order = colours.map(function (_, k) { return k; });
      if (layer.better === 'higher') { order.reverse(); }
      order.concat([-1]).forEach(function (k) {
        if (k === -1 && !counts[-1]) { return; }
        var li = document.createElement('li');
        var sw = document.createElement('span');
        sw.className = 'swatch';
        sw.setAttribute('aria-hidden', 'true');
        sw.style.backgroundColor = k < 0 ? NO_DATA : colours[k];
        li.appendChild(sw);
        li.appendChild(document.createTextNode(k < 0 ? '无数据' : rangeText(k, layer.breaks, layer.unit)));
        var b = document.createElement('b');
        b.textContent = ' ' + (counts[k] || 0) + ' 个';
        li.appendChild(b);
        legend.appendChild(li);
      });
      var note = document.createElement('li');
      note.className = 'muted small';
      note.textContent = layer.better === 'higher' ? '数值越高越好' : '数值越低越好';
      legend.appendChild(note);
      valueHead.textContent = layer.label + '（' + layer.unit + '）';
      renderTable(key);
    }

    function renderTable(key) {
      var rows = (map.rooms || []).slice();
      rows.sort(function (a, b2) {
        var x, y;
        if (sortKey === 'value') {
          x = a.values[key]; y = b2.values[key];
          if (x == null && y == null) { return 0; }
          if (x == null) { return 1; }
          if (y == null) { return -1; }
          return (x - y) * sortDir;
        }
        x = a[sortKey]; y = b2[sortKey];
        return x < y ? -sortDir : x > y ? sortDir : 0;
      });
      tableBody.textContent = '';
      rows.forEach(function (r) {
        var tr = document.createElement('tr');
        var td = document.createElement('td');
        td.className = 'code';
        var a = document.createElement('a');
        a.href = data.room_url + encodeURIComponent(r.code);
        a.textContent = r.code;
        td.appendChild(a);
        tr.appendChild(td);
        [r.name, r.town].forEach(function (t) { var c = document.createElement('td'); c.textContent = t; tr.appendChild(c); });
        var v = document.createElement('td');
        v.className = 'num';
        v.textContent = fmt(r.values[key]);
        tr.appendChild(v);
        tableBody.appendChild(tr);
      });
      if (!rows.length) {
        tableBody.innerHTML = '<tr><td colspan="4" class="empty">范围内没有书屋。</td></tr>';
      }
      document.querySelectorAll('#map-table th').forEach(function (th) {
        var btn = th.querySelector('button');
        th.setAttribute('aria-sort', btn && btn.getAttribute('data-sort') === sortKey
          ? (sortDir > 0 ? 'ascending' : 'descending') : 'none');
      });
    }

    document.querySelectorAll('#map-table th button').forEach(function (btn) {
      btn.addEventListener('click', function () {
        var k = btn.getAttribute('data-sort');
        sortDir = k === sortKey ? -sortDir : (k === 'value' ? -1 : 1);
        sortKey = k;
        renderTable(select.value);
      });
    });

    lmap.on('zoomend', showByZoom);
    select.addEventListener('change', function () { colourLayer(select.value); });
    document.getElementById('map-reset').addEventListener('click', goHome);
    var toTable = document.getElementById('map-to-table');
    toTable.addEventListener('click', function (ev) {
      ev.preventDefault();
      var details = document.getElementById('map-table');
      details.open = true;
      details.querySelector('summary').focus();
      details.scrollIntoView({ block: 'start' });
    });
    showByZoom();
    if (select.value) { colourLayer(select.value); }
    window.addEventListener('resize', function () { lmap.invalidateSize(); });
    window.shuwuDashboardMap = lmap; // for tests and the browser console
  }

  // -- the charts -----------------------------------------------------------------------------

  function chartOption(chart, width) {
    // Slant the category labels only when, set side by side, they would not fit (~13 px a character).
    var chars = chart.categories.reduce(function (n, c) { return n + String(c).length + 1; }, 0);
    var many = chars * 13 > width * 0.85;
    var unit = chart.unit || '';
    return {
      color: SERIES_COLOURS,
      animation: false,
      aria: { enabled: false }, // the container carries role="img" and a spoken summary
      textStyle: { fontFamily: '"PingFang SC", "Microsoft YaHei", "Noto Sans CJK SC", sans-serif' },
      tooltip: {
        trigger: 'axis', axisPointer: { type: 'shadow' }, confine: true,
        // plain text lines: ECharts' default markers carry inline styles, which the CSP refuses
        formatter: function (params) {
          var lines = [esc(params[0] ? params[0].axisValueLabel : '')];
          params.forEach(function (p) {
            var v = Array.isArray(p.value) ? p.value[1] : p.value;
            lines.push(esc(p.seriesName) + '：' + esc(fmt(v === '-' ? null : v)) + (unit ? ' ' + esc(unit) : ''));
          });
          return lines.join('<br>');
        }
      },
      legend: chart.series.length > 1 ? { top: 0, type: 'scroll' } : { show: false },
      grid: { left: 8, right: 16, top: chart.series.length > 1 ? 40 : 28, bottom: 4, containLabel: true },
      xAxis: { type: 'category', data: chart.categories,
               axisLabel: { interval: many ? 'auto' : 0, rotate: many ? 35 : 0, hideOverlap: true } },
      yAxis: { type: 'value', name: unit, nameTextStyle: { align: 'left' }, minInterval: 0 },
      series: chart.series.map(function (s) {
        return { name: s.name, type: s.kind === 'line' ? 'line' : 'bar', stack: s.stack || undefined,
                 data: s.values.map(function (v) { return v === null ? '-' : v; }),
                 barMaxWidth: 32, connectNulls: false, symbolSize: 6, emphasis: { focus: 'series' } };
      })
    };
  }

  function initCharts(charts) {
    if (!window.echarts) { return; }
    var instances = [];
    document.querySelectorAll('.chart-box[data-chart]').forEach(function (el) {
      var chart = charts[Number(el.getAttribute('data-chart'))];
      if (!chart) { return; }
      var inst = window.echarts.init(el, null, { renderer: 'canvas', locale: 'ZH' });
      inst.setOption(chartOption(chart, el.clientWidth));
      instances.push(inst);
    });
    var pending = null;
    window.addEventListener('resize', function () {
      if (pending) { window.clearTimeout(pending); }
      pending = window.setTimeout(function () { instances.forEach(function (i) { i.resize(); }); }, 100);
    });
  }

  function start() {
    initMap(data.map);
    initCharts(data.charts || []);
    document.body.setAttribute('data-dashboard-ready', '1');
  }

  if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', start); } else { start(); }
}());
