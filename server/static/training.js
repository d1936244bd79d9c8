/* shuwu — training on the phone.
   /m/training/checkin: scan the trainer's QR with the camera (the vendored @zxing/browser, as
   the desk pages do) or type/paste the code, and post it with a client op_id to
   /m/api/training/checkins. The op_id is kept until the server answers, so a retry after a
   lost answer is not a second check-in.
   /m/training/sessions/<id>/qr: poll /m/api/training/sessions/<id>/qr, swap the QR when it
   changes, count down and show how many people have checked in.
   Uses window.shuwuPhone from phone/shared.js (op_ids, the JSON call, the camera).
   No inline code (CSP script-src 'self'); old WebViews: no optional chaining, no ??. */
(function () {
  'use strict';

  var P = window.shuwuPhone;  // phone/shared.js
  var TIMEOUT_MS = 20000;

  function $(id) { return document.getElementById(id); }

  var newOpId = P.newOpId;

  /** fetch JSON: resolves {ok, status, data}; rejects when no answer came. */
  function api(method, url, body) { return P.api(method, url, body, { timeoutMs: TIMEOUT_MS }); }

  function problemText(r) {
    if (r.data && r.data.detail) {
      if (r.data.code === 'validation_failed' && r.data.errors && r.data.errors.length) {
        return '签到码格式不对，请重新扫码';
      }
      return r.data.detail;
    }
    return '出错了（' + r.status + '），请稍后再试';
  }

  function say(kind, text, detail) {
    var box = $('result');
    if (!box) { return; }
    box.className = 'result ' + kind;
    box.textContent = '';
    var p = document.createElement('p');
    p.className = 'result-text';
    p.textContent = text;
    box.appendChild(p);
    if (detail) {
      var d = document.createElement('p');
      d.className = 'result-detail';
      d.textContent = detail;
      box.appendChild(d);
    }
    box.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    box.hidden = false;
  }

  // -- check-in ------------------------------------------------------------------------

  var PENDING_KEY = 'shuwu.training.checkin';

  function pending() {
    try { return JSON.parse(window.localStorage.getItem(PENDING_KEY) || 'null'); } catch (e) { return null; }
  }

  function setPending(value) {
    try {
      if (value) { window.localStorage.setItem(PENDING_KEY, JSON.stringify(value)); }
      else { window.localStorage.removeItem(PENDING_KEY); }
    } catch (e) { /* private mode: the op_id lives only in memory */ }
  }

  function checkIn(code) {
    var text = String(code || '').replace(/\s+/g, '');
    if (!text) { say('error', '请先扫码或输入签到码'); return; }
    // The same code sent again (no answer the first time) keeps its op_id: never two check-ins.
    var prior = pending();
    var op = prior && prior.code === text ? prior : { op_id: newOpId(), code: text };
    setPending(op);
    var btn = document.querySelector('#checkin-form .go-btn');
    if (btn) { btn.disabled = true; }
    api('POST', '/m/api/training/checkins', { op_id: op.op_id, code: text }).then(function (r) {
      if (btn) { btn.disabled = false; }
      setPending(null);
      if (r.ok) {
        say('ok', r.data.message || '签到成功', r.data.replayed ? '（这次签到之前已经提交过）' : '');
        if (navigator.vibrate) { navigator.vibrate(120); }
        $('code').value = '';
      } else {
        say(r.data && r.data.code === 'already_checked_in' ? 'warn' : 'error', problemText(r));
      }
    }, function () {
      if (btn) { btn.disabled = false; }
      say('error', '没有连上服务器，请检查网络后再点一次“签到”', '再点一次不会重复签到。');
    });
  }

  function closeScanner() { P.closeScanner($('scanner')); }

  function cameraMessage(err) {
    var name = err && err.name;
    if (name === 'NotAllowedError' || name === 'SecurityError') { return '没有得到使用相机的许可。请直接输入签到码，或在设置里允许使用相机。'; }
    if (name === 'NotFoundError' || name === 'OverconstrainedError') { return '找不到可用的相机，请直接输入签到码。'; }
    if (err && err.message === 'load') { return '扫码程序没有下载成功（网络不好），请直接输入签到码。'; }
    return '打不开相机，请直接输入签到码。';
  }

  function scan(main) {
    P.scan({
      box: $('scanner'), msg: $('scanner-msg'), video: $('scanner-video'), src: main.getAttribute('data-scanner'),
      formats: ['QR_CODE'], cameraMessage: cameraMessage,
      https: '这个网址不能使用相机（需要 https），请直接输入签到码。', aim: '把二维码放进框里，对准后会自动读出',
      read: function (text) { $('code').value = text; checkIn(text); }
    });
  }

  function startCheckin(main) {
    var form = $('checkin-form');
    form.addEventListener('submit', function (ev) { ev.preventDefault(); checkIn($('code').value); });
    var btn = document.querySelector('[data-scan-for="code"]');
    if (btn) { btn.addEventListener('click', function () { scan(main); }); }
    $('scanner-close').addEventListener('click', closeScanner);
    var prior = pending();
    if (prior) { $('code').value = prior.code; say('warn', '上次的签到还没有得到服务器回应', '请点“签到”再提交一次（不会重复签到）。'); }
  }

  // -- the trainer's QR ------------------------------------------------------------------

  function startQr(main) {
    var url = '/m/api/training/sessions/' + encodeURIComponent(main.getAttribute('data-session')) + '/qr';
    var img = $('qr-image');
    if (!img) { return; }
    var POLL_MS = 3000;
    var expiresAt = Date.now() + Number($('qr-countdown').textContent || 0) * 1000;

    function tick() {
      var left = Math.max(0, Math.ceil((expiresAt - Date.now()) / 1000));
      $('qr-countdown').textContent = String(left);
    }

    function poll() {
      api('GET', url).then(function (r) {
        var err = $('qr-error');
        if (!r.ok) {
          err.textContent = problemText(r);
          err.hidden = false;
          if (r.status === 409) { img.hidden = true; return; }  // check-in closed: stop
        } else {
          err.hidden = true;
          img.hidden = false;
          if ($('qr-code').textContent !== r.data.code) { img.src = r.data.image; $('qr-code').textContent = r.data.code; }
          $('qr-present').textContent = String(r.data.present);
          $('qr-enrolled').textContent = String(r.data.enrolled);
          expiresAt = Date.now() + r.data.expires_in * 1000;
          tick();
        }
        // Ask again soon, and right after the code changes.
        var wait = r.ok ? Math.min(POLL_MS, r.data.expires_in * 1000 + 200) : POLL_MS * 2;
        setTimeout(poll, wait);
      }, function () {
        $('qr-error').textContent = '网络不通，二维码可能已过期，正在重试…';
        $('qr-error').hidden = false;
        setTimeout(poll, POLL_MS);
      });
    }

    setInterval(tick, 500);
    setTimeout(poll, POLL_MS);
  }

  var checkinMain = $('training-checkin');
  if (checkinMain) { startCheckin(checkinMain); }
  var qrMain = $('training-qr');
  if (qrMain) { startQr(qrMain); }
}());
