'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

require('../support/dom');
const { makeWx, installWx } = require('../support/wx-node');
const simulate = require('miniprogram-simulate');
const labels = require('../../components/status-tag/labels');

const COMPONENT = path.join(__dirname, '..', '..', 'components', 'status-tag', 'index');
const tick = () => new Promise((r) => setTimeout(r, 20));

// The statuses the API can send (miniprogram_api/books/models.py and suggestions.py).
const API_STATUSES = {
  hold: ['waiting', 'ready', 'fulfilled', 'cancelled', 'expired'],
  suggestion: ['submitted', 'under_review', 'accepted', 'in_order', 'fulfilled', 'merged', 'rejected'],
  loan: ['on_loan', 'due_soon', 'overdue', 'returned', 'renewed'],
};

test('status-tag: every status renders words and an icon, not colour alone', async () => {
  installWx(makeWx({}));
  const def = simulate.load(COMPONENT);
  for (const kind of Object.keys(API_STATUSES)) {
    for (const status of API_STATUSES[kind]) {
      const comp = simulate.render(def, { kind, status });
      comp.attach(document.createElement('parent-wrapper'));
      await tick();
      const expected = labels.STATUSES[kind][status];
      assert.ok(expected, `${kind}/${status} has words`);
      const text = comp.querySelector('.tag__text').dom.textContent;
      const icon = comp.querySelector('.tag__icon').dom.textContent;
      assert.equal(text, expected.text, `${kind}/${status}`);
      assert.ok(/[\u4e00-\u9fa5]/.test(text), 'Chinese words');
      assert.ok(icon.trim().length > 0, 'an icon too');
      assert.ok(comp.querySelector(`.tag--${expected.tone}`), 'tone class');
      comp.detach();
    }
  }
});

test('status-tag: the API label wins; an unknown status still says something', async () => {
  installWx(makeWx({}));
  const comp = simulate.render(simulate.load(COMPONENT), { kind: 'hold', status: 'ready', label: '可以取书了' });
  comp.attach(document.createElement('parent-wrapper'));
  await tick();
  assert.match(comp.dom.textContent, /可以取书了/);
  comp.setData({ status: 'waiting', label: '' });
  await tick();
  const unknown = simulate.render(simulate.load(COMPONENT), { kind: 'hold', status: 'lost' });
  unknown.attach(document.createElement('parent-wrapper'));
  await tick();
  assert.match(unknown.dom.textContent, /状态未知/);
});

test('status-tag: every tone has its own icon, and the WXML labels the status for screen readers', () => {
  const icons = Object.values(labels.TONES);
  assert.equal(new Set(icons).size, icons.length);
  const wxml = fs.readFileSync(`${COMPONENT}.wxml`, 'utf8');
  assert.match(wxml, /aria-label="状态：\{\{text\}\}"/);
  const wxss = fs.readFileSync(`${COMPONENT}.wxss`, 'utf8');
  assert.match(wxss, /border: 2rpx solid currentColor/);
});
