// child-switcher: lists the family members, marks the current one in TEXT (not colour only),
// switches on a tap and emits "change" with the member.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

const window = require('../support/dom');
// Node 19+ has its own CustomEvent, which jsdom's dispatchEvent refuses: use jsdom's.
globalThis.CustomEvent = window.CustomEvent;
const { makeWx, installWx } = require('../support/wx-node');
const simulate = require('miniprogram-simulate');

const COMPONENT = path.join(__dirname, '..', '..', 'components', 'child-switcher', 'index');
const tick = () => new Promise((r) => setTimeout(r, 20));

const MEMBERS = [
  { id: 'm-self', name: '王芳', relation: 'self', status: 'active' },
  { id: 'm-kid1', name: '王小明', relation: 'child', status: 'active' },
  { id: 'm-kid2', name: '王小红', relation: 'child', status: 'active' },
  { id: 'm-gone', name: '王小刚', relation: 'child', status: 'withdrawn' },
];

function render(props) {
  installWx(makeWx({}));
  const comp = simulate.render(simulate.load(COMPONENT), props);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

test('child-switcher lists active members and marks the current one with text', async () => {
  const comp = render({ members: MEMBERS, current: 'm-kid1' });
  await tick();
  const items = comp.querySelectorAll('.cs-item');
  assert.equal(items.length, 3, 'the withdrawn child is not offered');
  const text = comp.dom.textContent;
  assert.match(text, /当前：王小明/);
  assert.doesNotMatch(text, /王小刚/);
  const selected = comp.querySelectorAll('.cs-item--on');
  assert.equal(selected.length, 1);
  assert.match(selected[0].dom.textContent, /王小明/);
  assert.match(selected[0].dom.textContent, /当前/);
  assert.match(selected[0].dom.textContent, /✓/);
  comp.detach();
});

test('child-switcher switches on a tap and emits change with the member', async () => {
  const comp = render({ members: MEMBERS, current: 'm-kid1' });
  await tick();
  const seen = [];
  comp.addEventListener('change', (evt) => seen.push(evt.detail));
  const items = comp.querySelectorAll('.cs-item');
  const target = items.find((i) => /王小红/.test(i.dom.textContent));
  target.dispatchEvent('tap');
  await tick();
  assert.equal(seen.length, 1);
  assert.equal(seen[0].memberId, 'm-kid2');
  assert.equal(seen[0].member.name, '王小红');
  assert.match(comp.dom.textContent, /当前：王小红/);
  const selected = comp.querySelectorAll('.cs-item--on');
  assert.equal(selected.length, 1);
  assert.match(selected[0].dom.textContent, /王小红/);

  // Tapping the current member again emits nothing.
  selected[0].dispatchEvent('tap');
  await tick();
  assert.equal(seen.length, 1);
  comp.detach();
});

test('child-switcher can leave out the account holder', async () => {
  const comp = render({ members: MEMBERS, current: '', showSelf: false });
  await tick();
  assert.equal(comp.querySelectorAll('.cs-item').length, 2);
  assert.doesNotMatch(comp.dom.textContent, /王芳/);
  comp.detach();
});

test('child-switcher is accessible: radio roles, labels, big tap targets', () => {
  const wxml = fs.readFileSync(`${COMPONENT}.wxml`, 'utf8');
  assert.match(wxml, /role="radiogroup"/);
  assert.match(wxml, /role="radio"/);
  assert.match(wxml, /aria-checked=/);
  assert.match(wxml, /aria-label=/);
  const wxss = fs.readFileSync(`${COMPONENT}.wxss`, 'utf8');
  assert.match(wxss, /min-height: 88rpx/);
  assert.match(wxss, /font-size: 34rpx/);
});
