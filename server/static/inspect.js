/* shuwu — an inspector scores one rating entry on the phone (/m/inspect/entries/<id>).
   Sliders and number boxes for the inspector criteria (0–100), visit date, comment;
   photos taken with the camera are shrunk to JPEG in the browser (EXIF goes with it) and
   uploaded one by one with a progress bar; "save" PUTs the draft, "submit" saves and then
   submits after a confirmation. Every write carries an op_id kept on the phone until the
   server answers, so a retry after a lost answer never does it twice.
   Uses window.shuwuPhone from phone/shared.js (op_ids, the JSON call).
   Old WebViews: no optional chaining, no ??, no arrow functions. */
(function () {
  'use strict';
  var dataNode = document.getElementById('inspect-data');
  if (!dataNode) { return; }
  var data = JSON.parse(dataNode.textContent);
  var P = window.shuwuPhone;  // phone/shared.js
  var XSRF = P.xsrf();
  var PHOTO_MAX_EDGE = 1600;
  var PHOTO_QUALITY = 0.85;
  var pendingKey = function (what) { return 'shuwu.inspect.' + data.entry_id + '.' + what; };
  var touched = {};
  var busy = false;

  function $(id) { return document.getElementById(id); }

  function say(kind, text) {
    var box = $('result');
    if (!box) { return; }
    box.className = 'result ' + kind;
    box.textContent = text;
    box.hidden = false;
  }

  function opFor(what) {
    var key = pendingKey(what);
    var id = null;
    try { id = window.localStorage.getItem(key); } catch (e) { id = null; }
    if (!id) { id = P.newOpId(); try { window.localStorage.setItem(key, id); } catch (e2) { /* private mode */ } }
    return id;
  }

  function answered(what) { try { window.localStorage.removeItem(pendingKey(what)); } catch (e) { /* ignore */ } }

  function problemText(p, status) {
    if (status === 401) { return '登录已过期，请重新登录后再试（本页填写的内容请先记下）'; }
    if (!p) { return '服务器没有正常回答（' + status + '），请稍后再试'; }
    var text = p.detail || p.title || ('出错了（' + status + '）');
    if (p.errors && p.errors.length && p.code === 'validation_failed') {
      text += '：' + p.errors.slice(0, 3).map(function (e) { return e.msg; }).join('；');
    }
    return text;
  }

  /** The JSON call without a time limit; no answer at all resolves as status 0. */
  function send(method, url, body) {
    return P.api(method, url, body, { timeoutMs: 0 }).then(null, function () {
      return { ok: false, status: 0, data: { detail: '没有连上服务器，请检查网络后再试（内容还在本页）' } };
    });
  }

  // -- the criteria ---------------------------------------------------------------------

  function rows() { return Array.prototype.slice.call(document.querySelectorAll('.inspect-criterion')); }

  function setValue(key, value, from) {
    var row = document.querySelector('.inspect-criterion[data-key="' + key + '"]');
    if (!row) { return; }
    var v = Math.max(0, Math.min(100, Math.round(Number(value))));
    if (isNaN(v)) { return; }
    touched[key] = v;
    var range = row.querySelector('input[type=range]');
    var num = row.querySelector('.inspect-number');
    if (from !== range) { range.value = String(v); }
    if (from !== num) { num.value = String(v); }
    row.className = 'inspect-criterion';
  }

  rows().forEach(function (row) {
    var key = row.getAttribute('data-key');
    var range = row.querySelector('input[type=range]');
    var num = row.querySelector('.inspect-number');
    if (data.score.criteria.hasOwnProperty(key)) { touched[key] = data.score.criteria[key]; } else { row.className += ' unset'; }
    range.addEventListener('input', function () { setValue(key, range.value, range); });
    num.addEventListener('change', function () { if (num.value !== '') { setValue(key, num.value, num); } });
  });

  function draftBody() {
    var criteria = {};
    Object.keys(touched).forEach(function (k) { criteria[k] = touched[k]; });
    var visited = $('visited-on') ? $('visited-on').value : '';
    return { op_id: opFor('save'), criteria: criteria, comment: $('comment') ? $('comment').value : '',
             visited_on: visited || null };
  }

  function save(quiet) {
    var body = draftBody();
    return send('PUT', data.api + '/score', body).then(function (res) {
      if (res.status !== 0) { answered('save'); }
      if (!res.ok) { throw new Error(problemText(res.data, res.status)); }
      $('score-status').textContent = '草稿';
      if (!quiet) { say('ok', '草稿已保存（' + Object.keys(body.criteria).length + ' 项已打分）'); }
      return res.data;
    });
  }

  function lock() {
    Array.prototype.forEach.call(document.querySelectorAll('#score-form input, #score-form textarea, #photo-input'),
      function (n) { n.disabled = true; });
    ['save-btn', 'submit-btn'].forEach(function (id) { if ($(id)) { $(id).hidden = true; } });
    Array.prototype.forEach.call(document.querySelectorAll('.inspect-photos button'), function (b) { b.remove(); });
  }

  function submit() {
    var missing = rows().filter(function (r) { return !touched.hasOwnProperty(r.getAttribute('data-key')); });
    if (missing.length) {
      say('warn', '还有 ' + missing.length + ' 项没有打分：' + missing.map(function (r) {
        return r.querySelector('label').firstChild.textContent.trim(); }).join('、'));
      return Promise.resolve();
    }
    if (!window.confirm('提交后评分不能再修改，也会看到其他督查员已提交的评分。确定提交吗？')) { return Promise.resolve(); }
    return save(true).then(function () {
      return send('POST', data.api + '/score/submit', { op_id: opFor('submit') });
    }).then(function (res) {
      if (res.status !== 0) { answered('submit'); }
      if (!res.ok) { throw new Error(problemText(res.data, res.status)); }
      $('score-status').textContent = '已提交';
      lock();
      say('ok', '评分已提交。谢谢！');
    });
  }

  function guarded(fn) {
    return function () {
      if (busy) { return; }
      busy = true;
      Promise.resolve().then(fn).catch(function (e) { say('error', e.message || '出错了'); })
        .then(function () { busy = false; });
    };
  }

  // -- photos ---------------------------------------------------------------------------

  function countPhotos() {
    var n = document.querySelectorAll('#photo-list li').length;
    $('photo-count').textContent = n + ' / ' + data.max_photos;
    return n;
  }

  function addThumb(photoId) {
    if (document.querySelector('#photo-list li[data-photo="' + photoId + '"]')) { return; }
    var li = document.createElement('li');
    li.setAttribute('data-photo', photoId);
    var img = document.createElement('img');
    img.src = data.photo_url + photoId; img.alt = '现场照片'; img.width = 96; img.height = 96;
    li.appendChild(img);
    addDelete(li);
    $('photo-list').appendChild(li);
    countPhotos();
  }

  function addDelete(li) {
    if (data.score.status === 'submitted') { return; }
    var b = document.createElement('button');
    b.type = 'button'; b.textContent = '×'; b.setAttribute('aria-label', '删除这张照片');
    b.addEventListener('click', guarded(function () {
      if (!window.confirm('删除这张照片？')) { return null; }
      var id = li.getAttribute('data-photo');
      return fetch(data.api + '/score/photos/' + id, { method: 'DELETE', credentials: 'same-origin',
        headers: { 'X-XSRFToken': XSRF } }).then(function (r) {
        if (r.ok || r.status === 404) { li.parentNode.removeChild(li); countPhotos(); say('ok', '照片已删除'); return null; }
        return r.json().then(function (j) { throw new Error(problemText(j, r.status)); });
      });
    }));
    li.appendChild(b);
  }

  /** The photo as a JPEG of at most PHOTO_MAX_EDGE px (EXIF dropped); the file itself if the browser cannot draw it. */
  function shrink(file) {
    return new Promise(function (resolve) {
      if (!window.URL || !document.createElement('canvas').toBlob) { resolve(file); return; }
      var url = URL.createObjectURL(file);
      var img = new Image();
      img.onload = function () {
        var scale = Math.min(1, PHOTO_MAX_EDGE / Math.max(img.naturalWidth, img.naturalHeight));
        var canvas = document.createElement('canvas');
        canvas.width = Math.round(img.naturalWidth * scale); canvas.height = Math.round(img.naturalHeight * scale);
        canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
        URL.revokeObjectURL(url);
        canvas.toBlob(function (blob) { resolve(blob || file); }, 'image/jpeg', PHOTO_QUALITY);
      };
      img.onerror = function () { URL.revokeObjectURL(url); resolve(file); };
      img.src = url;
    });
  }

  function upload(blob) {
    return new Promise(function (resolve, reject) {
      var xhr = new XMLHttpRequest();
      var bar = $('photo-progress');
      xhr.open('POST', data.api + '/score/photos');
      xhr.setRequestHeader('Content-Type', blob.type === 'image/png' ? 'image/png' : (blob.type || 'image/jpeg'));
      xhr.setRequestHeader('X-XSRFToken', XSRF);
      xhr.upload.onprogress = function (e) { if (e.lengthComputable) { bar.value = Math.round(e.loaded * 100 / e.total); } };
      xhr.onload = function () {
        var j = null;
        try { j = JSON.parse(xhr.responseText); } catch (e) { j = null; }
        if (xhr.status >= 200 && xhr.status < 300 && j) { resolve(j); } else { reject(new Error(problemText(j, xhr.status))); }
      };
      xhr.onerror = function () { reject(new Error('照片没有传上去：没有连上服务器，请检查网络后再拍一次')); };
      bar.hidden = false; bar.value = 0;
      xhr.send(blob);
    });
  }

  function uploadAll(files) {
    var list = Array.prototype.slice.call(files);
    var done = 0;
    var next = function () {
      if (!list.length) { $('photo-progress').hidden = true; say('ok', '已上传 ' + done + ' 张照片'); return null; }
      if (countPhotos() >= data.max_photos) { throw new Error('每份评分最多 ' + data.max_photos + ' 张照片'); }
      var file = list.shift();
      say('queued', '正在上传第 ' + (done + 1) + ' 张照片…');
      return shrink(file).then(upload).then(function (j) { done += 1; addThumb(j.photo_id); return next(); });
    };
    return Promise.resolve().then(next).catch(function (e) { $('photo-progress').hidden = true; throw e; });
  }

  Array.prototype.forEach.call(document.querySelectorAll('#photo-list li'), addDelete);
  var input = $('photo-input');
  if (input) {
    input.addEventListener('change', guarded(function () {
      var files = input.files;
      return uploadAll(files).then(function () { input.value = ''; }, function (e) { input.value = ''; throw e; });
    }));
  }
  if ($('save-btn')) { $('save-btn').addEventListener('click', guarded(function () { return save(false); })); }
  if ($('submit-btn')) { $('submit-btn').addEventListener('click', guarded(submit)); }
  if ($('visited-on') && !$('visited-on').value && !$('visited-on').disabled) {
    var d = new Date();
    $('visited-on').value = d.getFullYear() + '-' + ('0' + (d.getMonth() + 1)).slice(-2) + '-' + ('0' + d.getDate()).slice(-2);
  }
}());
