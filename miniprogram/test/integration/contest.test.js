// Contest pages against the real backend: submit an essay in 小学组 (the 比赛结果 prompt at the
// submit tap only), an essay over 800 characters refused kindly, the entry listed with its
// status. (Started by tests/miniprogram/test_client.py.)
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');

const { makeWx, installWx, loadFixtures, newOpenid } = require('../support/wx-node');
const { loadPage } = require('../support/page-runner');
const api = require('../../utils/request');
const store = require('../../utils/store');

const fx = loadFixtures();
const NO_ENGLISH = /[A-Za-z]{4,}/;

async function familyWithChild(prefix) {
  const wx = installWx(makeWx({ baseUrl: fx.base_url, fakeWechat: fx.fake_wechat, openid: newOpenid(prefix) }));
  store.setRoom({ code: fx.room, name: fx.room_name });
  await api.put('/mp/v1/me/profile', { name: '刘洋', birth_year: 1984, home_room: fx.room });
  const rules = await api.get('/mp/v1/privacy/children');
  const child = await api.post('/mp/v1/me/children', {
    name: '刘小雨', birth_year: fx.child_birth_year, home_room: fx.room, relation: '父亲', school: '咸水沽第一小学',
    consent: { version: rules.version, agreed: true },
  });
  store.setMemberId(child.id);
  return { wx, child };
}

const ESSAY = '我家村口有一间农家书屋。每到周末，我就和小伙伴们去那里看书。书屋里的书可多了，有故事书、科普书，还有连环画。'
  + '管理员阿姨总是笑眯眯地帮我们找书。我最喜欢《西游记》，孙悟空勇敢又聪明。我的梦想是长大以后当一名图书管理员，让更多的孩子爱上读书。';

test('contest: an essay in 小学组 is submitted, the result prompt only at the tap, the entry shows its status', async () => {
  const { wx, child } = await familyWithChild('contest');
  const enter = loadPage('pages/contest/enter', { wx });
  await enter.load({ contest: fx.contest_id });
  assert.equal(enter.data.error, '');
  assert.equal(enter.data.contest.id, fx.contest_id);
  assert.equal(enter.data.memberId, child.id, 'the current child is the author');
  assert.deepEqual(wx.__violations, [], 'no prompt on load');
  assert.equal(wx.__called('requestSubscribeMessage').length, 0);

  await enter.input('onCategory', '0'); // 征文
  await enter.input('onGroup', '0');    // 小学组
  assert.equal(enter.data.isEssay, true);
  assert.equal(enter.data.limit, 800);

  await enter.input('onInput', '我的书屋我的梦', { field: 'title' });
  await enter.input('onInput', ESSAY, { field: 'text' });
  assert.equal(enter.data.count, Array.from(ESSAY.replace(/\s/g, '')).length, 'live count, whitespace not counted');
  assert.equal(enter.data.over, false);

  const entry = await enter.tap('onSubmit');
  assert.ok(entry, `submitted: ${enter.data.error}`);
  assert.equal(entry.member_id, child.id);
  assert.equal(entry.category, '征文');
  assert.equal(entry.group, '小学组');
  assert.ok(['submitted', 'in_review'].includes(entry.status));
  assert.equal(wx.__called('requestSubscribeMessage').length, 1, 'asked once, at the submit tap');
  const ids = wx.__last('requestSubscribeMessage').tmplIds;
  const templates = (await api.get('/mp/v1/subscriptions')).templates;
  const result = templates.find((t) => t.event === 'contest_result');
  assert.deepEqual(ids, [result.template_id]);
  assert.equal(result.credits, 1, 'the acceptance reached the server');
  assert.deepEqual(wx.__violations, []);
  const post = wx.__requests.find((r) => r.method === 'POST' && /\/entries$/.test(r.url));
  assert.match(post.data.op_id, /^[A-Za-z0-9_-]{8,64}$/, 'the write carries an op_id');

  // 我的作品: the entry with its status in words.
  const contest = loadPage('pages/contest/contest', { wx });
  await contest.load({ id: fx.contest_id });
  assert.equal(contest.data.contest.id, fx.contest_id);
  const shown = contest.data.entries.find((e) => e.id === entry.id);
  assert.ok(shown, 'the entry is listed');
  assert.match(shown.statusText, /已提交|审核中/);
  assert.equal(shown.author, '刘小雨');
  assert.equal(shown.certificate, false, 'no certificate before the results');
});

test('contest: an essay over 800 characters in 小学组 is refused kindly, nothing is kept', async () => {
  const { wx, child } = await familyWithChild('contest-long');
  const enter = loadPage('pages/contest/enter', { wx });
  await enter.load({ contest: fx.contest_id });
  await enter.input('onInput', '太长的征文', { field: 'title' });
  const long = '书'.repeat(801);
  await enter.input('onInput', long, { field: 'text' });
  assert.equal(enter.data.count, 801);
  assert.equal(enter.data.over, true);

  const before = wx.__requests.length;
  assert.equal(await enter.tap('onSubmit'), null);
  assert.equal(wx.__requests.length, before, 'refused before sending');
  assert.match(enter.data.error, /小学组征文不超过 800 字/);
  assert.match(enter.data.error, /801 字/);
  assert.doesNotMatch(enter.data.error, NO_ENGLISH);

  // The server refuses the same essay in Chinese too (a client without the check).
  await assert.rejects(api.post(`/mp/v1/contests/${fx.contest_id}/entries`, {
    member_id: child.id, category: '征文', group: '小学组', title: '太长的征文', text: long,
  }), (err) => {
    assert.equal(err.code, 'essay_too_long');
    assert.doesNotMatch(err.message, NO_ENGLISH);
    return true;
  });
  const entries = await api.get(`/mp/v1/contests/${fx.contest_id}/entries`);
  assert.equal(entries.items.length, 0, 'nothing kept');

  // In 中学组 the limit is 1,500: the same text fits (the count updates with the group).
  await enter.input('onGroup', '1');
  assert.equal(enter.data.limit, 1500);
  assert.equal(enter.data.over, false);
});

// A tiny PNG encoder (grey 300×300), so the test needs no image files.
function crc32(buf) {
  let c;
  let crc = 0xffffffff;
  for (let n = 0; n < buf.length; n += 1) {
    c = (crc ^ buf[n]) & 0xff;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    crc = (crc >>> 8) ^ c;
  }
  return (crc ^ 0xffffffff) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4); crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}
function greyPng(size) {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0); ihdr.writeUInt32BE(size, 4);
  ihdr[8] = 8; ihdr[9] = 0; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0; // 8-bit greyscale
  const rows = Buffer.alloc((size + 1) * size);
  for (let y = 0; y < size; y += 1) {
    rows[y * (size + 1)] = 0;
    for (let x = 0; x < size; x += 1) rows[y * (size + 1) + 1 + x] = (x * 7 + y * 3) % 256;
  }
  return Buffer.concat([Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), chunk('IHDR', ihdr),
    chunk('IDAT', require('node:zlib').deflateSync(rows)), chunk('IEND', Buffer.alloc(0))]);
}

test('contest: a drawing (绘画) is entered with its picture uploaded as raw PNG', async () => {
  const { wx, child } = await familyWithChild('contest-picture');
  const enter = loadPage('pages/contest/enter', { wx });
  await enter.load({ contest: fx.contest_id });
  await enter.input('onCategory', String(enter.data.categories.indexOf('绘画')));
  assert.equal(enter.data.isEssay, false);
  await enter.input('onInput', '书屋里的夏天', { field: 'title' });

  // No picture yet: refused before sending.
  assert.equal(await enter.tap('onSubmit'), null);
  assert.match(enter.data.error, /请先选择作品图片/);

  const png = greyPng(300);
  wx.__nextMedia = [{ tempFilePath: wx.__tempFile('drawing.png', png), size: png.length, fileType: 'image' }];
  await enter.tap('onChooseImage');
  assert.ok(enter.data.image);
  const entry = await enter.tap('onSubmit');
  assert.ok(entry, `submitted: ${enter.data.error}`);
  const upload = wx.__requests.find((r) => /\/image$/.test(r.url));
  assert.equal(upload.header['content-type'], 'image/png', 'the raw picture, not multipart');

  const saved = await api.get(`/mp/v1/contests/${fx.contest_id}/entries/${entry.id}`);
  assert.equal(saved.member_id, child.id);
  assert.equal(saved.category, '绘画');
  assert.ok(saved.image, 'the picture is kept');
  assert.equal(saved.needs_image, false);
});
