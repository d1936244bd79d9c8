// Log-in against the real backend and the fake WeChat server (started by
// tests/miniprogram/test_client.py, which also writes fixtures.json).
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx, loadFixtures, newOpenid } = require('../support/wx-node');
const api = require('../../utils/request');
const store = require('../../utils/store');
const subscribe = require('../../utils/subscribe');
const { loadApp } = require('../support/page-runner');

const fx = loadFixtures();

test('log in through the fake WeChat, GET /mp/v1/me, reuse the token', async () => {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('login') }));
  const me = await api.get('/mp/v1/me');
  assert.ok(me.id);
  assert.ok(Array.isArray(me.members));
  const token = store.getToken();
  assert.ok(token);
  const again = await api.get('/mp/v1/me');
  assert.equal(again.id, me.id);
  assert.equal(store.getToken(), token);
  assert.equal(wx.__codes.length, 1);
});

test('a bad or expired token recovers with a NEW code, once', async () => {
  const openid = newOpenid('expiry');
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid }));
  const first = await api.get('/mp/v1/me');
  store.setToken('bogus-token-from-an-old-session');
  const second = await api.get('/mp/v1/me');
  assert.equal(second.id, first.id, 'same WeChat user → same account');
  assert.equal(wx.__codes.length, 2);
  assert.equal(new Set(wx.__codes).size, 2, 'a wx.login code is never reused');

  // Logged out on the server: the next call logs in again by itself.
  await api.logout();
  assert.equal(store.getToken(), '');
  const third = await api.get('/mp/v1/me');
  assert.equal(third.id, first.id);
  assert.equal(new Set(wx.__codes).size, 3);
});

test('concurrent first calls share one log-in', async () => {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('conc') }));
  const results = await Promise.all([api.get('/mp/v1/me'), api.get('/mp/v1/me'), api.get('/mp/v1/subscriptions')]);
  assert.equal(results[0].id, results[1].id);
  assert.equal(wx.__codes.length, 1);
});

test('a server error comes back in Chinese, with field errors', async () => {
  installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('err') }));
  await assert.rejects(api.put('/mp/v1/me/profile', { name: '', birth_year: 1800, home_room: fx.room }), (err) => {
    assert.equal(err.name, 'ApiError');
    assert.equal(err.status, 422);
    assert.match(err.message, /^填写的内容有误/);
    assert.doesNotMatch(err.message, /[A-Za-z]{4,}/);
    assert.ok(err.fields.length >= 1);
    return true;
  });
});

test('subscribe: prompt only at a tap, results reported to the server', async () => {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('sub') }));
  const templates = await subscribe.prefetch();
  assert.ok(templates.length >= 1, 'the server lists its templates');
  assert.equal(wx.__called('requestSubscribeMessage').length, 0, 'prefetch never prompts');

  // Outside a tap WeChat refuses: askAtTap stays quiet.
  const quiet = await subscribe.askAtTap(['hold_ready']);
  assert.equal(quiet.asked, false);

  wx.__inTap = true; // what page-runner's tap() does
  const asked = subscribe.askAtTap(['hold_ready', 'due_tomorrow']);
  wx.__inTap = false;
  const out = await asked;
  assert.equal(out.asked, true);
  assert.ok(out.added >= 1, JSON.stringify(out));
  const after = await api.get('/mp/v1/subscriptions');
  const hold = after.templates.find((t) => t.event === 'hold_ready');
  assert.ok(hold.credits >= 1);
});

test('the app launched from a room QR keeps that room and does no network', async () => {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid('qr') }));
  const app = loadApp({ wx, options: { path: 'pages/room/index', query: { scene: encodeURIComponent(fx.room) }, scene: 1047 } });
  assert.equal(app.globalData.room.code, fx.room);
  assert.equal(wx.__requests.length, 0);
  const room = await api.get(`/mp/v1/rooms/${fx.room}`);
  assert.equal(room.code || fx.room, fx.room);
});
