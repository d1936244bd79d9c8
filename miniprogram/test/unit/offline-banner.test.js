'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

require('../support/dom');
const { makeWx, installWx } = require('../support/wx-node');
const simulate = require('miniprogram-simulate');

const COMPONENT = path.join(__dirname, '..', '..', 'components', 'offline-banner', 'index');
const tick = () => new Promise((r) => setTimeout(r, 20));

test('offline-banner: hidden online, shown with text when offline, hidden again', async () => {
  const wx = installWx(makeWx({}));
  const comp = simulate.render(simulate.load(COMPONENT));
  comp.attach(document.createElement('parent-wrapper'));
  await tick();
  assert.equal(comp.querySelector('.offline-banner'), undefined);

  wx.__setNetwork('none');
  await tick();
  const banner = comp.querySelector('.offline-banner');
  assert.ok(banner, 'banner shown');
  assert.match(comp.dom.textContent, /网络未连接，部分功能暂不可用/);

  wx.__setNetwork('4g');
  await tick();
  assert.equal(comp.querySelector('.offline-banner'), undefined);
  comp.detach();
});

test('offline-banner: announced to screen readers, large text', () => {
  const fs = require('node:fs');
  const wxml = fs.readFileSync(`${COMPONENT}.wxml`, 'utf8');
  assert.match(wxml, /aria-role="alert"/);
  assert.match(wxml, /aria-label=/);
  const wxss = fs.readFileSync(`${COMPONENT}.wxss`, 'utf8');
  assert.match(wxss, /font-size: 34rpx/);
  assert.match(wxss, /min-height: 88rpx/);
});
