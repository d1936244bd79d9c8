// board-list: masked names only, the family's own row says "我" in text, my rank explained;
// and badge-list states earned/not earned in text.
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

const ROOT = path.join(__dirname, '..', '..', 'components');
const BOARD = path.join(ROOT, 'board-list', 'index');
const BADGES = path.join(ROOT, 'badge-list', 'index');
const tick = () => new Promise((r) => setTimeout(r, 20));

function render(file, props) {
  installWx(makeWx({}));
  // One rootPath for both components: the official WXML compiler caches templates by their
  // path relative to rootPath, and both are "index.wxml" relative to their own folder.
  const comp = simulate.render(simulate.load(file, path.basename(path.dirname(file)), { rootPath: ROOT }), props);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

const ITEMS = [
  { rank: 1, name: '李**', room_name: '南华营村农家书屋', total: 12, me: false },
  { rank: 2, name: '王小明', room_name: '南华营村农家书屋', total: 9, me: true }, // unmasked on purpose
  { rank: 3, name: '欧阳娜娜', room_name: null, total: 4, me: false },
];

test('board-list masks every name and marks my row with the text 我', async () => {
  const comp = render(BOARD, { items: ITEMS, me: { rank: 2, total: 9, public_board: true }, unitLabel: '本', myName: '王小明' });
  await tick();
  const rows = comp.querySelectorAll('.bd-row').filter((r) => !/bd-row--head/.test(r.dom.className));
  assert.equal(rows.length, 3);
  const names = comp.querySelectorAll('.bd-masked').map((n) => n.dom.textContent);
  assert.deepEqual(names, ['李**', '王**', '欧***']);
  // A full name never appears in a row.
  rows.forEach((r) => { assert.doesNotMatch(r.dom.textContent, /小明|阳娜娜/); });
  const mine = rows.filter((r) => /bd-row--me/.test(r.dom.className));
  assert.equal(mine.length, 1, 'exactly one row says 我');
  assert.match(mine[0].dom.textContent, /王\*\*\s*我/);
  assert.match(mine[0].dom.textContent, /9 本/);
  assert.match(comp.dom.textContent, /我的名次：第 2 名，共 9 本/);
  comp.detach();
});

test('board-list explains an opted-out or unranked member', async () => {
  let comp = render(BOARD, { items: ITEMS.slice(0, 1), me: { rank: null, total: 3, public_board: false }, unitLabel: '本' });
  await tick();
  assert.match(comp.dom.textContent, /已设置不在排行榜上显示，共 3 本/);
  comp.detach();
  comp = render(BOARD, { items: [], me: { rank: null, total: 0, public_board: true }, unitLabel: '分钟' });
  await tick();
  assert.match(comp.dom.textContent, /暂未上榜/);
  assert.match(comp.dom.textContent, /排行榜上还没有人/);
  comp.detach();
});

test('badge-list says 已获得 / 未获得 in text, with an icon', async () => {
  const milestones = [
    { threshold: 2, badge: '阅读新星', icon: 'badge-star' },
    { threshold: 10, badge: '阅读达人', icon: 'badge-gold' },
  ];
  const badges = [{ milestone_index: 0, badge: '阅读新星', icon: 'badge-star', threshold: 2, awarded_at: '2026-07-02T03:00:00Z' }];
  const comp = render(BADGES, { milestones, badges, unitLabel: '本' });
  await tick();
  const items = comp.querySelectorAll('.bl-item');
  assert.equal(items.length, 2);
  assert.match(items[0].dom.textContent, /★/);
  assert.match(items[0].dom.textContent, /阅读新星/);
  assert.match(items[0].dom.textContent, /已获得/);
  assert.match(items[1].dom.textContent, /阅读达人/);
  assert.match(items[1].dom.textContent, /未获得/);
  assert.match(items[1].dom.textContent, /累计 10 本/);
  assert.match(comp.dom.textContent, /已获得 1 枚，共 2 枚/);
  comp.detach();
});

test('board-list and badge-list meet the accessibility bar', () => {
  [BOARD, BADGES].forEach((file) => {
    const wxml = fs.readFileSync(`${file}.wxml`, 'utf8');
    assert.match(wxml, /aria-label=/);
    const wxss = fs.readFileSync(`${file}.wxss`, 'utf8');
    assert.match(wxss, /min-height: 88rpx/);
    const sizes = [...wxss.matchAll(/font-size: (\d+)rpx/g)].map((m) => Number(m[1]));
    assert.ok(sizes.every((s) => s >= 32), `font sizes ≥ 32rpx in ${file}: ${sizes}`);
  });
});
