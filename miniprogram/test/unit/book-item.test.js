'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');
const fs = require('node:fs');

require('../support/dom');
const { makeWx, installWx } = require('../support/wx-node');
const simulate = require('miniprogram-simulate');
const availability = require('../../components/book-item/availability');

const COMPONENT = path.join(__dirname, '..', '..', 'components', 'book-item', 'index');
const tick = () => new Promise((r) => setTimeout(r, 20));

function book(avail, extra) {
  return Object.assign({
    title_id: '9787020002207', isbn: '9787020002207', title: '平凡的世界', author: '路遥', publisher: '人民文学出版社',
    year: 2017, category: '文化', format: 'book', availability: avail,
  }, extra);
}

function render(props) {
  const comp = simulate.render(simulate.load(COMPONENT), props);
  comp.attach(document.createElement('parent-wrapper'));
  return comp;
}

test('book-item: copies here and nearby, in words', async () => {
  const wx = installWx(makeWx({}));
  const comp = render({
    book: book({
      room: 'JN-XSG-001', room_name: '南华营村农家书屋', on_shelf_here: 2, rooms_on_shelf: 3,
      nearby: [{ room: 'JN-XSG-002', name: '东埝坨村农家书屋', on_shelf: 1, distance_km: 1.2 },
        { room: 'JN-GG-001', name: '葛沽镇书吧', on_shelf: 3, distance_km: 5.5 }],
    }),
  });
  await tick();
  const text = comp.dom.textContent;
  assert.match(text, /平凡的世界/);
  assert.match(text, /路遥 · 人民文学出版社 · 2017/);
  assert.match(text, /本书屋在架 2 本/);
  assert.match(text, /附近：东埝坨村农家书屋 1 本，葛沽镇书吧 3 本/);
  assert.ok(comp.querySelector('.book__avail--here'), 'tone class repeats the words');

  // A tap opens the title page and tells the parent.
  let selected = null;
  comp.addEventListener('select', (e) => { selected = e.detail.titleId; });
  comp.querySelector('.book').dispatchEvent('tap');
  await tick();
  assert.equal(selected, '9787020002207');
  assert.equal(wx.__last('navigateTo').url, '/pages/title/title?id=9787020002207');
  comp.detach();
});

test('book-item: none here, only nearby; nothing anywhere; no room chosen', async () => {
  installWx(makeWx({}));
  const nearbyOnly = render({
    book: book({ room: 'JN-XSG-001', room_name: 'x', on_shelf_here: 0, rooms_on_shelf: 1,
      nearby: [{ room: 'JN-GG-001', name: '葛沽镇书吧', on_shelf: 1 }] }),
  });
  await tick();
  assert.match(nearbyOnly.dom.textContent, /本书屋暂时没有在架/);
  assert.match(nearbyOnly.dom.textContent, /附近：葛沽镇书吧 1 本/);
  assert.ok(nearbyOnly.querySelector('.book__avail--nearby'));

  const nowhere = render({ book: book({ on_shelf_here: 0, rooms_on_shelf: 0, nearby: [] }, { format: 'periodical' }) });
  await tick();
  assert.match(nowhere.dom.textContent, /本书屋暂时没有在架/);
  assert.match(nowhere.dom.textContent, /报刊/);

  const anonymous = render({ book: book({ on_shelf_here: null, rooms_on_shelf: 4, nearby: [] }) });
  await tick();
  assert.match(anonymous.dom.textContent, /全区 4 个书屋有在架/);
});

test('availability summary and distances', () => {
  assert.deepEqual(availability.summary({ on_shelf_here: 1, nearby: [], rooms_on_shelf: 1 }),
    { here: '本书屋在架 1 本', nearby: '', district: '', tone: 'here' });
  assert.equal(availability.summary({ on_shelf_here: null, nearby: [], rooms_on_shelf: 0 }).district,
    '暂时没有书屋在架，可以预约');
  assert.equal(availability.distanceText(0.34), '约 300 米');
  assert.equal(availability.distanceText(2.345), '约 2.3 公里');
  assert.equal(availability.distanceText(null), '');
});

test('book-item: accessible (aria-label, large type, tall rows, icon hidden from screen readers)', () => {
  const wxml = fs.readFileSync(`${COMPONENT}.wxml`, 'utf8');
  assert.match(wxml, /aria-label="\{\{ariaLabel\}\}"/);
  assert.match(wxml, /aria-hidden="true"/);
  const wxss = fs.readFileSync(`${COMPONENT}.wxss`, 'utf8');
  assert.match(wxss, /font-size: 34rpx/);
  assert.match(wxss, /min-height: 88rpx/);
});
