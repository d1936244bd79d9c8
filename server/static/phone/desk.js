/* shuwu — the phone desk's shared parts: the JSON calls, the phone's own log of writes
   (IndexedDB, append-only), the offline queue and its upload (/m/sync), export to a file,
   the network bar and the camera scanner. Builds on window.shuwuPhone from phone/shared.js.

   No inline code anywhere (CSP script-src 'self'). Written for old WebViews too
   (WeChat on cheap Android phones): no optional chaining, no ?? operator. */
(function () {
  'use strict';

  var main = document.getElementById('desk');
  if (!main) { return; }
  var cfg = {
    page: main.getAttribute('data-page'),
    room: main.getAttribute('data-room'),
    roomName: main.getAttribute('data-room-name'),
    admin: main.getAttribute('data-admin'),
    cardPrefix: main.getAttribute('data-card-prefix') || '',
    scanner: main.getAttribute('data-scanner')
  };
  var P = window.shuwuPhone;  // phone/shared.js
  var REQUEST_TIMEOUT_MS = 20000;  // one bar of signal: slow, but not forever
  var SYNC_CHUNK = 200;            // ops per upload
  var RETRY_SYNC_MS = 60000;       // while online with a queue, try again this often
  var TYPE_LABELS = { loan: '借书', 'return': '还书', renew: '续借', in_room_use: '阅览登记' };
  var OUTCOME_LABELS = { applied: '已办理', duplicate: '已办理过（重复上传）', conflict: '有冲突', rejected: '未办理' };

  // -- small helpers -----------------------------------------------------------------

  function $(id) { return document.getElementById(id); }

  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function show(node, on) { if (node) { node.hidden = !on; } }

  function pad(n) { return (n < 10 ? '0' : '') + n; }

  /** Local time with its offset, e.g. 2026-05-01T09:30:00+08:00 (what the server stores is UTC). */
  function isoLocal(d) {
    var off = -d.getTimezoneOffset();
    var sign = off >= 0 ? '+' : '-';
    off = Math.abs(off);
    return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + 'T' + pad(d.getHours()) + ':' +
      pad(d.getMinutes()) + ':' + pad(d.getSeconds()) + sign + pad(Math.floor(off / 60)) + ':' + pad(off % 60);
  }

  function timeText(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) { return ''; }
    return (d.getMonth() + 1) + '月' + d.getDate() + '日 ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
  }

  function dayText(iso) {
    var d = new Date(iso);
    return isNaN(d.getTime()) ? '' : (d.getMonth() + 1) + '月' + d.getDate() + '日';
  }

  /** A client op_id: crypto.randomUUID where the page is a secure context, else random bytes. */
  function newOpId() {
    var c = window.crypto || window.msCrypto;
    if (c && typeof c.randomUUID === 'function') { return c.randomUUID(); }
    var bytes = P.randomBytes(16);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    var hex = P.hex(bytes);
    return hex.slice(0, 8) + '-' + hex.slice(8, 12) + '-' + hex.slice(12, 16) + '-' + hex.slice(16, 20) + '-' + hex.slice(20);
  }

  // -- codes as the server keys them ----------------------------------------------

  function isbn13Check(d12) {
    var sum = 0;
    for (var i = 0; i < 12; i++) { sum += Number(d12.charAt(i)) * (i % 2 ? 3 : 1); }
    return String((10 - sum % 10) % 10);
  }

  /** ISBN-13 (ISBN-10 converted) or an internal id SW + 11 digits; null if it is neither. */
  function normaliseCode(raw) {
    var s = String(raw || '').replace(/[\s-]/g, '').toUpperCase();
    if (/^\d{11}$/.test(s)) { s = 'SW' + s; }  // an internal id typed without its letters
    if (/^SW\d{11}$/.test(s)) { return s; }
    if (/^97[89]\d{10}$/.test(s)) { return isbn13Check(s.slice(0, 12)) === s.charAt(12) ? s : null; }
    if (/^\d{9}[\dX]$/.test(s)) {
      var sum = 0;
      for (var i = 0; i < 10; i++) { sum += (s.charAt(i) === 'X' ? 10 : Number(s.charAt(i))) * (10 - i); }
      if (sum % 11 !== 0) { return null; }
      var d12 = '978' + s.slice(0, 9);
      return d12 + isbn13Check(d12);
    }
    return null;
  }

  /** {card} or {phone} from what was scanned or typed; a bare number is the end of a card number. */
  function readerKey(raw, prefix) {
    var s = String(raw || '').replace(/[\s-]/g, '').toUpperCase();
    if (/^(\+?86)?1[3-9]\d{9}$/.test(s)) { return { phone: s.slice(-11) }; }
    if (/^\d{1,8}$/.test(s) && prefix) { s = prefix + ('00000000' + s).slice(-8); }
    if (/^[A-Z]{2,4}\d{8}$/.test(s)) { return { card: s }; }
    // A card's QR code may carry more than the number (a link): take the card number inside it.
    var inside = s.match(/(?:^|[^A-Z])([A-Z]{2,4}\d{8})(?!\d)/);
    return inside ? { card: inside[1] } : null;
  }

  // -- talking to the server -------------------------------------------------------

  var FIELD_LABELS = { card_no: '借阅证号', card: '借阅证号', phone: '手机号', title_id: '书号', code: '书号',
    quantity: '册数', count: '人次', op_id: '操作编号', lines: '清单', reference: '配送单号', room: '书屋', note: '备注' };

  /** The Chinese sentence to show for a problem+json body. */
  function problemText(p, status) {
    if (!p || typeof p !== 'object') { return '出错了（' + status + '），请稍后再试'; }
    var text = p.detail || p.title || '出错了';
    if (p.code === 'validation_failed' && p.errors && p.errors.length) {
      text = p.errors.slice(0, 3).map(function (e) {
        var name = '';
        for (var i = e.loc.length - 1; i >= 0; i--) {
          if (typeof e.loc[i] === 'string' && FIELD_LABELS[e.loc[i]]) { name = FIELD_LABELS[e.loc[i]]; break; }
        }
        return (name ? name + '：' : '') + String(e.msg).replace(/（[^（）]*[A-Za-z][^（）]*）$/, '');
      }).join('；');
    }
    return text;
  }

  function NetworkError(message) { this.name = 'NetworkError'; this.message = message; }
  NetworkError.prototype = Object.create(Error.prototype);

  /** fetch JSON: resolves {ok, status, data}; rejects with NetworkError when the request never got an answer. */
  function api(method, url, body) {
    return P.api(method, url, body, { timeoutMs: REQUEST_TIMEOUT_MS }).then(function (out) {
      markOnline(true);
      if (!out.ok) { out.message = problemText(out.data, out.status); }
      if (out.status === 401) { out.message = '登录已过期，请回到首页重新登录（未上传的记录仍在本机）'; }
      return out;
    }, function () {
      markOnline(false);
      throw new NetworkError('没有连上服务器');
    });
  }

  // -- the phone's own log (IndexedDB, append-only; localStorage if IndexedDB is unavailable) ---------

  var DB_NAME = 'shuwu-desk';
  var dbPromise = null;

  function openDb() {
    if (dbPromise) { return dbPromise; }
    dbPromise = new Promise(function (resolve) {
      if (!window.indexedDB) { resolve(null); return; }
      var request;
      try { request = window.indexedDB.open(DB_NAME, 1); } catch (e) { resolve(null); return; }
      request.onupgradeneeded = function () {
        var db = request.result;
        db.createObjectStore('log', { keyPath: 'op_id' });        // one entry per write, never changed
        db.createObjectStore('outcomes', { keyPath: 'op_id' });   // what the server said about it
        db.createObjectStore('meta', { keyPath: 'key' });
      };
      request.onsuccess = function () { resolve(request.result); };
      request.onerror = function () { resolve(null); };
      request.onblocked = function () { resolve(null); };
    });
    return dbPromise;
  }

  function lsGet(key, fallback) {
    try { var v = window.localStorage.getItem(key); return v ? JSON.parse(v) : fallback; } catch (e) { return fallback; }
  }

  function lsSet(key, value) {
    try { window.localStorage.setItem(key, JSON.stringify(value)); } catch (e) { /* full or disabled */ }
  }

  function idbRequest(store, mode, fn) {
    return openDb().then(function (db) {
      if (!db) { return undefined; }
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(store, mode);
        var result;
        var req = fn(tx.objectStore(store));
        if (req) { req.onsuccess = function () { result = req.result; }; }
        tx.oncomplete = function () { resolve(result); };
        tx.onerror = function () { reject(tx.error); };
        tx.onabort = function () { reject(tx.error); };
      });
    });
  }

  // localStorage holds what IndexedDB could not (no IndexedDB, or a failed write): read both.
  function storeAll(store) {
    var spare = lsGet('shuwu.' + store, []);
    return openDb().then(function (db) {
      if (!db) { return []; }
      return idbRequest(store, 'readonly', function (s) { return s.getAll(); }).catch(function () { return []; });
    }).then(function (stored) {
      var seen = {};
      (stored || []).forEach(function (v) { seen[v.op_id] = true; });
      return (stored || []).concat(spare.filter(function (v) { return !seen[v.op_id]; }));
    });
  }

  function spareWrite(store, value) {
    var all = lsGet('shuwu.' + store, []).filter(function (v) { return v.op_id !== value.op_id; });
    all.push(value);
    lsSet('shuwu.' + store, all);
  }

  function storePut(store, value, addOnly) {
    return openDb().then(function (db) {
      if (!db) { spareWrite(store, value); return; }
      return idbRequest(store, 'readwrite', function (s) { return addOnly ? s.add(value) : s.put(value); })
        .catch(function () { spareWrite(store, value); });
    });
  }

  var deviceIdPromise = null;

  /** This phone's id, kept in both localStorage and IndexedDB so that losing one keeps it. */
  function deviceId() {
    if (deviceIdPromise) { return deviceIdPromise; }
    var fromLs = null;
    try { fromLs = window.localStorage.getItem('shuwu.device'); } catch (e) { fromLs = null; }
    deviceIdPromise = openDb().then(function (db) {
      if (!db) { return null; }
      return idbRequest('meta', 'readonly', function (s) { return s.get('device_id'); });
    }).then(function (doc) {
      var id = (doc && doc.value) || fromLs || ('ph-' + newOpId().replace(/-/g, '').slice(0, 20));
      try { window.localStorage.setItem('shuwu.device', id); } catch (e) { /* disabled */ }
      return openDb().then(function (db) {
        if (db && !(doc && doc.value)) {
          return idbRequest('meta', 'readwrite', function (s) { return s.put({ key: 'device_id', value: id }); });
        }
      }).then(function () { return id; });
    });
    return deviceIdPromise;
  }

  var recorded = 0;

  /** Append one write to the log before anything is sent. ``seq`` orders entries made within one second. */
  function record(op) {
    return deviceId().then(function (device) {
      var now = new Date();
      var entry = {
        op_id: newOpId(), seq: now.getTime() * 1000 + (recorded++ % 1000), type: op.type, at: isoLocal(now),
        device_id: device, room: cfg.room,
        admin: cfg.admin, card: op.card || null, code: op.code || null, count: op.count || 1,
        loan_id: op.loan_id || null, title: op.title || null
      };
      return storePut('log', entry, true).then(function () { return entry; });
    });
  }

  function saveOutcome(opId, outcome, message, via, extra) {
    var doc = { op_id: opId, outcome: outcome, message: message || '', via: via, at: isoLocal(new Date()) };
    if (extra) { for (var k in extra) { if (Object.prototype.hasOwnProperty.call(extra, k)) { doc[k] = extra[k]; } } }
    return storePut('outcomes', doc, false);
  }

  /** Every log entry with its outcome (if any), oldest first. */
  function history() {
    return Promise.all([storeAll('log'), storeAll('outcomes')]).then(function (both) {
      var outcomes = {};
      (both[1] || []).forEach(function (o) { outcomes[o.op_id] = o; });
      return (both[0] || []).map(function (e) { return { entry: e, outcome: outcomes[e.op_id] || null }; })
        .sort(function (a, b) { return (a.entry.seq || 0) - (b.entry.seq || 0); });
    });
  }

  function queue() {
    return history().then(function (items) { return items.filter(function (i) { return !i.outcome; }); });
  }

  // -- online, offline, the bar ---------------------------------------------------

  var online = navigator.onLine !== false;

  function markOnline(state) {
    if (online !== state) { online = state; refreshBar(); }
  }

  function refreshBar() {
    var bar = $('netbar');
    if (!bar) { return Promise.resolve(); }
    bar.setAttribute('data-state', online ? 'online' : 'offline');
    $('net-text').textContent = online ? '在线' : '离线';
    return queue().then(function (q) {
      $('queue-count').textContent = String(q.length);
      bar.setAttribute('data-queue', String(q.length));
      return q.length;
    });
  }

  // -- writes ------------------------------------------------------------------------

  /**
   * A circulation write: logged first; then sent at once if the phone is online, else queued
   * for /m/sync.
   * Resolves {state: 'done'|'refused'|'queued', entry, data, message}.
   */
  function submit(op, url, body) {
    return record(op).then(function (entry) {
      body.op_id = entry.op_id;
      // No url: only the offline upload can apply it (e.g. a renewal noted without its loan).
      if (!url || (!online && navigator.onLine === false)) {
        return refreshBar().then(function () { return { state: 'queued', entry: entry }; });
      }
      return api('POST', url, body).then(function (r) {
        if (r.ok) {
          var outcome = r.data && r.data.replayed ? 'duplicate' : 'applied';
          var loan = r.data && r.data.loan;
          return saveOutcome(entry.op_id, outcome, r.data && r.data.message, 'online',
            { title: loan ? loan.title : null, loan_id: loan ? loan.id : null })
            .then(function () { return { state: 'done', entry: entry, data: r.data }; });
        }
        if (r.status === 401 || r.status >= 500 || r.status === 403 && r.data && r.data.code === 'xsrf_failed') {
          // Not decided by the rules: keep it queued for the next sync.
          return { state: 'queued', entry: entry, message: r.message };
        }
        return saveOutcome(entry.op_id, 'rejected', r.message, 'online', { code: r.data && r.data.code })
          .then(function () { return { state: 'refused', entry: entry, data: r.data, message: r.message }; });
      }, function () {
        return { state: 'queued', entry: entry };
      }).then(function (res) { return refreshBar().then(function () { return res; }); });
    });
  }

  // -- upload of the queue (/m/sync) -------------------------------------------------

  var syncing = null;

  function toBatchOp(e) {
    var op = { op_id: e.op_id, type: e.type, at: e.at, room: e.room, code: e.code, count: e.count || 1 };
    if (e.card) { op.card = e.card; }
    return op;
  }

  function sync(opts) {
    opts = opts || {};
    if (syncing) { return syncing; }
    syncing = Promise.all([queue(), deviceId()]).then(function (both) {
      var q = both[0];
      var device = both[1];
      if (!q.length) {
        if (opts.manual) { showSyncPanel([], '没有待上传的记录'); }
        return { uploaded: 0 };
      }
      var chunks = [];
      for (var i = 0; i < q.length; i += SYNC_CHUNK) { chunks.push(q.slice(i, i + SYNC_CHUNK)); }
      var results = [];
      var failure = null;
      return chunks.reduce(function (prev, chunk) {
        return prev.then(function () {
          if (failure) { return; }
          var batch = { batch_id: newOpId(), device_id: device, ops: chunk.map(function (i) { return toBatchOp(i.entry); }) };
          return api('POST', '/m/sync', batch).then(function (r) {
            if (!r.ok) { failure = r.message; return; }
            var byId = {};
            chunk.forEach(function (i) { byId[i.entry.op_id] = i.entry; });
            var outs = (r.data && r.data.outcomes) || [];
            return Promise.all(outs.map(function (o) {
              results.push({ entry: byId[o.op_id] || { type: o.type, op_id: o.op_id }, outcome: o });
              return saveOutcome(o.op_id, o.outcome, o.message, 'sync', { code: o.code, loan_id: o.loan_id });
            }));
          }, function () { failure = '没有连上服务器，记录仍在本机，联网后会自动上传'; });
        });
      }, Promise.resolve()).then(function () {
        showSyncPanel(results, failure);
        try { document.dispatchEvent(new CustomEvent('shuwu:synced')); } catch (e) { /* very old WebView */ }
        return refreshBar().then(function () { return { uploaded: results.length, failure: failure }; });
      });
    }).then(function (res) { syncing = null; return res; }, function (err) { syncing = null; throw err; });
    return syncing;
  }

  function describeEntry(e, outcome) {
    var parts = [TYPE_LABELS[e.type] || e.type];
    var title = e.title || (outcome && outcome.title);
    if (title) { parts.push('《' + title + '》'); } else if (e.code) { parts.push(e.code); }
    if (e.card) { parts.push('证号 ' + e.card); }
    if (e.type === 'in_room_use' && e.count > 1) { parts.push(e.count + ' 人次'); }
    if (e.room && e.room !== cfg.room) { parts.push('在 ' + e.room); }  // one phone, several rooms
    return parts.join(' · ');
  }

  function outcomeRow(entry, outcome) {
    var li = el('li', 'outcome ' + (outcome ? outcome.outcome : 'queued'));
    li.appendChild(el('span', 'what', describeEntry(entry, outcome)));
    var label = outcome ? (OUTCOME_LABELS[outcome.outcome] || outcome.outcome) : '待上传';
    li.appendChild(el('span', 'badge', label));
    if (outcome && outcome.message) { li.appendChild(el('span', 'why', outcome.message)); }
    return li;
  }

  function showSyncPanel(results, failure) {
    var panel = $('sync-panel');
    if (!panel) { return; }
    panel.textContent = '';
    var head = el('div', 'sync-head');
    head.appendChild(el('strong', '', failure && !results.length ? '同步没有完成' : '同步结果'));
    var close = el('button', 'link', '收起');
    close.type = 'button';
    close.addEventListener('click', function () { panel.hidden = true; });
    head.appendChild(close);
    panel.appendChild(head);
    if (failure) { panel.appendChild(el('p', 'sync-fail', failure)); }
    if (results.length) {
      var counts = {};
      results.forEach(function (r) { counts[r.outcome.outcome] = (counts[r.outcome.outcome] || 0) + 1; });
      panel.appendChild(el('p', 'sync-sum', '上传 ' + results.length + ' 条：' + Object.keys(counts).map(function (k) {
        return (OUTCOME_LABELS[k] || k) + ' ' + counts[k];
      }).join('，')));
      var ul = el('ul', 'outcomes');
      results.forEach(function (r) { ul.appendChild(outcomeRow(r.entry, r.outcome)); });
      panel.appendChild(ul);
    }
    panel.hidden = false;
  }

  // -- export to a file (browsers sometimes clear their storage) ---------------------------

  function exportLog() {
    return Promise.all([history(), deviceId()]).then(function (both) {
      var doc = {
        kind: 'shuwu-phone-log', exported_at: isoLocal(new Date()), device_id: both[1], admin: cfg.admin,
        room: cfg.room, entries: both[0].map(function (i) {
          var e = {};
          for (var k in i.entry) { if (Object.prototype.hasOwnProperty.call(i.entry, k)) { e[k] = i.entry[k]; } }
          e.outcome = i.outcome;
          return e;
        })
      };
      var blob = new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' });
      var a = document.createElement('a');
      var stamp = doc.exported_at.slice(0, 16).replace(/[-:T]/g, '');
      a.download = 'shuwu-' + cfg.room + '-' + stamp + '.json';
      a.href = URL.createObjectURL(blob);
      document.body.appendChild(a);
      a.click();
      setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      return doc.entries.length;
    });
  }

  // -- the camera ----------------------------------------------------------------------

  function closeScanner() { P.closeScanner($('scanner')); }

  function cameraMessage(err) {
    var name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') { return '没有得到使用相机的许可。请直接输入号码，或在设置里允许微信使用相机。'; }
    if (name === 'NotFoundError' || name === 'OverconstrainedError') { return '这部手机找不到可用的相机，请直接输入号码。'; }
    if (name === 'NotReadableError') { return '相机正被别的应用占用，请关闭后再试，或直接输入号码。'; }
    if (err && err.message === 'load') { return '扫码程序没有下载成功（网络不好），请直接输入号码。'; }
    return '打不开相机，请直接输入号码。';
  }

  /** Scan into ``input`` with the back camera; ``done`` runs after a code was read. */
  function scanInto(input, done) {
    P.scan({
      box: $('scanner'), msg: $('scanner-msg'), video: $('scanner-video'), src: cfg.scanner,
      // Only what the desk meets (ISBN barcodes, library labels, card QR codes): faster on cheap phones.
      formats: ['EAN_13', 'EAN_8', 'CODE_128', 'CODE_39', 'QR_CODE'], cameraMessage: cameraMessage,
      https: '这个网址不能使用相机（需要 https），请直接输入号码。', aim: '把条码放进框里，对准后会自动读出',
      read: function (text) { input.value = text; if (done) { done(input.value); } }
    });
  }

  function wireScanButtons(onScanned) {
    Array.prototype.forEach.call(document.querySelectorAll('[data-scan-for]'), function (btn) {
      btn.addEventListener('click', function () {
        var input = $(btn.getAttribute('data-scan-for'));
        scanInto(input, function () { if (onScanned) { onScanned(input); } });
      });
    });
    var close = $('scanner-close');
    if (close) {
      close.addEventListener('click', function () {
        closeScanner();
      });
    }
  }

  // -- results on the page ----------------------------------------------------------------

  /** Show a result: kind 'ok' | 'queued' | 'error' | 'warn'. */
  function say(kind, text, detail) {
    var box = $('result');
    if (!box) { return; }
    box.className = 'result ' + kind;
    box.textContent = '';
    box.appendChild(el('p', 'result-text', text));
    if (detail) { box.appendChild(el('p', 'result-detail', detail)); }
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    box.hidden = false;
    if (box.scrollIntoView) { box.scrollIntoView({ block: 'nearest' }); }
  }

  function sayOutcome(res, okText, next) {
    if (res.state === 'done') { say('ok', okText(res.data), next); }
    else if (res.state === 'queued') {
      say('queued', '已记在本机，联网后自动上传', res.message || '现在没有网络（或服务器暂时没有回应）。待上传的记录见上方。');
    } else { say('error', res.message || '没有办成'); }
  }

  // -- start-up --------------------------------------------------------------------------

  function start() {
    var syncBtn = $('sync-btn');
    if (syncBtn) {
      syncBtn.addEventListener('click', function () {
        syncBtn.disabled = true;
        sync({ manual: true }).then(function () { syncBtn.disabled = false; }, function () { syncBtn.disabled = false; });
      });
    }
    var exportBtn = $('export-btn');
    if (exportBtn) { exportBtn.addEventListener('click', function () { exportLog(); }); }
    window.addEventListener('online', function () { markOnline(true); sync(); });
    window.addEventListener('offline', function () { markOnline(false); });
    // Once the queue is uploaded, "已记在本机" is old news: the sync panel says what became of it.
    document.addEventListener('shuwu:synced', function () {
      var box = $('result');
      if (box && box.className.indexOf('queued') >= 0) { box.hidden = true; }
    });
    refreshBar().then(function (n) { if (n && online) { sync(); } });
    setInterval(function () {
      if (online && navigator.onLine !== false) {
        queue().then(function (q) { if (q.length) { sync(); } });
      }
    }, RETRY_SYNC_MS);
  }

  window.Shuwu = {
    cfg: cfg, api: api, submit: submit, sync: sync, history: history, queue: queue, deviceId: deviceId,
    exportLog: exportLog, refreshBar: refreshBar, newOpId: newOpId, normaliseCode: normaliseCode, readerKey: readerKey,
    wireScanButtons: wireScanButtons, closeScanner: closeScanner, say: say, sayOutcome: sayOutcome, el: el, show: show,
    timeText: timeText, dayText: dayText, describeEntry: describeEntry, outcomeRow: outcomeRow, lsGet: lsGet, lsSet: lsSet,
    isOnline: function () { return online && navigator.onLine !== false; }, NetworkError: NetworkError
  };
  start();
}());
