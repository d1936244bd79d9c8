// The reading pages against the real backend (started by tests/miniprogram/test_client.py):
// log in, choose JN-XSG-001, search by 汉字 and by pinyin initials, open the title, get a card
// with a phone code, hold (a second hold → the friendly message), see it under 预约, cancel it,
// suggest a title, the card page's QR, the home page. One WeChat user for the whole file
// (tests in a file run in order).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx, loadFixtures, newOpenid } = require('../support/wx-node');
const { loadPage, loadApp } = require('../support/page-runner');
const store = require('../../utils/store');
const subscribe = require('../../utils/subscribe');

const fx = loadFixtures();
const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('books') }));
loadApp({ wx });

// Our own phone number, so no other test file's card gets linked to this reader.
const PHONE = `139${String(process.pid % 10000).padStart(4, '0')}${String(Date.now() % 10000).padStart(4, '0')}`;
const state = {};

function toasts() {
  return wx.__called('showToast').map((t) => t.title);
}

function noChineseless(message) {
  assert.ok(/[\u4e00-\u9fa5]/.test(message), `Chinese: ${message}`);
  assert.doesNotMatch(message, /[A-Za-z]{5,}|Error|Traceback/);
}

test('choose my room: the list by town, then JN-XSG-001 with a first-time profile', async () => {
  const page = loadPage('pages/rooms/choose', { wx });
  await page.load({ first: '1' });
  assert.equal(page.data.error, '');
  const codes = page.data.groups.flatMap((g) => g.rooms.map((r) => r.code));
  assert.ok(codes.includes(fx.room), 'the home room is listed');
  assert.ok(page.data.groups.length > 1, 'grouped by town');

  // Nearest first after the tap (wx-node answers a position in Jinnan).
  await page.tap('sortByDistance');
  assert.ok(page.data.byDistance);
  const distances = page.data.rooms.map((r) => parseFloat(r.distance));
  assert.deepEqual(distances, distances.slice().sort((a, b) => a - b));

  // A new account has no profile: choosing asks for name and birth year, then saves both.
  await page.tap('choose', { code: fx.room, name: fx.room_name });
  assert.equal(page.data.needProfile, true);
  await page.input('onProfileName', '王读书');
  await page.input('onProfileYear', '1978');
  await page.tap('saveProfile');
  assert.equal(page.data.needProfile, false);
  assert.equal(store.getRoom().code, fx.room);
  const self = store.selfMember();
  assert.equal(self.home_room, fx.room);
  state.memberId = self.id;
});

test('a scanned room code opens the room and checks in once a day', async () => {
  const page = loadPage('pages/rooms/choose', { wx });
  await page.load({ scene: encodeURIComponent(fx.room) });
  assert.equal(page.data.landing.code, fx.room);
  assert.equal(page.data.landing.homeRoom, true);
  assert.match(page.data.checkIn, /签到/);
  const again = loadPage('pages/rooms/choose', { wx });
  await again.load({ scene: fx.room });
  assert.match(again.data.checkIn, /今天已经签到过了/);
});

test('search by 汉字 and by pinyin initials, with availability in my room', async () => {
  const page = loadPage('pages/search/search', { wx });
  await page.load({});
  await page.input('onInput', fx.title);
  const items = await page.run('search');
  const hit = items.find((i) => i.title_id === fx.title_id);
  assert.ok(hit, `found by 汉字: ${fx.title}`);
  assert.equal(hit.availability.room, fx.room);
  assert.ok(hit.availability.on_shelf_here >= 1);
  assert.equal(page.data.roomName, fx.room_name);

  // Pinyin initials of 西游记 (and paging with 加载更多 until it shows).
  await page.input('onInput', 'xyj');
  await page.run('search');
  let found = page.data.items.some((i) => i.title_id === fx.title_id);
  for (let n = 0; !found && page.data.nextCursor && n < 20; n += 1) {
    await page.run('loadMore');
    found = page.data.items.some((i) => i.title_id === fx.title_id);
  }
  assert.ok(found, 'found by pinyin initials');

  // Scanning the ISBN searches for it; nothing found → the 荐购 link carries the words.
  wx.__nextScan = { result: fx.isbn, scanType: 'EAN_13' };
  const scanned = await page.run('scanIsbn');
  assert.equal(scanned[0].title_id, fx.title_id);
  await page.input('onInput', '完全不存在的书名一二三');
  assert.deepEqual(await page.run('search'), []);
  page.suggest();
  assert.match(wx.__last('navigateTo').url, /^\/pages\/suggest\/suggest\?title=/);
});

test('title page: details, availability, and 预约 needs a card first', async () => {
  const page = loadPage('pages/title/title', { wx });
  await page.load({ id: fx.title_id });
  assert.equal(page.data.error, '');
  assert.equal(page.data.title.title, fx.title);
  assert.ok(page.data.hereCount >= 1);
  assert.equal(page.data.pickups[0].code, fx.room, 'my room first');
  assert.ok(page.data.pickups.length > 5);

  assert.ok(page.setPickup(fx.other_room) > 0);
  wx.__clearCalls();
  const out = await page.tap('hold');
  assert.equal(out, null);
  const modal = wx.__last('showModal');
  assert.equal(modal.title, '需要借阅证');
  noChineseless(modal.content);
});

test('card: 办理借阅证 with a phone code, then the QR is the card', async () => {
  const page = loadPage('pages/card/card', { wx });
  await page.load();
  assert.equal(page.data.member.id, state.memberId);
  assert.equal(page.data.qrText, '', 'no card yet');

  // Refusing the phone number: a kind word, no request.
  await page.run('onPhone', { detail: { errMsg: 'getPhoneNumber:fail user deny' } });
  assert.match(toasts().pop(), /手机号/);

  const out = await page.run('onPhone', await wx.__phoneEvent(PHONE));
  assert.ok(out && out.card_no);
  assert.equal(page.data.qrText, out.qr_text);
  assert.equal(page.qr.getModuleCount() >= 21, true);
  state.card = out;

  // Opening the page again shows the same card (from GET /mp/v1/me).
  const again = loadPage('pages/card/card', { wx });
  await again.load();
  assert.equal(again.data.qrText, out.qr_text);
  assert.equal(again.data.member.cardNo, out.card_no);
});

test('hold at another room (consent asked inside the tap); a second hold is refused kindly', async () => {
  const page = loadPage('pages/title/title', { wx });
  await page.load({ id: fx.title_id });
  assert.ok(page.data.member.hasCard);
  page.setPickup(fx.other_room);
  wx.__clearCalls();
  const out = await page.tap('hold');
  assert.ok(out, 'hold placed');
  const templates = await subscribe.loadTemplates();
  if (templates.some((t) => t.event === 'hold_ready' && t.template_id)) {
    assert.equal(wx.__called('requestSubscribeMessage').length, 1, 'asked once, in the 预约 tap');
    assert.match(page.data.holdResult.remind, /微信提醒/);
  }
  assert.equal(out.hold.pickup_room, fx.other_room);
  assert.ok(page.data.holdResult.message);
  assert.deepEqual(wx.__violations, [], 'no subscribe prompt outside a tap');
  state.holdId = out.hold.id;

  wx.__clearCalls();
  page.setData({ holdResult: null });
  assert.equal(await page.tap('hold'), null);
  const message = toasts().pop();
  assert.equal(message, '你已经预约过这本书了');

  // At my own room the book is on the shelf: go and borrow it (the server's Chinese word).
  page.setPickup(fx.room);
  assert.equal(await page.tap('hold'), null);
  noChineseless(toasts().pop());
});

test('my loans: the hold under 预约, cancelled; no loans; 到期提醒 at a tap', async () => {
  const page = loadPage('pages/loans/loans', { wx });
  await page.load({ tab: 'holds' });
  const row = page.data.holds.find((h) => h.id === state.holdId);
  assert.ok(row, 'listed');
  assert.equal(row.status, 'waiting');
  assert.equal(row.statusLabel, '排队中');
  assert.ok(row.canCancel);

  wx.__modalAnswer = { confirm: true, cancel: false };
  const cancelled = await page.tap('cancelHold', { id: state.holdId, title: row.title });
  assert.equal(cancelled.hold.status, 'cancelled');
  const after = page.data.holds.find((h) => h.id === state.holdId);
  assert.equal(after.status, 'cancelled');
  assert.equal(after.canCancel, false);

  await page.tap('switchTab', { tab: 'loans' });
  assert.equal(page.data.hasCard, true);
  assert.deepEqual(page.data.loans, []);
  await page.tap('remindMe');
  assert.ok(page.data.reminder);
  assert.deepEqual(wx.__violations, []);

  // Reading history: the switch, with a confirmation before turning it off.
  await page.tap('switchTab', { tab: 'history' });
  assert.equal(page.data.historyEnabled, true);
  await page.run('onHistorySwitch', page.event({}, { value: false }, 'change'));
  assert.equal(page.data.historyEnabled, false);
  assert.equal(store.selfMember().history_enabled, false);
  await page.run('onHistorySwitch', page.event({}, { value: true }, 'change'));
  assert.equal(page.data.historyEnabled, true);
});

test('荐购: a new suggestion, a repeat, and a book the library already has', async () => {
  const page = loadPage('pages/suggest/suggest', { wx });
  await page.load({ title: encodeURIComponent('乡村振兴实用手册') });
  assert.equal(page.data.title, '乡村振兴实用手册');
  const name = `乡村养鸡新技术${Date.now() % 100000}`;
  await page.input('onField', name, { field: 'title' });
  await page.input('onField', '李农技', { field: 'author' });
  await page.input('onField', '村里养鸡的人多，想学科学养殖', { field: 'note' });
  const out = await page.tap('submit');
  assert.ok(out, 'submitted');
  assert.equal(out.suggestion.status, 'submitted');
  assert.equal(page.data.result.merged, false);

  // The same book again: no second suggestion.
  page.another();
  await page.input('onField', name, { field: 'title' });
  await page.input('onField', '李农技', { field: 'author' });
  const repeat = await page.tap('submit');
  assert.equal(repeat.suggestion.id, out.suggestion.id);

  // Already in the catalogue: say so and offer to find it.
  page.another();
  await page.input('onField', fx.title, { field: 'title' });
  await page.input('onField', fx.author, { field: 'author' });
  assert.equal(await page.tap('submit'), null);
  assert.match(page.data.inCatalog, /已经有/);
  page.findIt();
  assert.match(wx.__last('navigateTo').url, /^\/pages\/search\/search\?q=/);

  // An empty title never reaches the server.
  page.another();
  assert.equal(await page.tap('submit'), null);
  assert.equal(page.data.fieldErrors.title, '请填写书名');

  // Its status under 我的借阅 → 荐购.
  const loans = loadPage('pages/loans/loans', { wx });
  await loans.load({ tab: 'suggestions' });
  const row = loans.data.suggestions.find((s) => s.id === out.suggestion.id);
  assert.equal(row.status, 'submitted');
  assert.equal(row.statusLabel, '已提交');
});

test('home: my room, today, the current challenge, a search shortcut; pull to refresh', async () => {
  const page = loadPage('pages/home/home', { wx });
  await page.load({});
  assert.equal(page.data.error, '');
  assert.equal(page.data.room.code, fx.room);
  assert.equal(page.data.room.name, fx.room_name);
  assert.ok(page.data.room.hours === '' || /今天/.test(page.data.room.hours));
  assert.ok(page.data.challenge, 'a challenge open today');
  assert.equal(page.data.challenge.id, fx.challenge_id);
  assert.ok(page.data.newTitles.some((t) => t.title_id === fx.title_id), 'the new title is listed');
  assert.deepEqual(page.data.dueSoon, []);
  await page.run('onPullDownRefresh');
  assert.ok(wx.__called('stopPullDownRefresh').length >= 1);
  page.openChallenge();
  assert.equal(wx.__last('navigateTo').url, `/pages/challenges/detail?id=${fx.challenge_id}`);
});

test('offline: the pages fail fast with 网络未连接', async () => {
  wx.__setNetwork('none');
  try {
    const page = loadPage('pages/search/search', { wx });
    await page.load({});
    await page.input('onInput', '西游记');
    await page.run('search');
    assert.match(page.data.error, /网络未连接/);
  } finally {
    wx.__setNetwork('wifi');
  }
});
