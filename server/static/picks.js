/* 百姓点单: live totals (titles and yuan) and a checkbox that sets 1 copy / 0 copies.
   Plain ES5 so that old Android browsers run it; the form works without it. */
(function () {
  'use strict';
  var form = document.getElementById('picks-form');
  if (!form) { return; }
  var titlesEl = document.getElementById('picks-titles');
  var fenEl = document.getElementById('picks-fen');
  function recount() {
    var rows = form.querySelectorAll('.pick');
    var titles = 0, fen = 0;
    for (var i = 0; i < rows.length; i++) {
      var n = rows[i].querySelector('.pick-copies');
      var copies = n ? parseInt(n.value, 10) || 0 : 0;
      if (copies > 0) { titles += 1; fen += copies * parseInt(rows[i].getAttribute('data-price'), 10); }
    }
    if (titlesEl) { titlesEl.textContent = titles; }
    if (fenEl) { fenEl.textContent = '¥' + (fen / 100).toFixed(2); }
  }
  form.addEventListener('change', function (e) {
    var t = e.target;
    var row = t.closest ? t.closest('.pick') : null;
    if (!row) { return; }
    var box = row.querySelector('.pick-on'), n = row.querySelector('.pick-copies');
    if (t === box && n) { n.value = box.checked ? Math.max(1, parseInt(n.value, 10) || 0) : 0; }
    if (t === n && box) { box.checked = (parseInt(n.value, 10) || 0) > 0; }
    recount();
  });
  form.addEventListener('input', recount);
})();
