/* shuwu — what each desk page does (借书, 还书, 续借, 阅览登记, 收货, 盘点, 本机记录).
   Uses window.Shuwu from desk.js. */
(function () {
  'use strict';

  var S = window.Shuwu;
  if (!S) { return; }
  var cfg = S.cfg;
  var el = S.el;
  var ROOM_API = '/m/api/rooms/' + encodeURIComponent(cfg.room);

  function $(id) { return document.getElementById(id); }

  function onSubmit(form, fn) {
    form.addEventListener('submit', function (event) { event.preventDefault(); fn(); });
  }

  function busy(button, on) {
    if (!button) { return; }
    button.disabled = on;
    button.classList.toggle('busy', on);
  }

  function wireSteppers() {
    Array.prototype.forEach.call(document.querySelectorAll('.stepper'), function (box) {
      var input = $(box.getAttribute('data-for'));
      Array.prototype.forEach.call(box.querySelectorAll('.step-btn'), function (btn) {
        btn.addEventListener('click', function () {
          var max = Number(input.max) || 9999;
          var v = Math.min(max, Math.max(1, (parseInt(input.value, 10) || 0) + Number(btn.getAttribute('data-step'))));
          input.value = String(v);
        });
      });
    });
  }

  function bookCode(input) {
    var code = S.normaliseCode(input.value);
    if (!code) { S.say('error', '书号不对：请扫书背面的 ISBN 条码，或输入 13 位 ISBN（馆内编号 SW 开头）'); input.focus(); }
    return code;
  }

  function readerKey(input) {
    var key = S.readerKey(input.value, cfg.cardPrefix);
    if (!key) { S.say('error', '借阅证号不对：请扫读者的借阅证，或输入证号（如 ' + (cfg.cardPrefix || 'JN') + '00000012）'); input.focus(); }
    return key;
  }

  function loansCount(r) {
    return (r.open_loans.book || 0) + (r.open_loans.audio_visual || 0);
  }

  // -- the roster of cards that may not borrow (kept on the phone for offline loans) ---------

  var ROSTER_KEY = 'shuwu.roster.' + cfg.room;

  function refreshRoster() {
    if (!S.isOnline()) { return; }
    S.api('GET', ROOM_API + '/blocked-cards').then(function (r) {
      if (r.ok) { S.lsSet(ROSTER_KEY, r.data); }
    }, function () { /* offline: keep the last one */ });
  }

  function rosterWarning(card) {
    var roster = S.lsGet(ROSTER_KEY, null);
    if (!roster) { return '这部手机还没有停借名单，无法核对。'; }
    for (var i = 0; i < roster.blocked.length; i++) {
      if (roster.blocked[i].card_no === card) { return '该读者已被停借：' + roster.blocked[i].reason; }
    }
    if (roster.overdue.indexOf(card) >= 0) { return '该读者有逾期未还的书，按规定还书前不能再借。'; }
    return '';
  }

  // -- 借书 ---------------------------------------------------------------------------------

  function lendPage() {
    var reader = null;
    var book = null;
    var cardInput = $('card');
    var bookInput = $('book');
    var readerBox = $('reader-box');
    var bookBox = $('book-box');

    function showConfirm() {
      var ready = reader && book && !reader.blocked;
      S.show($('confirm'), ready);
      if (!ready) { return; }
      $('confirm-text').textContent = '把《' + (book.title || book.title_id) + '》借给 ' + (reader.name || '') +
        '（' + reader.card_no + '）';
      $('confirm-btn').disabled = false;
      if ($('confirm').scrollIntoView) { $('confirm').scrollIntoView({ block: 'nearest' }); }
    }

    function renderReader(r, note, warn) {
      readerBox.textContent = '';
      var again = el('button', 'change secondary', '换读者');
      again.type = 'button';
      again.addEventListener('click', function () {
        reader = null;
        cardInput.value = '';
        S.show(readerBox, false);
        S.show($('reader-form'), true);
        showConfirm();
        cardInput.focus();
      });
      readerBox.appendChild(again);
      var head = el('p', 'found-main');
      head.appendChild(el('b', '', r.name || '读者'));
      head.appendChild(el('span', 'code', ' ' + r.card_no));
      if (r.child) { head.appendChild(el('span', 'tag', '儿童')); }
      readerBox.appendChild(head);
      if (r.open_loans) { readerBox.appendChild(el('p', 'muted', '在借 ' + loansCount(r) + ' 本')); }
      var late = (r.loans || []).filter(function (l) { return l.overdue; });
      if (r.blocked) { readerBox.appendChild(el('p', 'warn-text', '该读者已被停借：' + (r.blocked_reason || '') + '。不能借书。')); }
      else if (late.length) { readerBox.appendChild(el('p', 'warn-text', '有 ' + late.length + ' 本逾期未还，请先还书。')); }
      if (warn) { readerBox.appendChild(el('p', 'warn-text', warn)); }
      if (note) { readerBox.appendChild(el('p', 'muted small', note)); }
      S.show(readerBox, true);
    }

    function choose(r, note, warn) {
      reader = r;
      // The reader stays while several books are lent: fold the card field away.
      S.show($('reader-form'), false);
      renderReader(r, note, warn);
      showConfirm();
      if (!r.blocked && !book) { bookInput.focus(); }
    }

    function findReader() {
      var key = readerKey(cardInput);
      if (!key) { return; }
      reader = null;
      showConfirm();
      $('result').hidden = true;
      var query = key.card ? 'card=' + encodeURIComponent(key.card) : 'phone=' + encodeURIComponent(key.phone);
      S.api('GET', '/m/api/readers?' + query).then(function (r) {
        if (!r.ok) { S.say('error', r.message); return; }
        var items = r.data.items;
        if (!items.length) { S.say('error', '没有找到这位读者，请核对证号，或先办理借阅证'); S.show(readerBox, false); return; }
        if (items.length === 1) { cardInput.value = items[0].card_no; choose(items[0]); return; }
        readerBox.textContent = '';
        readerBox.appendChild(el('p', 'muted', '这个手机号下有 ' + items.length + ' 张借阅证，请选择：'));
        items.forEach(function (item) {
          var b = el('button', 'big secondary pick', item.name + ' · ' + item.card_no);
          b.type = 'button';
          b.addEventListener('click', function () { cardInput.value = item.card_no; choose(item); });
          readerBox.appendChild(b);
        });
        S.show(readerBox, true);
      }, function () {
        if (!key.card) { S.say('error', '没有网络时只能用借阅证号，不能用手机号查找'); return; }
        cardInput.value = key.card;
        choose({ card_no: key.card, offline: true }, '没有网络，暂时无法核对读者；借书记在本机，联网后上传。',
          rosterWarning(key.card));
      });
    }

    function renderBook(b, note) {
      bookBox.textContent = '';
      bookBox.appendChild(el('p', 'found-main', b.title ? '《' + b.title + '》' : b.title_id));
      if (b.title) { bookBox.appendChild(el('p', 'muted small code', b.title_id)); }
      if (b.author) { bookBox.appendChild(el('p', 'muted', b.author)); }
      if (b.on_shelf !== undefined) {
        bookBox.appendChild(el('p', b.on_shelf > 0 ? 'muted' : 'warn-text',
          '本书屋在架 ' + b.on_shelf + ' 册，借出 ' + b.on_loan + ' 册' + (b.on_shelf > 0 ? '' : '：架上没有这本书了')));
      }
      if (note) { bookBox.appendChild(el('p', 'muted small', note)); }
      S.show(bookBox, true);
    }

    function findBook() {
      var code = bookCode(bookInput);
      if (!code) { return; }
      book = null;
      showConfirm();
      $('result').hidden = true;
      S.api('GET', ROOM_API + '/titles/' + encodeURIComponent(code)).then(function (r) {
        if (!r.ok) { S.say('error', r.message); S.show(bookBox, false); return; }
        book = r.data;
        renderBook(book);
        showConfirm();
        if (!reader) { cardInput.focus(); }
      }, function () {
        book = { title_id: code, offline: true };
        renderBook(book, '没有网络，书名待联网后核对。');
        showConfirm();
      });
    }

    function lend() {
      var button = $('confirm-btn');
      busy(button, true);
      var lent = book;
      S.submit({ type: 'loan', card: reader.card_no, code: lent.title_id, title: lent.title },
        ROOM_API + '/loans', { card_no: reader.card_no, title_id: lent.title_id }).then(function (res) {
        busy(button, false);
        S.sayOutcome(res, function (d) { return d.message; }, '可以接着扫下一本，或点“换读者”。');
        if (res.state !== 'refused') {
          if (res.state === 'done' && reader.open_loans) { reader.open_loans.book += 1; renderReader(reader); }
          book = null;
          bookInput.value = '';
          S.show(bookBox, false);
          S.show($('confirm'), false);
          bookInput.focus();
        }
      });
    }

    /** Back online: check the reader who was taken on trust, without losing the book in hand. */
    function verifyReader() {
      if (!reader || !reader.offline) { return; }
      var card = reader.card_no;
      S.api('GET', '/m/api/readers?card=' + encodeURIComponent(card)).then(function (r) {
        if (!reader || reader.card_no !== card) { return; }
        if (r.ok && r.data.items.length) { choose(r.data.items[0]); }
        else if (r.ok) { renderReader(reader, '', '没有找到这个借阅证号，请核对'); }
      }, function () { /* still offline */ });
    }

    onSubmit($('reader-form'), findReader);
    onSubmit($('book-form'), findBook);
    $('confirm-btn').addEventListener('click', lend);
    // After the queue is uploaded (desk.js starts that on 'online'), so the count includes it.
    window.addEventListener('online', function () { S.sync().then(verifyReader, verifyReader); });
    S.wireScanButtons(function (input) { if (input === cardInput) { findReader(); } else { findBook(); } });
    refreshRoster();
    window.addEventListener('online', refreshRoster);
    cardInput.focus();
  }

  // -- 还书 -------------------------------------------------------------------------------------

  function returnPage() {
    var bookInput = $('book');
    var cardInput = $('card');
    var cardRow = $('return-card');

    function giveBack() {
      var code = bookCode(bookInput);
      if (!code) { return; }
      var body = { title_id: code };
      var op = { type: 'return', code: code };
      if (!cardRow.hidden && cardInput.value.trim()) {
        var key = readerKey(cardInput);
        if (!key || !key.card) { return; }
        body.card_no = key.card;
        op.card = key.card;
      }
      var button = document.querySelector('#return-form button[type=submit]');
      busy(button, true);
      S.submit(op, ROOM_API + '/returns', body).then(function (res) {
        busy(button, false);
        if (res.state === 'refused' && res.data && res.data.code === 'reader_needed') {
          S.show(cardRow, true);
          S.say('warn', res.message);
          cardInput.focus();
          return;
        }
        if (res.state === 'done' && res.data.notice) {
          var n = res.data.notice;
          S.say('hold', n.action === 'keep' ? '有读者预约了这本书：请把书留在书屋，等读者来取'
            : '有读者预约了这本书：请送到' + n.pickup_room_name, res.data.message);
        } else {
          S.sayOutcome(res, function (d) { return d.message; });
        }
        if (res.state !== 'refused') {
          bookInput.value = '';
          cardInput.value = '';
          S.show(cardRow, false);
          bookInput.focus();
        }
      });
    }

    onSubmit($('return-form'), giveBack);
    S.wireScanButtons(function (input) { if (input === bookInput) { giveBack(); } });
    bookInput.focus();
  }

  // -- 续借 ---------------------------------------------------------------------------------------

  function renewPage() {
    var cardInput = $('card');
    var box = $('loans-box');
    var offlineForm = $('offline-renew');
    var card = null;

    function loanRow(loan, r) {
      var li = el('li', 'loan-row');
      li.appendChild(el('b', '', '《' + (loan.title || loan.title_id) + '》'));
      var due = el('span', loan.overdue ? 'warn-text' : 'muted',
        (loan.overdue ? '已逾期 ' + loan.days_overdue + ' 天，' : '') + S.dayText(loan.due_at) + '前归还' +
        (loan.renewals ? '（已续借 ' + loan.renewals + ' 次）' : ''));
      li.appendChild(due);
      var b = el('button', 'big go', '续借');
      b.type = 'button';
      b.addEventListener('click', function () {
        busy(b, true);
        S.submit({ type: 'renew', card: r.card_no, code: loan.title_id, loan_id: loan.id, title: loan.title },
          '/m/api/loans/' + encodeURIComponent(loan.id) + '/renew', { room: cfg.room }).then(function (res) {
          busy(b, false);
          S.sayOutcome(res, function (d) { return d.message; });
          if (res.state === 'done') {
            due.className = 'ok-text';
            due.textContent = '已续借，' + S.dayText(res.data.loan.due_at) + '前归还';
            b.remove();
          }
        });
      });
      li.appendChild(b);
      return li;
    }

    function render(readers) {
      box.textContent = '';
      readers.forEach(function (r) {
        var sec = el('section', 'card');
        var h = el('h2', '', r.name + ' ');
        h.appendChild(el('small', 'code', r.card_no));
        sec.appendChild(h);
        if (r.blocked) { sec.appendChild(el('p', 'warn-text', '该读者已被停借：' + (r.blocked_reason || ''))); }
        if (!r.loans.length) { sec.appendChild(el('p', 'muted', '没有在借的书')); }
        var ul = el('ul', 'loans');
        r.loans.forEach(function (loan) { ul.appendChild(loanRow(loan, r)); });
        sec.appendChild(ul);
        box.appendChild(sec);
      });
    }

    function find() {
      var key = readerKey(cardInput);
      if (!key) { return; }
      $('result').hidden = true;
      S.show(offlineForm, false);
      var query = key.card ? 'card=' + encodeURIComponent(key.card) : 'phone=' + encodeURIComponent(key.phone);
      S.api('GET', '/m/api/readers?' + query).then(function (r) {
        if (!r.ok) { S.say('error', r.message); return; }
        if (!r.data.items.length) { S.say('error', '没有找到这位读者，请核对证号'); box.textContent = ''; return; }
        render(r.data.items);
      }, function () {
        if (!key.card) { S.say('error', '没有网络时只能用借阅证号'); return; }
        card = key.card;
        box.textContent = '';
        S.say('warn', '没有网络，查不到读者在借的书。可以先把要续借的书记下来。');
        S.show(offlineForm, true);
        $('renew-book').focus();
      });
    }

    function noteRenewal() {
      var code = bookCode($('renew-book'));
      if (!code || !card) { return; }
      S.submit({ type: 'renew', card: card, code: code }, null, {}).then(function (res) {
        S.sayOutcome(res, function () { return ''; });
        $('renew-book').value = '';
        if (S.isOnline()) { S.sync(); }  // the line came back meanwhile: upload it now
      });
    }

    onSubmit($('reader-form'), find);
    onSubmit(offlineForm, noteRenewal);
    S.wireScanButtons(function (input) { if (input === cardInput) { find(); } else { noteRenewal(); } });
    cardInput.focus();
  }

  // -- 阅览登记 ---------------------------------------------------------------------------------

  function inRoomPage() {
    var bookInput = $('book');
    var count = $('count');

    function note() {
      var code = bookCode(bookInput);
      if (!code) { return; }
      var n = Math.max(1, Math.min(500, parseInt(count.value, 10) || 1));
      var button = document.querySelector('#inroom-form button[type=submit]');
      busy(button, true);
      S.submit({ type: 'in_room_use', code: code, count: n }, ROOM_API + '/in-room-uses', { title_id: code, count: n })
        .then(function (res) {
          busy(button, false);
          S.sayOutcome(res, function () { return '已登记 ' + n + ' 人次'; });
          if (res.state !== 'refused') { bookInput.value = ''; count.value = '1'; bookInput.focus(); }
        });
    }

    wireSteppers();
    onSubmit($('inroom-form'), note);
    S.wireScanButtons(function () { count.focus(); });
    bookInput.focus();
  }

  // -- 收货 ---------------------------------------------------------------------------------------

  function receivePage() {
    var DRAFT_KEY = 'shuwu.receive.' + cfg.room;
    // The draft keeps its op_id until the server has decided, so a retry after a lost answer is not a second delivery.
    var draft = S.lsGet(DRAFT_KEY, null) || { op_id: S.newOpId(), reference: '', lines: [] };
    var bookInput = $('book');
    var qty = $('qty');
    var list = $('lines');
    var submitBtn = $('receive-btn');
    $('reference').value = draft.reference || '';

    function save() { S.lsSet(DRAFT_KEY, draft); }

    function render() {
      list.textContent = '';
      var titles = 0;
      var copies = 0;
      draft.lines.forEach(function (line, i) {
        var li = el('li', 'line' + (line.unknown ? ' bad' : ''));
        var what = el('span', 'what');
        what.appendChild(el('b', '', line.title ? '《' + line.title + '》' : line.code));
        if (line.title) { what.appendChild(el('span', 'muted small code', line.code)); }
        if (line.unknown) { what.appendChild(el('span', 'warn-text', '目录中没有这种书，请先请区馆登记书目，或删去')); }
        else if (!line.title) { what.appendChild(el('span', 'muted small', '书名待联网后核对')); }
        li.appendChild(what);
        var controls = el('span', 'line-controls');
        [['−', -1], ['+', 1]].forEach(function (pair) {
          var b = el('button', 'mini secondary', pair[0]);
          b.type = 'button';
          b.setAttribute('aria-label', pair[1] > 0 ? '多一册' : '少一册');
          b.addEventListener('click', function () {
            line.quantity = Math.max(1, line.quantity + pair[1]);
            save();
            render();
          });
          controls.appendChild(b);
          if (pair[1] < 0) { controls.appendChild(el('b', 'qty', line.quantity + ' 册')); }
        });
        var del = el('button', 'mini secondary', '删');
        del.type = 'button';
        del.setAttribute('aria-label', '从清单删去');
        del.addEventListener('click', function () { draft.lines.splice(i, 1); save(); render(); });
        controls.appendChild(del);
        li.appendChild(controls);
        list.appendChild(li);
        titles += 1;
        copies += line.quantity;
      });
      $('lines-sum').textContent = titles ? titles + ' 种 ' + copies + ' 册' : '还没有书';
      var bad = draft.lines.some(function (l) { return l.unknown; });
      submitBtn.disabled = !titles || bad;
      submitBtn.textContent = titles ? '确认收货 ' + titles + ' 种 ' + copies + ' 册' : '确认收货';
    }

    function addLine() {
      var code = bookCode(bookInput);
      if (!code) { return; }
      var n = Math.max(1, Math.min(10000, parseInt(qty.value, 10) || 1));
      var line = null;
      draft.lines.forEach(function (l) { if (l.code === code) { line = l; } });
      if (line) { line.quantity += n; } else { line = { code: code, quantity: n }; draft.lines.push(line); }
      bookInput.value = '';
      qty.value = '1';
      save();
      render();
      bookInput.focus();
      if (line.title) { return; }
      S.api('GET', ROOM_API + '/titles/' + encodeURIComponent(code)).then(function (r) {
        if (r.ok) { line.title = r.data.title; line.unknown = false; }
        else if (r.data && (r.data.code === 'title_not_found' || r.data.code === 'unknown_title')) { line.unknown = true; }
        save();
        render();
      }, function () { /* offline: named once the line is checked online */ });
    }

    function receive() {
      draft.reference = $('reference').value.trim();
      save();
      busy(submitBtn, true);
      var body = { op_id: draft.op_id, reference: draft.reference,
        lines: draft.lines.map(function (l) { return { code: l.code, quantity: l.quantity }; }) };
      S.api('POST', ROOM_API + '/receipts', body).then(function (r) {
        busy(submitBtn, false);
        if (r.ok) {
          var res = r.data.result;
          S.say('ok', '已入库 ' + res.lines + ' 种 ' + res.copies + ' 册' + (r.data.replayed ? '（这批刚才已经入库）' : ''));
          draft = { op_id: S.newOpId(), reference: '', lines: [] };
          $('reference').value = '';
          save();
          render();
          return;
        }
        if (r.status < 500 && r.status !== 401) { draft.op_id = S.newOpId(); save(); }
        ((r.data && r.data.errors) || []).forEach(function (e) {
          if (e.loc[1] === 'lines' && typeof e.loc[2] === 'number' && draft.lines[e.loc[2]]) { draft.lines[e.loc[2]].unknown = true; }
        });
        save();
        render();
        S.say('error', r.message);
      }, function () {
        busy(submitBtn, false);
        render();
        S.say('error', '没有网络，收货没有提交。清单保存在本机，联网后再点“确认收货”。');
      });
    }

    wireSteppers();
    onSubmit($('line-form'), addLine);
    submitBtn.addEventListener('click', receive);
    $('reference').addEventListener('change', function () { draft.reference = $('reference').value.trim(); save(); });
    S.wireScanButtons(function () { addLine(); });
    render();
  }

  // -- 盘点 -------------------------------------------------------------------------------------

  function stocktakePage() {
    var current = null;
    var bookInput = $('book');
    var finishBtn = $('st-finish');
    var armed = false;
    var device = null;

    function pendingKey() { return 'shuwu.stscans.' + (current ? current.id : ''); }

    function render(st) {
      current = st;
      S.show($('st-loading'), false);
      S.show($('st-none'), !st);
      S.show($('st-open'), !!st && st.state === 'open');
      S.show($('st-report'), !!st && st.state !== 'open');
      if (!st) { return; }
      if (st.state === 'open') {
        $('st-scanned').textContent = String(st.scanned_copies);
        $('st-expected').textContent = String(st.expected_copies);
        bookInput.focus();
      } else {
        renderReport(st);
      }
    }

    function reportList(box, title, items, line) {
      if (!items || !items.length) { return; }
      box.appendChild(el('h3', '', title + '（' + items.length + '）'));
      var ul = el('ul', 'report');
      items.forEach(function (i) { ul.appendChild(el('li', '', line(i))); });
      box.appendChild(ul);
    }

    function renderReport(st) {
      var box = $('st-report');
      var rep = st.report;
      box.textContent = '';
      box.appendChild(el('h2', '', st.state === 'finished' ? '盘点已结束，等待区馆审核' : '盘点' + (st.state === 'approved' ? '已审核入账' : '已取消')));
      if (!rep) { return; }
      box.appendChild(el('p', 'progress', '应在架 ' + rep.expected_copies + ' 册，实扫 ' + rep.scanned_copies + ' 册'));
      var name = function (i) { return i.title ? '《' + i.title + '》' : i.title_id; };
      reportList(box, '缺少（应在架没扫到）', rep.missing, function (i) { return name(i) + '：应 ' + i.expected + '，扫到 ' + i.scanned; });
      reportList(box, '目录中没有的条码', rep.unknown, function (i) { return i.code + '：' + i.scanned + ' 册'; });
      reportList(box, '别的书屋的书', rep.wrong_room, function (i) { return name(i) + '：' + i.scanned + ' 册，属于 ' + i.holders.join('、'); });
      reportList(box, '多出来的书', rep.status_mismatch, function (i) { return name(i) + '：多 ' + i.surplus + ' 册'; });
      reportList(box, '记为借出但在架上（按已还处理）', rep.returned_while_on_loan, function (i) { return name(i) + '：' + i.copies + ' 册'; });
      if (!rep.missing.length && !rep.unknown.length && !rep.wrong_room.length && !rep.status_mismatch.length &&
          !rep.returned_while_on_loan.length) {
        box.appendChild(el('p', 'ok-text', '账实相符，没有发现问题。'));
      }
    }

    function load() {
      S.api('GET', ROOM_API + '/stocktake').then(function (r) {
        if (!r.ok) { S.say('error', r.message); return; }
        render(r.data.stocktake);
        flushPending();
      }, function () {
        $('st-loading').textContent = '没有网络，读不到盘点状态。盘点需要联网，请有信号时再打开。';
      });
    }

    function start() {
      var button = $('st-start');
      busy(button, true);
      S.api('POST', ROOM_API + '/stocktake', { op_id: S.newOpId(), note: $('st-note').value.trim() }).then(function (r) {
        busy(button, false);
        if (!r.ok) { S.say('error', r.message); if (r.data && r.data.code === 'stocktake_already_open') { load(); } return; }
        S.say('ok', '盘点开始了：应在架 ' + r.data.stocktake.expected_copies + ' 册。请逐本扫描。');
        render(r.data.stocktake);
      }, function () { busy(button, false); S.say('error', '没有网络，盘点没有开始'); });
    }

    function scanRow(text, cls) {
      var li = el('li', 'line ' + (cls || ''), text);
      var list = $('scans');
      list.insertBefore(li, list.firstChild);
      while (list.children.length > 30) { list.removeChild(list.lastChild); }
    }

    function sendScan(scan) {
      return S.api('POST', '/m/api/stocktakes/' + encodeURIComponent(scan.stocktake) + '/scans',
        { op_id: scan.op_id, code: scan.code, quantity: 1, device: device }).then(function (r) {
        dropPending(scan.op_id);
        if (!r.ok) { scanRow(scan.code + '：' + r.message, 'bad'); return; }
        var d = r.data;
        if (!d.replayed) { current.scanned_copies += d.quantity; }
        $('st-scanned').textContent = String(current.scanned_copies);
        if (d.status === 'unknown') { scanRow(d.code + '：目录中没有，已记为“未知条码”', 'bad'); }
        else { scanRow('《' + d.title + '》 已扫 ' + d.scanned + ' / 应在架 ' + d.expected, d.scanned > d.expected ? 'warn' : 'ok'); }
      });
    }

    function pending() { return S.lsGet(pendingKey(), []); }
    function dropPending(opId) { S.lsSet(pendingKey(), pending().filter(function (p) { return p.op_id !== opId; })); }

    function flushPending() {
      if (!current || current.state !== 'open') { return Promise.resolve(); }
      return pending().reduce(function (prev, scan) {
        return prev.then(function () { return sendScan(scan); });
      }, Promise.resolve()).catch(function () { /* still offline */ });
    }

    function scan() {
      var code = bookCode(bookInput);
      if (!code || !current) { return; }
      bookInput.value = '';
      bookInput.focus();
      var item = { op_id: S.newOpId(), code: code, stocktake: current.id };
      S.lsSet(pendingKey(), pending().concat([item]));
      sendScan(item).catch(function () {
        scanRow(code + '：没有网络，已记在本机，联网后补传', 'warn');
      });
    }

    function finish() {
      if (!armed) {
        armed = true;
        finishBtn.textContent = '确定结束？再点一次';
        finishBtn.classList.add('danger');
        setTimeout(function () { armed = false; finishBtn.textContent = '结束盘点'; finishBtn.classList.remove('danger'); }, 5000);
        return;
      }
      armed = false;
      busy(finishBtn, true);
      flushPending().then(function () {
        if (pending().length) { busy(finishBtn, false); S.say('error', '还有扫描没有上传，请联网后再结束盘点'); return; }
        return S.api('POST', '/m/api/stocktakes/' + encodeURIComponent(current.id) + '/finish', { op_id: S.newOpId() })
          .then(function (r) {
            busy(finishBtn, false);
            finishBtn.textContent = '结束盘点';
            if (!r.ok) { S.say('error', r.message); return; }
            S.say('ok', '盘点已结束，报告已交区馆审核');
            render(r.data.stocktake);
          });
      }).catch(function () { busy(finishBtn, false); S.say('error', '没有网络，盘点没有结束'); });
    }

    S.deviceId().then(function (id) { device = id; });
    $('st-start').addEventListener('click', start);
    onSubmit($('scan-form'), scan);
    finishBtn.addEventListener('click', finish);
    window.addEventListener('online', function () { flushPending(); });
    S.wireScanButtons(function () { scan(); });
    load();
  }

  // -- 本机记录 -----------------------------------------------------------------------------------

  function logPage() {
    S.deviceId().then(function (id) { $('device-id').textContent = id; });
    function render() {
      S.history().then(function (items) {
        var ul = $('log-list');
        ul.textContent = '';
        if (!items.length) { ul.appendChild(el('li', 'empty', '这部手机上还没有借还记录')); return; }
        items.slice().reverse().forEach(function (i) {
          var li = S.outcomeRow(i.entry, i.outcome);
          li.insertBefore(el('span', 'when', S.timeText(i.entry.at)), li.firstChild);
          ul.appendChild(li);
        });
      });
    }
    render();
    document.addEventListener('shuwu:synced', render);
  }

  var pages = { lend: lendPage, 'return': returnPage, renew: renewPage, inroom: inRoomPage, receive: receivePage,
    stocktake: stocktakePage, log: logPage };
  if (pages[cfg.page]) { pages[cfg.page](); }
}());
