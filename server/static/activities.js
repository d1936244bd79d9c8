/* shuwu — a room's reading activities and "今日开馆" on the phone (/m/rooms/<code>/activities).
   Each write carries a client op_id kept in localStorage until the server answers, so a retry
   after a lost answer is a replay (the server records it once). Uses window.Shuwu from
   phone/desk.js. Old WebViews: no optional chaining, no ??. */
(function () {
  'use strict';
  var S = window.Shuwu;
  if (!S || !document.getElementById('activity-form')) { return; }
  var API = '/m/api/rooms/' + encodeURIComponent(S.cfg.room);
  var FORM_KEY = 'shuwu.activity.' + S.cfg.room + '.pending';
  var OPEN_KEY = 'shuwu.opening.' + S.cfg.room + '.pending';

  function $(id) { return document.getElementById(id); }

  function say(text, ok) {
    var box = $('result');
    box.hidden = false;
    box.className = 'result ' + (ok ? 'ok' : 'bad');
    box.textContent = text;
  }

  function pending(key) {
    return S.lsGet(key, null);
  }

  function send(key, url, body, done) {
    S.lsSet(key, body);
    return S.api('POST', url, body).then(function (res) {
      if (res.ok) { S.lsSet(key, null); done(res.data); return true; }
      if (res.status >= 400 && res.status < 500 && res.status !== 401 && res.status !== 429) {
        S.lsSet(key, null);  // refused: fix the form and send again with a new op_id
      }
      say(res.message || '保存失败', false);
      return false;
    }, function () {
      say('没有连上服务器，内容已留在本机，请稍后点“重试”', false);
      return false;
    });
  }

  function formBody() {
    return {
      op_id: S.newOpId(),
      held_on: $('held_on').value,
      title: $('act-title').value.trim(),
      kind: $('kind').value,
      attendance: parseInt($('attendance').value, 10) || 0,
      children: parseInt($('children').value, 10) || 0,
      notes: $('notes').value.trim()
    };
  }

  function recorded(data) {
    var a = data.activity;
    var li = S.el('li');
    li.appendChild(S.el('b', '', a.held_on));
    li.appendChild(document.createTextNode(' ' + a.title));
    li.appendChild(S.el('br'));
    li.appendChild(S.el('small', '', a.kind + ' · ' + a.attendance + ' 人'));
    var list = $('activity-list');
    var empty = $('activity-empty');
    if (empty) { empty.parentNode.removeChild(empty); }
    list.insertBefore(li, list.firstChild);
    $('act-title').value = ''; $('attendance').value = '0'; $('children').value = '0'; $('notes').value = '';
    say(data.replayed ? '这条活动已经登记过了' : '已登记：' + a.title, true);
  }

  function submitActivity(body) {
    var btn = $('activity-btn');
    btn.disabled = true;
    send(FORM_KEY, API + '/activities', body, recorded).then(function (ok) {
      btn.disabled = false;
      S.show($('activity-retry'), !ok && !!pending(FORM_KEY));
    });
  }

  $('activity-form').addEventListener('submit', function (event) {
    event.preventDefault();
    if (!$('act-title').value.trim()) { say('请填写活动名称', false); return; }
    submitActivity(formBody());
  });
  $('activity-retry').addEventListener('click', function () {
    var body = pending(FORM_KEY);
    if (body) { submitActivity(body); }
  });

  function opened(data) {
    $('opening-state').textContent = data.first ? '已打卡：今天开馆' : '今天已经打过卡了，不会重复记录';
    $('opening-btn').disabled = true;
    say(data.first ? '今日开馆已记录' : '今天已经打过卡了', true);
  }

  $('opening-btn').addEventListener('click', function () {
    var body = pending(OPEN_KEY) || { op_id: S.newOpId() };
    $('opening-btn').disabled = true;
    send(OPEN_KEY, API + '/openings', body, opened).then(function (ok) {
      if (!ok) { $('opening-btn').disabled = false; $('opening-btn').textContent = '重试打卡'; }
    });
  });

  if (pending(FORM_KEY)) { S.show($('activity-retry'), true); }
}());
