// A `wx` for Node, so mini-program code (utils, page logic) runs under `node --test`.
//
//   const { makeWx, installWx } = require('../support/wx-node');
//   const wx = makeWx({ baseUrl, fakeWechat, openid: 'o-test-1' });
//   installWx(wx);   // sets globalThis.wx, points config.baseUrl at baseUrl, resets request.js state
//
// - wx.request: real HTTP via fetch (header, method, data, timeout, responseType; success/fail/
//   complete like WeChat: {statusCode, data (JSON parsed when dataType "json"), header}).
// - wx.login: POST {fakeWechat}/_fake/login_codes {openid} → a NEW one-time code each call;
//   wx.__codes lists every code handed out (a test can check none is reused).
// - storage: in memory (wx.__storage); getNetworkType/onNetworkStatusChange: wx.__setNetwork('none').
// - UI calls are recorded in wx.__calls ([{api, args}]): showToast, showModal (answers
//   wx.__modalAnswer, default {confirm: true}), showLoading, hideLoading, navigateTo,
//   redirectTo, switchTab, reLaunch, navigateBack, openDocument, setClipboardData…
//   Helpers: wx.__called('showToast') → list of args; wx.__last('navigateTo') → last args.
// - requestSubscribeMessage: like WeChat, works ONLY during a tap (page-runner's tap() opens the
//   window; it closes with the current macrotask, i.e. before any network answer arrives), then
//   answers "accept" for every id and POSTs /_fake/accept so the fake server will deliver.
//   Outside a tap it fails ("can only be invoked by user TAP gesture") and is recorded in
//   wx.__violations.
// - scanCode answers wx.__nextScan ({result, scanType}); chooseMedia answers wx.__nextMedia
//   (list of {tempFilePath, size, fileType}); getLocation answers wx.__location.
// - await wx.__phoneEvent('13800001234') → a getPhoneNumber button event {detail: {code}} from
//   {fakeWechat}/_fake/phone_codes.
// - downloadFile/uploadFile via fetch (files go to a temp dir); getFileSystemManager().readFile.
// - Any other wx.xxx is a recorded no-op that calls success({errMsg: 'xxx:ok'}).

'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');

const config = require('../../config');

function callbacks(options, ok, result) {
  const cb = ok ? options.success : options.fail;
  try { if (cb) cb(result); } finally { if (options.complete) options.complete(result); }
}

function headersToObject(headers) {
  const out = {};
  headers.forEach((value, key) => { out[key] = value; });
  return out;
}

async function postJson(url, body) {
  const res = await fetch(url, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${url} answered ${res.status}: ${text}`);
  return text ? JSON.parse(text) : null;
}

// wx.createSelectorQuery(): chainable; exec(cb) answers null for every selected node (there is
// no layout under Node), asynchronously like WeChat — pages must cope with a null node.
function selectorQuery(record) {
  let count = 0;
  const query = {
    in: () => query,
    select: () => { count += 1; return query; },
    selectAll: () => { count += 1; return query; },
    selectViewport: () => { count += 1; return query; },
    fields: () => query,
    boundingClientRect: () => query,
    scrollOffset: () => query,
    node: () => query,
    context: () => query,
    exec(cb) {
      record('createSelectorQuery.exec', {});
      const res = new Array(Math.max(count, 1)).fill(null);
      setTimeout(() => { if (typeof cb === 'function') cb(res); }, 0);
    },
  };
  return query;
}

function makeWx({ baseUrl = '', fakeWechat = '', openid = `o-node-${Date.now().toString(36)}` } = {}) {
  const storage = new Map();
  const networkListeners = [];
  const tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'wx-node-'));
  let tmpCounter = 0;

  const state = {
    __baseUrl: baseUrl,
    __fakeWechat: fakeWechat,
    __openid: openid,
    __calls: [],
    __codes: [],
    __requests: [],
    __violations: [],
    __storage: storage,
    __network: 'wifi',
    __inTap: false,
    __modalAnswer: { confirm: true, cancel: false },
    __subscribeAnswer: 'accept',
    __nextScan: null,
    __nextMedia: null,
    __location: { latitude: 38.93, longitude: 117.38 },
    __tmpDir: tmpDir,
  };

  // WX_NODE_TRACE=1 prints every recorded call and request to stderr (to find a hang).
  const trace = process.env.WX_NODE_TRACE ? (...a) => process.stderr.write(`[wx] ${a.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join(' ')}\n`) : () => {};
  function record(api, args) { state.__calls.push({ api, args }); trace(api, args && args.url ? args.url : ''); }

  const wx = Object.assign(state, {
    __called(api) { return state.__calls.filter((c) => c.api === api).map((c) => c.args); },
    __last(api) { const all = wx.__called(api); return all[all.length - 1]; },
    __clearCalls() { state.__calls.length = 0; },
    __setNetwork(type) {
      state.__network = type;
      const res = { isConnected: type !== 'none', networkType: type };
      networkListeners.slice().forEach((cb) => cb(res));
    },
    async __phoneEvent(phone) {
      const { code } = await postJson(`${fakeWechat}/_fake/phone_codes`, { phone });
      return { type: 'getphonenumber', detail: { errMsg: 'getPhoneNumber:ok', code } };
    },
    __tempFile(name, bytes) {
      tmpCounter += 1;
      const file = path.join(tmpDir, `${tmpCounter}-${name}`);
      fs.writeFileSync(file, bytes);
      return file;
    },

    // ------------------------------------------------------------ network
    request(options) {
      const method = String(options.method || 'GET').toUpperCase();
      const header = Object.assign({}, options.header);
      let body;
      if (options.data !== undefined && method !== 'GET' && method !== 'HEAD') {
        const data = options.data;
        if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) body = Buffer.from(data instanceof ArrayBuffer ? data : data.buffer);
        else if (typeof data === 'string') body = data;
        else {
          body = JSON.stringify(data);
          if (!Object.keys(header).some((k) => k.toLowerCase() === 'content-type')) header['content-type'] = 'application/json';
        }
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), options.timeout || 60000);
      state.__requests.push({ method, url: options.url, header, data: options.data });
      trace('request', method, options.url);
      const task = { abort: () => controller.abort() };
      fetch(options.url, { method, headers: header, body, signal: controller.signal })
        .then(async (res) => {
          clearTimeout(timer);
          let data;
          if (options.responseType === 'arraybuffer') {
            data = await res.arrayBuffer();
          } else {
            data = await res.text();
            if (options.dataType === undefined || options.dataType === 'json') {
              try { data = JSON.parse(data); } catch (e) { /* keep the text, like WeChat */ }
            }
          }
          callbacks(options, true, { statusCode: res.status, data, header: headersToObject(res.headers), errMsg: 'request:ok' });
        })
        .catch((err) => {
          clearTimeout(timer);
          const timedOut = err && err.name === 'AbortError';
          callbacks(options, false, { errMsg: timedOut ? 'request:fail timeout' : `request:fail ${err && err.message}` });
        });
      return task;
    },

    login(options) {
      record('login', {});
      postJson(`${fakeWechat}/_fake/login_codes`, { openid: state.__openid })
        .then(({ code }) => { state.__codes.push(code); callbacks(options, true, { code, errMsg: 'login:ok' }); })
        .catch((err) => callbacks(options, false, { errMsg: `login:fail ${err.message}` }));
    },

    getNetworkType(options) {
      setTimeout(() => callbacks(options, true, { networkType: state.__network, errMsg: 'getNetworkType:ok' }), 0);
    },
    onNetworkStatusChange(cb) { networkListeners.push(cb); },
    offNetworkStatusChange(cb) {
      const i = networkListeners.indexOf(cb);
      if (i >= 0) networkListeners.splice(i, 1);
    },

    // ------------------------------------------------------------ storage
    getStorageSync(key) { return storage.has(key) ? JSON.parse(storage.get(key)) : ''; },
    setStorageSync(key, value) { storage.set(key, JSON.stringify(value)); },
    removeStorageSync(key) { storage.delete(key); },
    clearStorageSync() { storage.clear(); },
    getStorageInfoSync() { return { keys: Array.from(storage.keys()), currentSize: 0, limitSize: 10240 }; },

    // ------------------------------------------------------------ subscribe messages
    requestSubscribeMessage(options) {
      const ids = options.tmplIds || [];
      record('requestSubscribeMessage', { tmplIds: ids });
      if (!state.__inTap) {
        state.__violations.push({ api: 'requestSubscribeMessage', tmplIds: ids });
        setTimeout(() => callbacks(options, false, {
          errMsg: 'requestSubscribeMessage:fail can only be invoked by user TAP gesture.', errCode: 20001,
        }), 0);
        return;
      }
      const answer = state.__subscribeAnswer;
      const result = { errMsg: 'requestSubscribeMessage:ok' };
      ids.forEach((id) => { result[id] = answer; });
      const accepts = answer === 'accept' && fakeWechat
        ? ids.map((id) => postJson(`${fakeWechat}/_fake/accept`, { openid: state.__openid, template_id: id, count: 1 }))
        : [];
      Promise.all(accepts)
        .then(() => callbacks(options, true, result))
        .catch((err) => callbacks(options, false, { errMsg: `requestSubscribeMessage:fail ${err.message}` }));
    },

    // ------------------------------------------------------------ device
    scanCode(options) {
      record('scanCode', options);
      const next = state.__nextScan;
      state.__nextScan = null;
      setTimeout(() => (next
        ? callbacks(options, true, Object.assign({ errMsg: 'scanCode:ok', scanType: 'EAN_13' }, next))
        : callbacks(options, false, { errMsg: 'scanCode:fail cancel' })), 0);
    },
    chooseMedia(options) {
      record('chooseMedia', options);
      const next = state.__nextMedia;
      state.__nextMedia = null;
      setTimeout(() => (next
        ? callbacks(options, true, { errMsg: 'chooseMedia:ok', type: 'image', tempFiles: next })
        : callbacks(options, false, { errMsg: 'chooseMedia:fail cancel' })), 0);
    },
    getLocation(options) {
      record('getLocation', options);
      const loc = state.__location;
      setTimeout(() => (loc
        ? callbacks(options, true, Object.assign({ errMsg: 'getLocation:ok' }, loc))
        : callbacks(options, false, { errMsg: 'getLocation:fail auth deny' })), 0);
    },
    getFileSystemManager() {
      return {
        readFile(options) {
          fs.promises.readFile(options.filePath)
            .then((buf) => {
              const data = options.encoding ? buf.toString(options.encoding)
                : buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength);
              callbacks(options, true, { data, errMsg: 'readFile:ok' });
            })
            .catch((err) => callbacks(options, false, { errMsg: `readFile:fail ${err.message}` }));
        },
        readFileSync(filePath, encoding) { return encoding ? fs.readFileSync(filePath, encoding) : fs.readFileSync(filePath).buffer; },
      };
    },
    downloadFile(options) {
      record('downloadFile', { url: options.url });
      fetch(options.url, { headers: options.header || {} })
        .then(async (res) => {
          const buf = Buffer.from(await res.arrayBuffer());
          const tempFilePath = wx.__tempFile(path.basename(new URL(options.url).pathname) || 'download', buf);
          callbacks(options, true, { statusCode: res.status, tempFilePath, errMsg: 'downloadFile:ok' });
        })
        .catch((err) => callbacks(options, false, { errMsg: `downloadFile:fail ${err.message}` }));
    },
    uploadFile(options) {
      record('uploadFile', { url: options.url, name: options.name });
      const form = new FormData();
      Object.keys(options.formData || {}).forEach((k) => form.append(k, String(options.formData[k])));
      const bytes = fs.readFileSync(options.filePath);
      form.append(options.name || 'file', new Blob([bytes]), path.basename(options.filePath));
      fetch(options.url, { method: 'POST', headers: options.header || {}, body: form })
        .then(async (res) => callbacks(options, true, { statusCode: res.status, data: await res.text(), errMsg: 'uploadFile:ok' }))
        .catch((err) => callbacks(options, false, { errMsg: `uploadFile:fail ${err.message}` }));
    },
    getSystemInfoSync() {
      return { platform: 'devtools', SDKVersion: '3.4.0', windowWidth: 375, windowHeight: 667, pixelRatio: 2, fontSizeSetting: 16 };
    },
    getWindowInfo() { return { windowWidth: 375, windowHeight: 667, pixelRatio: 2 }; },
    canIUse() { return true; },
    nextTick(fn) { setTimeout(fn, 0); },
  });

  // Recorded UI calls: succeed at once (showModal answers wx.__modalAnswer).
  ['showToast', 'hideToast', 'showLoading', 'hideLoading', 'navigateTo', 'redirectTo', 'switchTab', 'reLaunch',
    'navigateBack', 'openDocument', 'setNavigationBarTitle', 'stopPullDownRefresh', 'startPullDownRefresh',
    'setClipboardData', 'previewImage', 'pageScrollTo', 'vibrateShort', 'makePhoneCall', 'showActionSheet',
  ].forEach((api) => {
    wx[api] = (options) => {
      record(api, options || {});
      setTimeout(() => callbacks(options || {}, true, { errMsg: `${api}:ok`, tapIndex: 0 }), 0);
    };
  });
  wx.showModal = (options) => {
    record('showModal', options || {});
    setTimeout(() => callbacks(options || {}, true, Object.assign({ errMsg: 'showModal:ok' }, state.__modalAnswer)), 0);
  };

  // Anything else: a recorded no-op, so a page using a harmless API does not crash under Node.
  return new Proxy(wx, {
    get(target, prop) {
      if (prop in target || typeof prop !== 'string' || prop === 'then') return target[prop];
      if (/Sync$/.test(prop)) return () => { record(prop, {}); return undefined; };
      if (/^(on|off)[A-Z]/.test(prop)) return () => { record(prop, {}); };
      if (prop === 'createSelectorQuery') return () => selectorQuery(record);
      if (/^create/.test(prop)) {
        return () => new Proxy({}, { get: (_, p) => (p === 'then' ? undefined : () => undefined) });
      }
      return (options) => {
        record(prop, options || {});
        setTimeout(() => callbacks(options || {}, true, { errMsg: `${prop}:ok` }), 0);
      };
    },
  });
}

/** Make `wx` global for the code under test, point config at the server, reset module state. */
function installWx(wx) {
  globalThis.wx = wx;
  if (wx.__baseUrl) config.override({ baseUrl: wx.__baseUrl });
  const request = require('../../utils/request');
  request._reset();
  try { require('../../utils/subscribe')._reset(); } catch (e) { /* not there yet */ }
  return wx;
}

/** The fixtures the pytest runner wrote (base URL, fake WeChat, ids); env vars win. */
function loadFixtures() {
  const file = path.join(__dirname, '..', 'integration', 'fixtures.json');
  const data = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')) : {};
  if (process.env.SHUWU_BASE_URL) data.base_url = process.env.SHUWU_BASE_URL;
  if (process.env.SHUWU_FAKE_WECHAT) data.fake_wechat = process.env.SHUWU_FAKE_WECHAT;
  return data;
}

let openidCounter = 0;
/** A fresh openid per call: each integration test gets its own WeChat user. */
function newOpenid(prefix) {
  openidCounter += 1;
  return `o-${prefix || 'node'}-${process.pid}-${Date.now().toString(36)}-${openidCounter}`;
}

module.exports = { makeWx, installWx, loadFixtures, newOpenid };
