/* shuwu — a course quiz on the phone (/m/training/quiz/<course_id>).
   Starts or resumes an attempt, shows one question per screen with big options and a
   countdown, saves each answer as it is tapped (a client op_id per save; unsent answers are
   retried), submits when asked or when the time is up, then shows the score, pass or fail
   and the right answers. Uses window.shuwuPhone from phone/shared.js (op_ids, the JSON call).
   Old WebViews: no optional chaining, no ??, no arrow functions. */
(function () {
  'use strict';
  var root = document.getElementById('quiz');
  if (!root) { return; }
  var course = root.getAttribute('data-course');
  var API = '/m/api/training/courses/' + encodeURIComponent(course) + '/attempts';
  var P = window.shuwuPhone;  // phone/shared.js
  var attempt = null, index = 0, chosen = {}, unsent = {}, endsAt = 0, timer = null, saving = false, submitting = false;

  function $(id) { return document.getElementById(id); }
  function show(node, on) { if (on) { node.removeAttribute('hidden'); } else { node.setAttribute('hidden', ''); } }
  function opId() { return 'quiz-' + P.hex(P.randomBytes(12)); }
  function error(text) { var box = $('quiz-error'); box.textContent = text || ''; show(box, !!text); }

  /** The JSON call without a time limit. */
  function call(method, url, body) { return P.api(method, url, body, { timeoutMs: 0 }); }

  function load(data) {
    attempt = data;
    chosen = {};
    attempt.questions.forEach(function (q) { if (q.chosen !== null && q.chosen !== undefined) { chosen[q.id] = q.chosen; } });
    if (attempt.status !== 'open') { finish(); return; }
    show($('quiz-intro'), false);
    show($('quiz-question'), true);
    endsAt = Date.now() + attempt.seconds_left * 1000;
    tick();
    if (!timer) { timer = window.setInterval(tick, 1000); }
    render();
  }

  function tick() {
    var left = Math.max(0, Math.round((endsAt - Date.now()) / 1000));
    var node = $('quiz-timer');
    show(node, true);
    node.textContent = '剩余 ' + Math.floor(left / 60) + ':' + ('0' + left % 60).slice(-2);
    node.className = 'quiz-timer' + (left <= 60 ? ' quiz-timer-low' : '');
    if (left <= 0) { submit(); }
  }

  function render() {
    var q = attempt.questions[index];
    $('quiz-progress').textContent = '第 ' + (index + 1) + ' 题 / 共 ' + attempt.questions.length + ' 题 · 已答 ' +
      Object.keys(chosen).length + ' 题';
    $('quiz-text').textContent = q.text;
    var box = $('quiz-options');
    box.textContent = '';
    q.options.forEach(function (text, i) {
      var b = document.createElement('button');
      b.type = 'button';
      b.className = 'quiz-option' + (chosen[q.id] === i ? ' chosen' : '');
      b.setAttribute('role', 'radio');
      b.setAttribute('aria-checked', chosen[q.id] === i ? 'true' : 'false');
      b.textContent = 'ABCDEF'.charAt(i) + '. ' + text;
      b.addEventListener('click', function () { pick(q.id, i); });
      box.appendChild(b);
    });
    $('quiz-prev').disabled = index === 0;
    $('quiz-next').disabled = index === attempt.questions.length - 1;
  }

  function pick(qid, option) {
    chosen[qid] = option;
    unsent[qid] = option;
    render();
    save();
    if (index < attempt.questions.length - 1) { window.setTimeout(function () { index += 1; render(); }, 250); }
  }

  function save() {
    if (saving || !Object.keys(unsent).length) { return Promise.resolve(true); }
    var batch = unsent;
    unsent = {};
    saving = true;
    return call('PUT', API + '/' + attempt.id + '/answers', { op_id: opId(), answers: batch }).then(function (r) {
      saving = false;
      if (r.ok) { $('quiz-saved').textContent = '答案已保存'; return save(); }
      if (r.status >= 500 || r.status === 0) { Object.keys(batch).forEach(function (k) { if (!(k in unsent)) { unsent[k] = batch[k]; } }); }
      $('quiz-saved').textContent = (r.data && r.data.detail) || '保存没有成功，稍后会再试';
      return false;
    }, function () {
      saving = false;
      Object.keys(batch).forEach(function (k) { if (!(k in unsent)) { unsent[k] = batch[k]; } });
      $('quiz-saved').textContent = '网络不通，答案暂存在手机上，恢复后会自动保存';
      return false;
    });
  }

  function submit() {
    if (submitting || !attempt) { return; }
    var key = 'shuwu.quiz.' + attempt.id + '.submit';
    var op = window.sessionStorage.getItem(key) || opId();
    window.sessionStorage.setItem(key, op);
    submitting = true;
    save().then(function () {
      return call('POST', API + '/' + attempt.id + '/submit', { op_id: op });
    }).then(function (r) {
      submitting = false;
      if (!r.ok) { error((r.data && r.data.detail) || '交卷没有成功，请再试一次'); return; }
      window.sessionStorage.removeItem(key);
      attempt = r.data;
      finish();
    }, function () { submitting = false; error('网络不通，交卷没有成功，请联网后再点“交卷”'); });
  }

  function finish() {
    if (timer) { window.clearInterval(timer); timer = null; }
    show($('quiz-timer'), false);
    show($('quiz-intro'), false);
    show($('quiz-question'), false);
    show($('quiz-result'), true);
    error('');
    $('quiz-verdict').textContent = attempt.passed ? '恭喜，测验通过！' : '这次没有通过';
    $('quiz-verdict').className = attempt.passed ? 'quiz-pass' : 'quiz-fail';
    $('quiz-score').textContent = attempt.score_percent + ' 分（答对 ' + attempt.correct + ' / ' + attempt.total +
      ' 题，' + attempt.pass_mark + ' 分及格）' + (attempt.late ? ' · 超时交卷，只计时间内保存的答案' : '');
    $('quiz-cert').textContent = attempt.certificate_number ? '培训证书已颁发：' + attempt.certificate_number :
      (attempt.passed ? '参加培训签到后即可获得培训证书。' : '可以再考一次。');
    var list = $('quiz-review');
    list.textContent = '';
    attempt.questions.forEach(function (q) {
      var li = document.createElement('li');
      var right = q.chosen === q.correct;
      li.className = right ? 'right' : 'wrong';
      var t = document.createElement('p'); t.textContent = q.text; li.appendChild(t);
      var a = document.createElement('p');
      a.textContent = (right ? '✔ ' : '✘ ') + '你的答案：' + (q.chosen === null ? '未答' : 'ABCDEF'.charAt(q.chosen) + '. ' + q.options[q.chosen]) +
        (right ? '' : '；正确答案：' + 'ABCDEF'.charAt(q.correct) + '. ' + q.options[q.correct]);
      li.appendChild(a);
      list.appendChild(li);
    });
  }

  var start = $('quiz-start');
  if (start) {
    start.addEventListener('click', function () {
      start.disabled = true;
      call('POST', API, { op_id: opId() }).then(function (r) {
        start.disabled = false;
        if (!r.ok) { error((r.data && r.data.detail) || '没能开始答题，请稍后再试'); return; }
        error('');
        load(r.data);
      }, function () { start.disabled = false; error('网络不通，请联网后再开始答题'); });
    });
  }
  $('quiz-prev').addEventListener('click', function () { if (index > 0) { index -= 1; render(); } });
  $('quiz-next').addEventListener('click', function () { if (index < attempt.questions.length - 1) { index += 1; render(); } });
  $('quiz-submit').addEventListener('click', function () {
    var missing = attempt.questions.length - Object.keys(chosen).length;
    if (missing > 0 && !window.confirm('还有 ' + missing + ' 题没有答，确定交卷吗？')) { return; }
    submit();
  });
  window.setInterval(function () { if (attempt && attempt.status === 'open') { save(); } }, 5000);
}());
