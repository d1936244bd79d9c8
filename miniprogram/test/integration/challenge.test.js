// Challenge pages against the real backend: join the fixture challenge for two children (with
// a school team), log reading for both at once, an over-cap log refused kindly, progress and
// badges, 提醒我 prompts only at its tap, the board shows the child masked with my rank, and
// the opt-out switch. (Started by tests/miniprogram/test_client.py.)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx, loadFixtures, newOpenid } = require('../support/wx-node');
const { loadPage } = require('../support/page-runner');
const api = require('../../utils/request');
const store = require('../../utils/store');

const fx = loadFixtures();
const NO_ENGLISH = /[A-Za-z]{4,}/;

async function familyWithTwoChildren(prefix) {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid(prefix) }));
  store.setRoom({ code: fx.room, name: fx.room_name });
  await api.put('/mp/v1/me/profile', { name: '张丽', birth_year: 1986, home_room: fx.room });
  const rules = await api.get('/mp/v1/privacy/children');
  const add = (name, school) => api.post('/mp/v1/me/children', {
    name, birth_year: fx.child_birth_year, home_room: fx.room, relation: '母亲', school,
    consent: { version: rules.version, agreed: true },
  });
  const first = await add('张小明', null);
  const second = await add('张小红', '咸水沽第一小学');
  return { wx, first, second };
}

test('challenge: join two children, log for both at once, caps, badges, board with my rank', async () => {
  const { wx, first, second } = await familyWithTwoChildren('challenge');
  store.setMemberId(first.id);

  // The 活动 tab lists the fixture challenge and the contest.
  const list = loadPage('pages/challenges/list', { wx });
  await list.load({});
  const listed = list.data.challenges.find((c) => c.id === fx.challenge_id);
  assert.ok(listed, 'the published challenge is listed');
  assert.match(listed.joinedText, /我家还没有参加/);
  assert.ok(list.data.contests.some((c) => c.id === fx.contest_id && c.open));

  const detail = loadPage('pages/challenges/detail', { wx });
  await detail.load({ id: fx.challenge_id });
  assert.equal(detail.data.error, '');
  assert.equal(detail.data.challenge.id, fx.challenge_id);
  assert.ok(detail.data.joinable.length >= 2, 'both children can join');
  assert.deepEqual(wx.__violations, [], 'no subscribe prompt on load');

  // Choose both children; give the first one a school (her school team).
  await detail.tap('onJoinToggle', { id: first.id });
  await detail.tap('onJoinToggle', { id: second.id });
  const index = detail.data.joinable.findIndex((f) => f.member_id === first.id);
  await detail.input('onTeamInput', '咸水沽第一小学', { index, field: 'school' });
  await detail.input('onTeamInput', '三年级二班', { index, field: 'class_name' });
  const joined = await detail.tap('onJoin');
  assert.ok(joined, `joined: ${detail.data.error}`);
  assert.equal(joined.participants.length, 2);
  assert.equal(detail.data.joined.length, 2);
  const me = await api.get('/mp/v1/me');
  assert.equal(me.members.find((m) => m.id === first.id).school, '咸水沽第一小学', 'the team was saved first');
  assert.equal(joined.participants.find((p) => p.member_id === first.id).school, '咸水沽第一小学');

  // Log 2 books for both children at once (the milestone is at 2: a badge each).
  for (const id of [first.id, second.id]) {
    if (!detail.data.log.selected[id]) await detail.tap('onLogToggle', { id });
  }
  await detail.input('onLogInput', '西游记（少儿版）', { field: 'book_title' });
  await detail.input('onLogInput', '2', { field: 'amount' });
  const logged = await detail.tap('onLog');
  assert.ok(logged, `logged: ${detail.data.logError}`);
  assert.equal(logged.entries.length, 2, 'one request, two children');
  assert.ok(logged.entries.every((e) => e.total === 2));
  assert.equal(detail.data.milestoneReached, true);
  assert.equal(detail.data.newBadges.length, 2);
  assert.match(detail.data.newBadges[0], /阅读新星/);

  // Progress and badges of the current child.
  assert.equal(detail.data.progress.total, 2);
  assert.equal(detail.data.progress.badges.length, 1);
  assert.equal(detail.data.progress.badges[0].badge, '阅读新星');

  // Over the per-log cap: refused with the server's own words, nothing written.
  const cap = detail.data.challenge.cap_per_log;
  await detail.input('onLogInput', '三国演义', { field: 'book_title' });
  await detail.input('onLogInput', String(cap + 1), { field: 'amount' });
  assert.equal(await detail.tap('onLog'), null);
  assert.match(detail.data.logError, new RegExp(`每次最多记录 ${cap} 本`));
  assert.doesNotMatch(detail.data.logError, NO_ENGLISH);
  const progress = await api.get(`/mp/v1/challenges/${fx.challenge_id}/me`, { member_id: first.id });
  assert.equal(progress.total, 2, 'nothing written over the cap');

  // 提醒我: the subscribe prompt only inside that tap.
  assert.equal(wx.__called('requestSubscribeMessage').length, 0, 'not asked before the tap');
  const asked = await detail.tap('onRemindMe');
  assert.equal(detail.data.reminded, true);
  assert.equal(wx.__called('requestSubscribeMessage').length, 1);
  assert.equal(asked.asked, true);
  assert.equal(asked.added, 1, 'the acceptance reached the server');
  const credits = (await api.get('/mp/v1/subscriptions')).templates.find((t) => t.event === 'challenge_milestone');
  assert.equal(credits.credits, 1);
  assert.deepEqual(wx.__violations, [], 'never prompted outside a tap');

  // The board: masked names, my rank, the 我 row.
  await detail.tap('onOpenBoard');
  assert.match(wx.__last('navigateTo').url, new RegExp(`/pages/challenges/board\\?id=${fx.challenge_id}`));
  const board = loadPage('pages/challenges/board', { wx });
  await board.load({ id: fx.challenge_id, member: first.id });
  assert.equal(board.data.scope, 'room');
  assert.equal(board.data.error, '');
  const mine = board.data.board.items.filter((i) => i.me);
  assert.ok(mine.length >= 1, 'my child is on the room board');
  assert.ok(mine.some((i) => i.name === '张**'), `masked: ${JSON.stringify(mine)}`);
  assert.ok(board.data.board.items.every((i) => !/小明|小红/.test(i.name)), 'no full names');
  assert.equal(typeof board.data.board.me.rank, 'number');
  assert.equal(board.data.board.me.total, 2);

  // 本校: the first child's school board.
  await board.tap('onTab', { scope: 'school' });
  assert.equal(board.data.error, '');
  assert.equal(board.data.board.scope, 'school');
  assert.equal(board.data.board.me.total, 2);
  await board.tap('onTab', { scope: 'town' });
  assert.equal(board.data.board.scope, 'town');

  // 不在排行榜上显示我家孩子: the child leaves the board, the family still sees its total.
  await board.run('onHideChange', board.event({}, { value: true }));
  assert.equal(board.data.hidden, true);
  assert.equal(board.data.board.me.public_board, false);
  assert.ok(board.data.board.items.every((i) => !i.me), 'off the public board');
  await board.run('onHideChange', board.event({}, { value: false }));
  assert.equal(board.data.hidden, false);
  assert.ok(board.data.board.items.some((i) => i.me));
});

test('challenge: reviews page submits a review that waits for staff', async () => {
  const { wx, first } = await familyWithTwoChildren('review');
  store.setMemberId(first.id);
  const page = loadPage('pages/challenges/reviews', { wx });
  await page.load({ title: fx.title_id });
  assert.equal(page.data.book.title_id, fx.title_id);
  assert.equal(page.data.memberId, first.id);
  await page.tap('onRate', { value: 4 });
  await page.input('onTextInput', '孙悟空真厉害，我最喜欢三打白骨精。');
  const review = await page.tap('onSubmit');
  assert.ok(review, `submitted: ${page.data.error}`);
  assert.equal(review.status, 'pending');
  assert.match(wx.__last('showModal').content, /审核后/);
  assert.equal(page.data.mine.length, 1);
  assert.match(page.data.mine[0].statusText, /审核中/);
});
