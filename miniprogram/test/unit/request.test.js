// utils/request.js against a tiny local server that answers like the backend (and like the
// fake WeChat server's /_fake/login_codes). No backend needed.
'use strict';

const test = require('node:test');
const assert = require('node:assert/strict');
const http = require('node:http');

const { makeWx, installWx } = require('../support/wx-node');
const config = require('../../config');
const api = require('../../utils/request');
const store = require('../../utils/store');

let server;
let base;
let handler;
let codeCounter = 0;
const seen = []; // every backend request: {method, url, auth, body}
const usedCodes = new Set();

function json(status, body, headers) {
  return { status, body: body === undefined ? '' : JSON.stringify(body), headers: Object.assign({ 'content-type': status >= 400 ? 'application/problem+json' : 'application/json' }, headers) };
}
function problem(status, code, detail, errors) {
  return json(status, { type: `urn:shuwu:problem:${code}`, title: 'x', status, detail: detail || 'English detail', code, errors: errors || [] });
}

// Default behaviour: session exchange issues token "t-<code>"; a used code is refused.
function session(req, body) {
  const code = body && body.code;
  if (!code || usedCodes.has(code)) return problem(403, 'invalid_code', 'code been used');
  usedCodes.add(code);
  return json(201, { token: `t-${code}`, expires_at: '2030-01-01T00:00:00Z', new_account: false, account: { id: 'a1', members: [] } });
}

test.before(async () => {
  server = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => { raw += c; });
    req.on('end', async () => {
      let body = null;
      try { body = raw ? JSON.parse(raw) : null; } catch (e) { body = raw; }
      let out;
      if (req.url === '/_fake/login_codes') {
        codeCounter += 1;
        out = json(200, { code: `code${codeCounter}` });
      } else {
        seen.push({ method: req.method, url: req.url, auth: req.headers.authorization || '', body });
        out = req.url === '/mp/v1/session' && req.method === 'POST' && !handler.session ? session(req, body) : await handler(req, body);
      }
      res.writeHead(out.status, out.headers || {});
      res.end(out.body || '');
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${server.address().port}`;
});

test.after(() => new Promise((r) => server.close(r)));

let wx;
test.beforeEach(() => {
  wx = installWx(makeWx({ baseUrl: base, fakeWechat: base, openid: 'o-unit' }));
  config.override({ retryDelaysMs: [10, 30], maxRetryAfterMs: 2000 });
  seen.length = 0;
  handler = async () => json(200, { ok: true });
});

test('logs in first, sends the bearer token, reuses it', async () => {
  handler = async (req) => (req.headers.authorization === 'Bearer t-code' + codeCounter ? json(200, { me: 1 }) : problem(401, 'not_authenticated'));
  assert.deepEqual(await api.get('/mp/v1/me'), { me: 1 });
  assert.deepEqual(await api.get('/mp/v1/me'), { me: 1 });
  assert.equal(wx.__called('login').length, 1);
  const calls = seen.filter((s) => s.url === '/mp/v1/me');
  assert.equal(calls.length, 2);
  assert.ok(calls.every((c) => c.auth === `Bearer t-code${codeCounter}`));
  assert.equal(store.getToken(), `t-code${codeCounter}`);
});

test('401 → one re-login with a NEW code, then one retry; a code is never reused', async () => {
  store.setToken('stale');
  handler = async (req) => (req.headers.authorization === 'Bearer stale' ? problem(401, 'not_authenticated') : json(200, { ok: 1 }));
  assert.deepEqual(await api.get('/mp/v1/loans'), { ok: 1 });
  const sessions = seen.filter((s) => s.url === '/mp/v1/session');
  assert.equal(sessions.length, 1);
  assert.equal(new Set(wx.__codes).size, wx.__codes.length);
  assert.equal(seen.filter((s) => s.url === '/mp/v1/loans').length, 2);

  // Still 401 after re-login: gives up after ONE retry with a Chinese message.
  handler = async () => problem(401, 'not_authenticated');
  await assert.rejects(api.get('/mp/v1/loans'), (err) => {
    assert.equal(err.name, 'ApiError');
    assert.equal(err.status, 401);
    assert.match(err.message, /登录/);
    return true;
  });
  const codes = sessions.map((s) => s.body.code).concat(seen.filter((s) => s.url === '/mp/v1/session').map((s) => s.body.code));
  assert.equal(new Set(seen.filter((s) => s.url === '/mp/v1/session').map((s) => s.body.code)).size,
    seen.filter((s) => s.url === '/mp/v1/session').length, `codes reused: ${codes}`);
});

test('a refused log-in code is not retried: a new wx.login is needed', async () => {
  handler = async () => json(200, {});
  handler.session = true;
  const original = handler;
  handler = async (req) => (req.url === '/mp/v1/session' ? problem(403, 'invalid_code') : json(200, {}));
  handler.session = true;
  await assert.rejects(api.get('/mp/v1/me'), (err) => err.code === 'invalid_code' && /登录失败/.test(err.message));
  assert.equal(seen.filter((s) => s.url === '/mp/v1/session').length, 1);
  assert.equal(wx.__called('login').length, 1);
  void original;
});

test('concurrent 401s share one log-in', async () => {
  store.setToken('stale');
  handler = async (req) => (req.headers.authorization === 'Bearer stale' ? problem(401, 'not_authenticated') : json(200, { url: req.url }));
  const results = await Promise.all([api.get('/mp/v1/a'), api.get('/mp/v1/b'), api.get('/mp/v1/c')]);
  assert.deepEqual(results.map((r) => r.url), ['/mp/v1/a', '/mp/v1/b', '/mp/v1/c']);
  assert.equal(seen.filter((s) => s.url === '/mp/v1/session').length, 1);
  assert.equal(wx.__called('login').length, 1);
});

test('GET is retried on 503, a POST without op_id is not', async () => {
  store.setToken('good');
  let n = 0;
  handler = async () => { n += 1; return n < 3 ? problem(503, 'wechat_busy') : json(200, { n }); };
  assert.deepEqual(await api.get('/mp/v1/titles', { q: '西游记' }), { n: 3 });
  assert.equal(seen[0].url, `/mp/v1/titles?q=${encodeURIComponent('西游记')}`);

  seen.length = 0;
  handler = async () => problem(503, 'wechat_busy', '微信服务繁忙');
  await assert.rejects(api.post('/mp/v1/members/m1/card', { phone_code: 'p' }), (err) => err.status === 503 && /繁忙|服务器忙/.test(err.message));
  assert.equal(seen.length, 1);
  assert.equal(seen[0].body.op_id, undefined, 'op_id must not be added where the schema forbids it');
});

test('op_id added to writes that take one, and kept across retries', async () => {
  store.setToken('good');
  let n = 0;
  handler = async () => { n += 1; return n === 1 ? problem(502, 'bad_gateway') : json(201, { id: 'h1' }); };
  assert.deepEqual(await api.post('/mp/v1/holds', { title_id: 't1' }), { id: 'h1' });
  assert.equal(seen.length, 2);
  assert.match(seen[0].body.op_id, /^[A-Za-z0-9_-]{8,64}$/);
  assert.equal(seen[0].body.op_id, seen[1].body.op_id);
  assert.equal(seen[0].body.title_id, 't1');

  // A caller's own op_id is kept; {opId: false} sends none.
  seen.length = 0;
  await api.post('/mp/v1/reviews', { op_id: 'mine-12345', rating: 5 });
  await api.post('/mp/v1/reviews', { rating: 5 }, { opId: false });
  assert.equal(seen[0].body.op_id, 'mine-12345');
  assert.equal(seen[1].body.op_id, undefined);
});

test('network failure: idempotent retried, then a Chinese message', async () => {
  store.setToken('good');
  config.override({ baseUrl: 'http://127.0.0.1:1' }); // nothing listens there
  try {
    await assert.rejects(api.get('/mp/v1/me'), (err) => err.code === 'network' && /网络/.test(err.message));
    const tries = wx.__requests.filter((r) => r.url.endsWith('/mp/v1/me')).length;
    assert.equal(tries, 3);
  } finally {
    config.override({ baseUrl: base });
  }
});

test('429 honours Retry-After once', async () => {
  store.setToken('good');
  let n = 0;
  handler = async () => { n += 1; return n === 1 ? problem(429, 'rate_limited', 'x', []) && Object.assign(problem(429, 'rate_limited'), { headers: { 'content-type': 'application/problem+json', 'retry-after': '1' } }) : json(200, { n }); };
  const started = Date.now();
  assert.deepEqual(await api.post('/mp/v1/members/m1/card', { phone_code: 'p' }), { n: 2 });
  assert.ok(Date.now() - started >= 900, 'waited for Retry-After');

  n = 0;
  handler = async () => Object.assign(problem(429, 'rate_limited'), { headers: { 'content-type': 'application/problem+json', 'retry-after': '0.05' } });
  await assert.rejects(api.get('/mp/v1/me'), (err) => err.status === 429 && err.message === '操作太频繁，请稍后再试');
  assert.equal(seen.filter((s) => s.url === '/mp/v1/me').length, 2);
});

test('problem+json → Chinese message and fields; English never shown', async () => {
  store.setToken('good');
  handler = async () => problem(409, 'hold_exists', 'You already hold this');
  await assert.rejects(api.post('/mp/v1/holds', { title_id: 't' }), (err) => {
    assert.equal(err.code, 'hold_exists');
    assert.equal(err.message, '你已经预约过这本书了');
    return true;
  });
  handler = async () => problem(422, 'validation_failed', 'Invalid input', [{ loc: ['body', 'name'], msg: '必填（Field required）' }]);
  await assert.rejects(api.put('/mp/v1/me/profile', {}), (err) => {
    assert.equal(err.status, 422);
    assert.equal(err.message, '填写的内容有误：姓名：必填');
    assert.deepEqual(err.fields[0].loc, ['body', 'name']);
    assert.equal(err.fields[0].msg, '必填');
    return true;
  });
  handler = async () => problem(404, 'some_new_code', 'Not here');
  await assert.rejects(api.get('/mp/v1/x'), (err) => err.message === '没有找到');
  handler = async () => problem(409, 'some_new_code', '这本书刚刚被借走了');
  await assert.rejects(api.get('/mp/v1/x'), (err) => err.message === '这本书刚刚被借走了');
  handler = async () => ({ status: 500, body: 'Traceback (most recent call last): boom', headers: { 'content-type': 'text/plain' } });
  await assert.rejects(api.get('/mp/v1/x', undefined, { retries: 0 }), (err) => err.message === '服务器忙，请稍后再试');
});

test('204 → null', async () => {
  store.setToken('good');
  handler = async () => ({ status: 204, body: '', headers: {} });
  assert.equal(await api.del('/mp/v1/session'), null);
});

test('offline: fails fast without a request', async () => {
  store.setToken('good');
  api.watchNetwork();
  wx.__setNetwork('none');
  await assert.rejects(api.get('/mp/v1/me'), (err) => err.code === 'offline' && /网络未连接/.test(err.message));
  assert.equal(wx.__requests.length, 0);
  wx.__setNetwork('wifi');
  assert.deepEqual(await api.get('/mp/v1/me'), { ok: true });
});

test('the client holds no secret and no session_key', () => {
  const fs = require('node:fs');
  const path = require('node:path');
  const root = path.join(__dirname, '..', '..');
  const files = [];
  (function walk(dir) {
    fs.readdirSync(dir, { withFileTypes: true }).forEach((d) => {
      if (['node_modules', 'test', '.git'].includes(d.name)) return;
      const p = path.join(dir, d.name);
      if (d.isDirectory()) walk(p); else if (/\.(js|json|wxml)$/.test(d.name)) files.push(p);
    });
  })(root);
  files.forEach((f) => {
    // Comments may say "no session_key"; code may not touch one.
    const text = fs.readFileSync(f, 'utf8').replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '').replace(/\s\/\/ .*$/gm, '');
    assert.doesNotMatch(text, /session_key|appsecret|app_secret|SHUWU_WECHAT_SECRET/i, f);
  });
});
