'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('node:fs');
const path = require('node:path');

const qrcode = require('../../libs/qrcode');

// A finder pattern: 7×7, dark ring, light ring, dark 3×3 centre.
function isFinder(qr, top, left) {
  for (let r = 0; r < 7; r += 1) {
    for (let c = 0; c < 7; c += 1) {
      const ring = Math.max(Math.abs(r - 3), Math.abs(c - 3));
      const dark = ring === 3 || ring <= 1;
      if (qr.isDark(top + r, left + c) !== dark) return false;
    }
  }
  return true;
}

function make(text, level) {
  const qr = qrcode(0, level || 'M');
  qr.addData(text);
  qr.make();
  return qr;
}

test('qrcode: a card number → version 1 (21 modules) with three finder patterns', () => {
  const qr = make('JN00012345');
  const n = qr.getModuleCount();
  assert.equal(n, 21);
  assert.ok(isFinder(qr, 0, 0), 'top left');
  assert.ok(isFinder(qr, 0, n - 7), 'top right');
  assert.ok(isFinder(qr, n - 7, 0), 'bottom left');
  assert.ok(!isFinder(qr, n - 7, n - 7), 'no finder bottom right');
  // Separators are light; timing patterns alternate.
  for (let i = 0; i < 8; i += 1) assert.equal(qr.isDark(7, i), false);
  for (let i = 8; i < n - 8; i += 1) assert.equal(qr.isDark(6, i), i % 2 === 0);
});

test('qrcode: longer text grows the version (4 modules a step); same text, same matrix', () => {
  assert.equal(make('x'.repeat(40)).getModuleCount(), 29); // version 3 at level M
  const a = make('JN00012345');
  const b = make('JN00012345');
  for (let r = 0; r < 21; r += 1) for (let c = 0; c < 21; c += 1) assert.equal(a.isDark(r, c), b.isDark(r, c));
});

test('qrcode: vendored with its MIT licence header', () => {
  const head = fs.readFileSync(path.join(__dirname, '..', '..', 'libs', 'qrcode.js'), 'utf8').slice(0, 3000);
  assert.match(head, /Copyright \(c\) 2009 Kazuhiko Arase/);
  assert.match(head, /MIT/);
  assert.match(head, /Permission is hereby granted/);
});

test('card page draws the QR on a 2d context: white quiet zone, black modules', () => {
  const card = loadCardHelpers();
  const qr = card.makeQr('JN00012345');
  const rects = [];
  const ctx = { fillStyle: '', fillRect(x, y, w, h) { rects.push({ x, y, w, h, fill: this.fillStyle }); } };
  const count = card.drawQr(ctx, qr, 290);
  assert.equal(count, 21);
  assert.deepEqual(rects[0], { x: 0, y: 0, w: 290, h: 290, fill: '#ffffff' });
  const dark = rects.slice(1);
  let expected = 0;
  for (let r = 0; r < 21; r += 1) for (let c = 0; c < 21; c += 1) if (qr.isDark(r, c)) expected += 1;
  assert.equal(dark.length, expected);
  assert.ok(dark.every((d) => d.fill === '#000000' && d.w > 0 && d.h > 0));
  const margin = Math.round((card.QUIET_MODULES * 290) / (21 + 2 * card.QUIET_MODULES));
  assert.equal(Math.min(...dark.map((d) => d.x)), margin, 'the quiet zone stays white');
  assert.equal(card.spaced('JN00012345'), 'JN00 0123 45');
});

// The card page file calls Page({...}) at load: give it a stand-in to read its helpers.
function loadCardHelpers() {
  const saved = globalThis.Page;
  globalThis.Page = () => {};
  try {
    return require('../../pages/card/card');
  } finally {
    globalThis.Page = saved;
  }
}
