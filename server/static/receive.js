/* shuwu — receiving a shipment on the phone (/m/rooms/<code>/receive/<shipment_id>).
   Scan a box's QR code (or tick boxes), scan books (each scan = one good copy) or adjust
   the counts per line, note damaged copies and wrong items, add a photo, then send one
   receipt with a client op_id to /m/api/shipments/<id>/receipts. The op_id is kept on the
   phone until the server answers, so a retry after a lost answer never receives twice.
   Uses window.Shuwu from phone/desk.js. Old WebViews: no optional chaining, no ??. */
(function () {
  'use strict';
  var S = window.Shuwu;
  var dataNode = document.getElementById('shipment-data');
  if (!S || !dataNode) { return; }
  var data = JSON.parse(dataNode.textContent);
  var API = '/m/api/shipments/' + encodeURIComponent(data.id);
  var PENDING_KEY = 'shuwu.shipment.' + data.id + '.op';
  var titles = {};
  data.lines.forEach(function (l) { titles[l.title_id] = l; });
  var counts = {};   // title_id -> {expected, received, damaged}
  var wrong = {};    // isbn -> copies
  var photoId = null;

  function $(id) { return document.getElementById(id); }

  function selectedBoxes() {
    return Array.prototype.filter.call(document.querySelectorAll('.box-pick'), function (c) {
      return c.checked && !c.disabled;
    }).map(function (c) { return c.value; });
  }

  function rebuild() {
    var chosen = selectedBoxes();
    var expected = {};
    data.boxes.forEach(function (b) {
      if (chosen.indexOf(b.code) < 0) { return; }
      b.lines.forEach(function (bl) { expected[bl.title_id] = (expected[bl.title_id] || 0) + bl.copies; });
    });
    var next = {};
    Object.keys(expected).forEach(function (t) {
      var old = counts[t] || { received: 0, damaged: 0 };
      next[t] = { expected: expected[t], received: Math.min(old.received, expected[t]), damaged: old.damaged };
    });
    counts = next;
    S.show($('book-form'), chosen.length > 0);
    S.show($('count-card'), chosen.length > 0);
    render();
  }

  function numberInput(t, field) {
    var input = S.el('input');
    input.type = 'number'; input.min = '0'; input.max = String(counts[t].expected); input.inputMode = 'numeric';
    input.value = String(counts[t][field]);
    input.addEventListener('change', function () {
      counts[t][field] = Math.max(0, Math.min(counts[t].expected, parseInt(input.value, 10) || 0));
      render();
    });
    return input;
  }

  function render() {
    var body = $('count-rows');
    body.textContent = '';
    var got = 0, want = 0;
    Object.keys(counts).forEach(function (t) {
      var c = counts[t];
      got += c.received; want += c.expected;
      var tr = S.el('tr', c.received + c.damaged < c.expected ? 'short' : '');
      tr.appendChild(S.el('td', '', (titles[t] ? titles[t].title : t)));
      tr.appendChild(S.el('td', '', c.expected));
      var a = S.el('td'); a.appendChild(numberInput(t, 'received')); tr.appendChild(a);
      var d = S.el('td'); d.appendChild(numberInput(t, 'damaged')); tr.appendChild(d);
      body.appendChild(tr);
    });
    $('count-sum').textContent = '完好 ' + got + ' / 应到 ' + want + ' 册';
    var ul = $('wrong-list');
    ul.textContent = '';
    Object.keys(wrong).forEach(function (isbn) { ul.appendChild(S.el('li', '', isbn + ' × ' + wrong[isbn])); });
  }

  function pickBox(code) {
    var boxes = document.querySelectorAll('.box-pick');
    var found = false;
    Array.prototype.forEach.call(boxes, function (c) { if (c.value === code) { found = true; if (!c.disabled) { c.checked = true; } } });
    if (!found) { S.say('error', '这个箱号不属于这张配送单：' + code); return; }
    S.say('ok', '已打开箱子 ' + code + '，请扫书或核对数量');
    rebuild();
  }

  function scanBook(raw) {
    var code = S.normaliseCode(raw);
    if (!code) { S.say('error', '书号不对：请扫书背面的 ISBN 条码'); return; }
    var c = counts[code];
    if (c && c.received + c.damaged < c.expected) { c.received += 1; S.say('ok', (titles[code] ? titles[code].title : code) + '：完好 +1'); }
    else { wrong[code] = (wrong[code] || 0) + 1; S.say('warn', code + ' 不在这些箱子的清单上（或已数满），记为错发'); }
    render();
  }

  function uploadPhoto() {
    var input = $('photo');
    if (!input.files || !input.files.length || photoId) { return Promise.resolve(photoId); }
    var file = input.files[0];
    var xsrf = document.querySelector('meta[name="shuwu-xsrf"]').getAttribute('content');
    return fetch(API + '/photos', { method: 'POST', credentials: 'same-origin', body: file,
      headers: { 'Content-Type': file.type || 'image/jpeg', 'X-XSRFToken': xsrf } })
      .then(function (r) { return r.json().then(function (j) { if (!r.ok) { throw new Error(j.detail || '照片上传失败'); } photoId = j.photo_id; return photoId; }); });
  }

  function receive() {
    var boxes = selectedBoxes();
    if (!boxes.length) { S.say('error', '请先扫箱子上的二维码或勾选箱子'); return; }
    var opId = S.lsGet(PENDING_KEY, null) || S.newOpId();
    S.lsSet(PENDING_KEY, opId);
    var btn = $('receive-btn');
    btn.disabled = true;
    uploadPhoto().then(function (pid) {
      var troubled = false;
      var lines = Object.keys(counts).map(function (t) {
        var c = counts[t];
        var line = { title_id: t, received: c.received, damaged: c.damaged };
        if (c.received < c.expected) { troubled = true; }
        return line;
      });
      if (pid && troubled) { lines.forEach(function (l) { if (counts[l.title_id].received < counts[l.title_id].expected) { l.photo_id = pid; } }); }
      var wrongItems = Object.keys(wrong).map(function (isbn) {
        var w = { isbn: isbn, copies: wrong[isbn] };
        if (pid && !troubled) { w.photo_id = pid; }
        return w;
      });
      return S.api('POST', API + '/receipts', { op_id: opId, box_codes: boxes, lines: lines, wrong_items: wrongItems });
    }).then(function (res) {
      btn.disabled = false;
      if (res.ok || res.status === 409) { S.lsSet(PENDING_KEY, null); }
      if (res.ok) {
        var r = res.data.result;
        S.say('ok', '收货完成：完好 ' + r.received + ' 册，损坏 ' + r.damaged + ' 册，短少 ' + r.short + ' 册',
          r.complete ? '整张配送单已收完。' : '还有箱子没有收，请继续扫箱子。');
        setTimeout(function () { window.location.reload(); }, 2500);
      } else { S.say('error', res.message || '没有办成'); }
    }, function (err) {
      btn.disabled = false;
      S.say('error', err && err.message ? err.message : '没有连上服务器，请稍后再点“确认收货”（不会重复收货）');
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll('.box-pick'), function (c) { c.addEventListener('change', rebuild); });
  $('box-form').addEventListener('submit', function (e) { e.preventDefault(); pickBox($('box').value.trim().toUpperCase()); });
  $('book-form').addEventListener('submit', function (e) { e.preventDefault(); scanBook($('book').value); $('book').value = ''; });
  $('receive-btn').addEventListener('click', receive);
  S.wireScanButtons(function (input) {
    if (input.id === 'box') { pickBox(input.value.trim().toUpperCase()); }
    else if (input.id === 'book') { scanBook(input.value); input.value = ''; }
  });
}());
