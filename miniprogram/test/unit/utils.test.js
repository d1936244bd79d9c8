'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx } = require('../support/wx-node');
const errors = require('../../utils/errors');
const format = require('../../utils/format');
const opid = require('../../utils/opid');
const store = require('../../utils/store');
const { loadApp } = require('../support/page-runner');

test('errors: by code, then Chinese detail, then status; never English', () => {
  assert.equal(errors.messageFor(409, { code: 'hold_exists', detail: 'x' }), '你已经预约过这本书了');
  assert.equal(errors.messageFor(422, { code: 'consent_withdrawn' }), '监护人已撤回同意，不能再为这位孩子记录信息');
  assert.equal(errors.messageFor(409, { code: 'brand_new', detail: '这本书刚刚被借走了' }), '这本书刚刚被借走了');
  assert.equal(errors.messageFor(409, { code: 'brand_new', detail: 'Conflict happened' }), '信息刚刚有变化，请刷新后再试');
  assert.equal(errors.messageFor(413, null), '文件太大，请换一个小一点的');
  assert.equal(errors.messageFor(429, null), '操作太频繁，请稍后再试');
  assert.equal(errors.messageFor(503, { code: 'x', detail: 'Service Unavailable' }), '服务器忙，请稍后再试');
  assert.equal(errors.messageFor(404, {}), '没有找到');
  assert.equal(errors.messageFor(422, { code: 'validation_failed', errors: [{ loc: ['body', 'birth_year'], msg: '数值太小（Input should be greater than 1900）' }] }),
    '填写的内容有误：出生年份：数值太小');
  assert.equal(errors.messageFor(422, { code: 'validation_failed', errors: [{ loc: ['body', 'zzz'], msg: 'Field required' }] }),
    '填写的内容有误：格式不正确');
  Object.values(errors.BY_CODE).concat(Object.values(errors.BY_STATUS)).forEach((m) => assert.ok(errors.isChinese(m), m));
});

test('opid: matches the API pattern and is unique', () => {
  const ids = new Set(Array.from({ length: 500 }, () => opid.newOpId()));
  assert.equal(ids.size, 500);
  ids.forEach((id) => assert.match(id, opid.OP_ID_PATTERN));
});

test('format: Shanghai dates, due text, masked names', () => {
  assert.equal(format.date('2024-06-30T16:30:00Z'), '2024-07-01');
  assert.equal(format.dateTime('2024-06-30T16:30:00Z'), '2024-07-01 00:30');
  assert.equal(format.monthDay('2024-07-01'), '7月1日');
  const now = new Date('2024-07-01T02:00:00Z');
  assert.equal(format.dueText('2024-07-01', now), '今天到期');
  assert.equal(format.dueText('2024-07-02', now), '明天到期');
  assert.equal(format.dueText('2024-07-06', now), '还有 5 天到期');
  assert.equal(format.dueText('2024-06-29', now), '已逾期 2 天');
  assert.equal(format.maskName('王小明'), '王*明');
  assert.equal(format.maskName('李娜'), '李*');
  assert.equal(format.maskName('欧阳娜娜'), '欧**娜');
  assert.equal(format.maskPhone('13800001234'), '138****1234');
  assert.equal(format.charCount('我的 书屋\n我的　梦'), 7);
});

test('store: room from a scanned scene, current member, cached me', () => {
  installWx(makeWx({}));
  assert.equal(store.roomCodeFromScene(encodeURIComponent('JN-XSG-001')), 'JN-XSG-001');
  assert.equal(store.roomCodeFromScene('r%3DJN-XSG-002'), 'JN-XSG-002');
  assert.equal(store.roomCodeFromScene('<script>'), '');
  store.setRoom({ code: 'JN-XSG-001', name: '小站村书屋' });
  assert.deepEqual(store.getRoom(), { code: 'JN-XSG-001', name: '小站村书屋' });
  const me = { id: 'a', members: [{ id: 's', relation: 'self' }, { id: 'c1', relation: 'child' }] };
  store.setMe(me);
  assert.equal(store.currentMember().id, 's');
  store.setMemberId('c1');
  assert.equal(store.currentMember().id, 'c1');
  store.setMemberId('gone');
  assert.equal(store.currentMember().id, 's');
  assert.deepEqual(store.children().map((m) => m.id), ['c1']);
  store.clearAll();
  assert.equal(store.getRoom(), null);
});

test('app: a room QR scene becomes the current room, no network on launch', () => {
  const wx = installWx(makeWx({}));
  const app = loadApp({ wx, options: { path: 'pages/home/home', query: { scene: 'JN-XSG-003' }, scene: 1047 } });
  assert.equal(app.globalData.room.code, 'JN-XSG-003');
  assert.equal(store.getPendingRoomCode(), 'JN-XSG-003');
  assert.equal(wx.__requests.length, 0);
  app.onPageNotFound({ path: 'pages/room/index', query: { scene: 'JN-XSG-003' } });
  assert.equal(wx.__last('redirectTo').url, '/pages/rooms/choose?scene=JN-XSG-003');
});

test('app.json: the fixed pages and the five tabs', () => {
  const appJson = require('../../app.json');
  assert.equal(appJson.pages.length, 18);
  assert.deepEqual(appJson.tabBar.list.map((t) => t.text), ['首页', '找书', '借阅证', '活动', '我的']);
});
