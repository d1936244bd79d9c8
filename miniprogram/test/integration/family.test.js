// Family pages against the real backend: log in, fill in my profile, read the server's
// children's rules on the consent screen, 不同意 records nothing, 同意 + the child form adds
// the child, switch to the child, withdraw consent. (Started by tests/miniprogram/test_client.py.)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx, loadFixtures, newOpenid } = require('../support/wx-node');
const { loadPage } = require('../support/page-runner');
const api = require('../../utils/request');
const store = require('../../utils/store');

const fx = loadFixtures();
const NO_ENGLISH = /[A-Za-z]{4,}/;

function newUser(prefix) {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid(prefix) }));
  store.setRoom({ code: fx.room, name: fx.room_name });
  return wx;
}

async function fillProfile(wx, name) {
  const me = loadPage('pages/me/me', { wx });
  await me.load({});
  assert.equal(me.data.editing, true, 'a new account is asked for its profile');
  assert.equal(me.data.form.home_room, fx.room, 'my room comes from the room I chose');
  await me.input('onInput', name, { field: 'name' });
  await me.input('onInput', '1985', { field: 'birth_year' });
  const saved = await me.tap('onSaveProfile');
  assert.ok(saved && saved.id, `profile saved: ${me.data.error}`);
  assert.equal(me.data.self.name, name);
  assert.equal(me.data.editing, false);
  assert.ok(me.data.family, '书香之家 section loaded');
  assert.equal(typeof me.data.family.can_nominate, 'boolean');
  return saved;
}

test('family: profile, consent screen with the server rules, 不同意 records nothing, 同意 adds the child, switch', async () => {
  const wx = newUser('family');
  const self = await fillProfile(wx, '王芳');

  // The family page before any child.
  const family = loadPage('pages/family/family', { wx });
  await family.load({});
  assert.equal(family.data.hasSelf, true);
  assert.equal(family.data.views.length, 1);
  assert.equal(family.data.views[0].id, self.id);
  await family.tap('onAddChild');
  assert.equal(wx.__last('navigateTo').url, '/pages/family/consent', 'the rules come before any child data');

  // The consent screen renders the server's published rules, version included.
  const rules = await api.get('/mp/v1/privacy/children');
  const consent = loadPage('pages/family/consent', { wx });
  await consent.load({});
  assert.equal(consent.data.error, '');
  assert.equal(consent.data.version, rules.version);
  assert.deepEqual(consent.data.rules.sections, rules.sections);
  assert.equal(consent.data.rules.retention_days, rules.retention_days);
  assert.equal(consent.data.viewOnly, false);

  // 不同意: back, and nothing is sent.
  const before = wx.__requests.length;
  await consent.tap('onRefuse');
  assert.equal(wx.__requests.length, before, '不同意 sends no request at all');
  assert.ok(wx.__last('navigateBack'));
  const afterRefusal = await api.get('/mp/v1/me');
  assert.equal(afterRefusal.members.filter((m) => m.relation === 'child').length, 0, 'no child recorded');

  // 同意 → the child form, carrying the version shown.
  await consent.tap('onAgree');
  const url = wx.__last('redirectTo').url;
  assert.equal(url, `/pages/family/child?consent=${encodeURIComponent(rules.version)}`);

  const child = loadPage('pages/family/child', { wx });
  await child.load({ consent: encodeURIComponent(rules.version) });
  assert.equal(child.data.consentVersion, rules.version);
  assert.equal(child.data.form.home_room, fx.room, "the guardian's room is the default");
  assert.ok(child.data.rooms.length > 0, 'rooms to choose from');

  // An empty form is refused before sending, in Chinese.
  const sent = wx.__requests.length;
  assert.equal(await child.tap('onSubmit'), null);
  assert.equal(wx.__requests.length, sent);
  assert.match(child.data.error, /请填写孩子的姓名/);

  await child.input('onInput', '王小明', { field: 'name' });
  await child.input('onBirthDate', `${fx.child_birth_year}-03-15`);
  await child.input('onInput', '咸水沽第一小学', { field: 'school' });
  await child.input('onInput', '三年级二班', { field: 'class_name' });
  const added = await child.tap('onSubmit');
  assert.ok(added && added.id, `child added: ${child.data.error}`);
  assert.equal(added.relation, 'child');
  assert.equal(added.consent.version, rules.version);
  assert.equal(added.guardian_relation, '母亲');
  assert.equal(store.getMemberId(), added.id, 'the app now acts for the new child');

  // Back on the family page: the child is listed; switch between me and the child.
  await family.run('onShow');
  assert.equal(family.data.views.length, 2);
  const view = family.data.views.find((v) => v.id === added.id);
  assert.match(view.consentText, new RegExp(rules.version.replace('.', '\\.')));
  assert.match(view.cardText, /还没有借阅证/);
  await family.run('onSwitch', family.event({}, { memberId: self.id }));
  assert.equal(store.getMemberId(), self.id);
  assert.equal(family.data.currentId, self.id);
  await family.run('onSwitch', family.event({}, { memberId: added.id }));
  assert.equal(store.getMemberId(), added.id);
  assert.equal(store.currentMember().id, added.id);
});

test('family: withdrawing consent asks first, then the child is withdrawn', async () => {
  const wx = newUser('withdraw');
  await fillProfile(wx, '李强');
  const rules = await api.get('/mp/v1/privacy/children');
  const kid = await api.post('/mp/v1/me/children', {
    name: '李小雨', birth_year: fx.child_birth_year, home_room: fx.room, relation: '父亲',
    consent: { version: rules.version, agreed: true },
  });
  const family = loadPage('pages/family/family', { wx });
  await family.load({});

  // "再想想": nothing happens.
  wx.__modalAnswer = { confirm: false, cancel: true };
  assert.equal(await family.tap('onWithdraw', { id: kid.id }), false);
  assert.match(wx.__last('showModal').content, /30 天/);
  assert.match(wx.__last('showModal').content, /排行榜/);
  assert.match(wx.__last('showModal').content, /借阅证/);
  let me = await api.get('/mp/v1/me');
  assert.equal(me.members.find((m) => m.id === kid.id).status, 'active');

  wx.__modalAnswer = { confirm: true, cancel: false };
  assert.equal(await family.tap('onWithdraw', { id: kid.id }), true);
  me = await api.get('/mp/v1/me');
  const gone = me.members.find((m) => m.id === kid.id);
  assert.equal(gone.status, 'withdrawn');
  const view = family.data.views.find((v) => v.id === kid.id);
  assert.equal(view.withdrawn, true);
  assert.match(view.statusText, /已撤回同意/);
  assert.doesNotMatch(view.statusText, NO_ENGLISH);
});

test('settings: the rules link, board and history switches, export summary', async () => {
  const wx = newUser('settings');
  await fillProfile(wx, '赵敏');
  const page = loadPage('pages/settings/settings', { wx });
  await page.load({});
  assert.equal(page.data.members.length, 1);
  const id = page.data.members[0].id;
  await page.tap('onRules');
  assert.equal(wx.__last('navigateTo').url, '/pages/family/consent?view=1');

  await page.run('onBoardChange', page.event({ id }, { value: false }));
  assert.equal(page.data.members[0].board, false);
  await page.run('onHistoryChange', page.event({ id }, { value: false })); // confirm modal answers yes
  assert.equal(page.data.members[0].history, false);

  const out = await page.tap('onExport');
  assert.ok(out && out.exported_at);
  assert.equal(page.data.exportSummary.memberCount, 1);
  assert.match(page.data.exportSummary.members, /赵敏/);
  assert.ok(page.data.exportText.length > 10);
  assert.equal(await page.tap('onCopyExport'), true);
  assert.equal(wx.__last('setClipboardData').data, page.data.exportText);

  // Delete the account (two confirmations); afterwards the device forgets everything.
  assert.equal(await page.tap('onDeleteAccount'), true);
  const titles = wx.__called('showModal').map((m) => m.title);
  assert.ok(titles.includes('注销账号？') && titles.includes('再次确认'), 'two confirmations');
  assert.equal(store.getToken(), '');
});
