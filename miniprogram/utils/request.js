// THE request module: every call to the backend goes through here.
//
//   const api = require('../../utils/request');
//   const me = await api.get('/mp/v1/me');
//   const page = await api.get('/mp/v1/titles', { q: 'xiyouji', room: 'JN-XSG-001' });
//   const hold = await api.post('/mp/v1/holds', { title_id, member_id }); // op_id added for you
//   await api.put('/mp/v1/me/profile', {...});  await api.patch(...);  await api.del(...);
//   const file = await api.download('/mp/v1/contests/c/entries/e/certificate.pdf'); // temp path
//   await api.openPdf(path);                    // download + wx.openDocument
//   await api.upload('/mp/v1/contests/c/entries/e/image', tempFilePath);       // raw JPEG/PNG body
//   try { … } catch (err) { api.showError(err); }  // err is an ApiError, err.message is Chinese
//
// What it does for you:
// - base URL from config.js; `Authorization: Bearer <token>` from storage (utils/store.js);
// - no token yet → log in first (wx.login → POST /mp/v1/session); on 401 → forget the token,
//   log in again with a NEW wx.login code (a code is used once, never retried) and retry once;
//   concurrent callers share one in-flight log-in;
// - network failures and 502/503/504 are retried with back-off (config.retryDelaysMs) ONLY when
//   the request is idempotent: GET/PUT/DELETE, or a body carrying an op_id. post() adds an op_id
//   by itself to every endpoint whose schema has one (OP_ID_PATHS; force with {opId: true}, or
//   pass your own {opId: 'mp-…'} / body.op_id to make a user's repeated tap replay-safe) and keeps
//   the SAME op_id for every retry of that call;
// - 429 honours Retry-After once (if short), then gives up with "操作太频繁，请稍后再试";
// - errors reject with ApiError {status, code, message (Chinese), fields: [{loc, label, msg}]};
// - offline (network type "none") → reject at once with code "offline" ("网络未连接…").
// No AppSecret, no session_key, ever: the server keeps those.

const config = require('../config');
const errors = require('./errors');
const opid = require('./opid');
const store = require('./store');

// POST endpoints whose body schema accepts an op_id (from the /mp/v1 OpenAPI document).
// post() adds one automatically to these; other bodies forbid unknown fields, so never there.
const OP_ID_PATHS = [
  /^\/mp\/v1\/me\/children$/,
  /^\/mp\/v1\/holds$/,
  /^\/mp\/v1\/holds\/[^/]+\/cancel$/,
  /^\/mp\/v1\/loans\/[^/]+\/renew$/,
  /^\/mp\/v1\/suggestions$/,
  /^\/mp\/v1\/subscriptions$/,
  /^\/mp\/v1\/rooms\/[^/]+\/(visits|survey)$/,
  /^\/mp\/v1\/contests\/[^/]+\/entries$/,
  /^\/mp\/v1\/challenges\/[^/]+\/(participants|logs)$/,
  /^\/mp\/v1\/reviews$/,
  /^\/mp\/v1\/reading-family\/entries(\/withdraw)?$/,
];

function acceptsOpId(path) {
  const bare = String(path || '').split('?')[0];
  return OP_ID_PATHS.some((re) => re.test(bare));
}

const IDEMPOTENT_METHODS = { GET: true, HEAD: true, PUT: true, DELETE: true };
const RETRY_STATUSES = { 502: true, 503: true, 504: true };

class ApiError extends Error {
  constructor({ status = 0, code = '', message = '', fields = [], detail = '', requestId = '', retryAfterMs = 0 }) {
    super(message || errors.byStatus(status));
    this.name = 'ApiError';
    this.status = status;
    this.code = code || (status ? `http_${status}` : 'network');
    this.fields = fields;
    this.detail = detail; // the server's own text (may be Chinese); for logs, not the screen
    this.requestId = requestId;
    this.retryAfterMs = retryAfterMs;
  }
}

function clientError(code, status) {
  return new ApiError({ status: status || 0, code, message: errors.messageFor(status || 0, { code }) });
}

function errorFromResponse(res) {
  let body = res.data;
  if (typeof body === 'string') {
    try { body = JSON.parse(body); } catch (e) { body = null; }
  }
  const problem = body && typeof body === 'object' && !(body instanceof ArrayBuffer) ? body : null;
  return new ApiError({
    status: res.statusCode,
    code: (problem && problem.code) || '',
    message: errors.messageFor(res.statusCode, problem),
    fields: errors.fieldErrors(problem),
    detail: (problem && problem.detail) || '',
    requestId: (problem && problem.request_id) || '',
    retryAfterMs: retryAfterMs(res),
  });
}

// ---------------------------------------------------------------- network state
let networkType = 'unknown';
let networkWatched = false;
const networkListeners = [];

function watchNetwork() {
  if (networkWatched || typeof wx === 'undefined') return;
  networkWatched = true;
  try {
    wx.getNetworkType({ success: (res) => setNetworkType(res.networkType) });
    wx.onNetworkStatusChange((res) => setNetworkType(res.isConnected === false ? 'none' : res.networkType));
  } catch (e) {
    // Not available (old base library): assume online.
  }
}

function setNetworkType(type) {
  const wasOnline = isOnline();
  networkType = type || 'unknown';
  if (wasOnline !== isOnline()) {
    networkListeners.slice().forEach((cb) => { try { cb(isOnline()); } catch (e) { /* a listener's bug */ } });
  }
}

function isOnline() { return networkType !== 'none'; }

/** cb(online: boolean) on every change; returns an unsubscribe function. */
function onNetworkChange(cb) {
  watchNetwork();
  networkListeners.push(cb);
  return () => {
    const i = networkListeners.indexOf(cb);
    if (i >= 0) networkListeners.splice(i, 1);
  };
}

// ---------------------------------------------------------------- helpers
function sleep(ms) { return new Promise((resolve) => setTimeout(resolve, ms)); }

function headerValue(headers, name) {
  if (!headers) return undefined;
  const lower = name.toLowerCase();
  const key = Object.keys(headers).find((k) => k.toLowerCase() === lower);
  return key === undefined ? undefined : headers[key];
}

function retryAfterMs(res) {
  const raw = headerValue(res.header, 'Retry-After');
  if (raw === undefined || raw === null || raw === '') return 0;
  const secs = Number(raw);
  if (Number.isFinite(secs)) return Math.max(0, secs * 1000);
  const at = Date.parse(raw);
  return Number.isFinite(at) ? Math.max(0, at - Date.now()) : 0;
}

function buildQuery(query) {
  if (!query) return '';
  const parts = [];
  Object.keys(query).forEach((key) => {
    const value = query[key];
    if (value === undefined || value === null || value === '') return;
    (Array.isArray(value) ? value : [value]).forEach((v) => {
      parts.push(`${encodeURIComponent(key)}=${encodeURIComponent(String(v))}`);
    });
  });
  return parts.length ? `?${parts.join('&')}` : '';
}

function url(path, query) {
  const base = String(config.baseUrl || '').replace(/\/+$/, '');
  return base + (path.charAt(0) === '/' ? path : `/${path}`) + buildQuery(query);
}

function wxRequest(options) {
  return new Promise((resolve, reject) => {
    wx.request(Object.assign({}, options, {
      timeout: options.timeout || config.timeoutMs,
      success: resolve,
      fail: reject,
    }));
  });
}

function wxLogin() {
  return new Promise((resolve, reject) => {
    wx.login({
      success: (res) => (res && res.code ? resolve(res.code) : reject(new Error('no code'))),
      fail: reject,
    });
  });
}

function networkError(err) {
  const text = (err && (err.errMsg || err.message)) || '';
  if (!isOnline()) return clientError('offline');
  return clientError(/timeout|超时/i.test(text) ? 'timeout' : 'network');
}

// ---------------------------------------------------------------- log-in
let loginInFlight = null;

/**
 * Log in: a fresh wx.login code → POST /mp/v1/session → token in storage.
 * Callers at the same moment share one log-in. Resolves with the SessionOut.
 */
function login() {
  if (!loginInFlight) {
    loginInFlight = doLogin().then(
      (session) => { loginInFlight = null; return session; },
      (err) => { loginInFlight = null; throw err; });
  }
  return loginInFlight;
}

async function doLogin() {
  watchNetwork();
  if (!isOnline()) throw clientError('offline');
  // At most two attempts, each with its OWN code: a code WeChat or our server has seen is
  // never sent again (a refused code is dead; so may be one whose answer we lost).
  for (let attempt = 0; ; attempt += 1) {
    let code;
    try {
      code = await wxLogin();
    } catch (e) {
      throw new ApiError({ status: 0, code: 'wechat_login_failed', message: '微信登录失败，请稍后再试' });
    }
    let res;
    try {
      res = await wxRequest({
        url: url('/mp/v1/session'), method: 'POST', data: { code },
        header: { 'content-type': 'application/json' }, dataType: 'json',
      });
    } catch (err) {
      if (attempt < 1 && isOnline()) { await sleep(config.retryDelaysMs[0] || 500); continue; }
      throw networkError(err);
    }
    if (res.statusCode === 201 || res.statusCode === 200) {
      const session = typeof res.data === 'string' ? JSON.parse(res.data) : res.data;
      store.setToken(session.token, session.expires_at);
      if (session.account) store.setMe(session.account);
      return session;
    }
    if (RETRY_STATUSES[res.statusCode] && attempt < 1) {
      await sleep(config.retryDelaysMs[0] || 500);
      continue;
    }
    throw errorFromResponse(res);
  }
}

/** Log out on the server (best effort) and forget the token and cached account. */
async function logout() {
  const token = store.getToken();
  if (token && isOnline()) {
    try {
      await wxRequest({ url: url('/mp/v1/session'), method: 'DELETE', header: { Authorization: `Bearer ${token}` } });
    } catch (e) { /* the token expires on its own */ }
  }
  store.clearToken();
  store.setMe(null);
}

// ---------------------------------------------------------------- the request loop
/**
 * One API call. Options: {method, path, data, query, auth = true, opId = false, retries,
 * header, responseType}. opId: true adds a new op_id to a body that has none; a string is
 * used as the op_id. Resolves with parsed JSON (null for 204), rejects with ApiError.
 */
async function request(options) {
  const method = String(options.method || 'GET').toUpperCase();
  const auth = options.auth !== false;
  let data = options.data;
  // opId: true / a string → add; undefined → add when the endpoint accepts one; false → never.
  const wantsOpId = options.opId === undefined ? (method === 'POST' && acceptsOpId(options.path)) : options.opId;
  if (wantsOpId && data && typeof data === 'object' && !(data instanceof ArrayBuffer) && !data.op_id) {
    data = Object.assign({}, data, { op_id: typeof wantsOpId === 'string' ? wantsOpId : opid.newOpId() });
  }
  const hasOpId = !!(data && typeof data === 'object' && data.op_id);
  const idempotent = !!IDEMPOTENT_METHODS[method] || hasOpId || options.idempotent === true;
  const delays = config.retryDelaysMs || [];
  const maxRetries = options.retries !== undefined ? options.retries : (idempotent ? delays.length : 0);

  watchNetwork();
  let attempt = 0;
  let reloggedIn = false;
  let waitedForRateLimit = false;
  for (;;) {
    if (!isOnline()) throw clientError('offline');
    if (auth && !store.getToken()) await login();
    const token = auth ? store.getToken() : '';
    const header = Object.assign({}, options.header);
    if (token) header.Authorization = `Bearer ${token}`;
    const sendsBody = data !== undefined && method !== 'GET' && method !== 'HEAD';
    if (sendsBody && !headerValue(header, 'content-type')) header['content-type'] = 'application/json';

    let res;
    try {
      res = await wxRequest({
        url: url(options.path, options.query),
        method,
        header,
        data: sendsBody ? data : undefined,
        dataType: options.responseType === 'arraybuffer' ? 'other' : 'json',
        responseType: options.responseType || 'text',
      });
    } catch (err) {
      if (isOnline() && attempt < maxRetries) {
        await sleep(delays[attempt] !== undefined ? delays[attempt] : 1500);
        attempt += 1;
        continue;
      }
      throw networkError(err);
    }

    const status = res.statusCode;
    if (status >= 200 && status < 300) {
      if (status === 204 || res.data === '' || res.data === undefined) return null;
      if (typeof res.data === 'string' && options.responseType !== 'arraybuffer') {
        try { return JSON.parse(res.data); } catch (e) { return res.data; }
      }
      return res.data;
    }
    if (status === 401 && auth && !reloggedIn) {
      reloggedIn = true;
      // Someone else may already have logged in again since we sent: then just retry.
      if (store.getToken() === token) {
        store.clearToken();
        await login();
      }
      continue;
    }
    if (status === 429 && !waitedForRateLimit) {
      const wait = retryAfterMs(res);
      if (wait > 0 && wait <= (config.maxRetryAfterMs || 5000)) {
        // A rate-limited request did nothing on the server, so trying again once is safe.
        waitedForRateLimit = true;
        await sleep(wait);
        continue;
      }
    }
    if (RETRY_STATUSES[status] && attempt < maxRetries) {
      const wait = Math.max(delays[attempt] !== undefined ? delays[attempt] : 1500, Math.min(retryAfterMs(res), 5000));
      await sleep(wait);
      attempt += 1;
      continue;
    }
    throw errorFromResponse(res);
  }
}

function get(path, query, options) {
  return request(Object.assign({}, options, { method: 'GET', path, query }));
}
function post(path, data, options) {
  return request(Object.assign({}, options, { method: 'POST', path, data: data === undefined ? {} : data }));
}
function put(path, data, options) {
  return request(Object.assign({}, options, { method: 'PUT', path, data }));
}
function patch(path, data, options) {
  return request(Object.assign({}, options, { method: 'PATCH', path, data }));
}
function del(path, options) {
  return request(Object.assign({}, options, { method: 'DELETE', path }));
}

// ---------------------------------------------------------------- files
function wxDownload(options) {
  return new Promise((resolve, reject) => {
    wx.downloadFile(Object.assign({}, options, { success: resolve, fail: reject }));
  });
}

/**
 * Download a file the API serves (e.g. a certificate PDF) with the session header.
 * Resolves with the temp file path. GET is idempotent: retried like request().
 */
async function download(path, query) {
  watchNetwork();
  const delays = config.retryDelaysMs || [];
  let attempt = 0;
  let reloggedIn = false;
  for (;;) {
    if (!isOnline()) throw clientError('offline');
    if (!store.getToken()) await login();
    const token = store.getToken();
    let res;
    try {
      res = await wxDownload({ url: url(path, query), header: { Authorization: `Bearer ${token}` } });
    } catch (err) {
      if (isOnline() && attempt < delays.length) { await sleep(delays[attempt]); attempt += 1; continue; }
      throw networkError(err);
    }
    if (res.statusCode === 200) return res.tempFilePath;
    if (res.statusCode === 401 && !reloggedIn) {
      reloggedIn = true;
      if (store.getToken() === token) { store.clearToken(); await login(); }
      continue;
    }
    if (RETRY_STATUSES[res.statusCode] && attempt < delays.length) {
      await sleep(delays[attempt]); attempt += 1; continue;
    }
    // The body went to a temp file; the status is all we can explain.
    throw new ApiError({ status: res.statusCode, message: errors.messageFor(res.statusCode, null) });
  }
}

/** Download a PDF and open it in WeChat's viewer (the reader can save or forward it). */
async function openPdf(path, query) {
  const filePath = await download(path, query);
  await new Promise((resolve, reject) => {
    wx.openDocument({
      filePath, fileType: 'pdf', showMenu: true, success: resolve,
      fail: () => reject(new ApiError({ status: 0, code: 'open_failed', message: '文件打开失败，请稍后再试' })),
    });
  });
  return filePath;
}

function readFile(filePath) {
  return new Promise((resolve, reject) => {
    wx.getFileSystemManager().readFile({
      filePath,
      success: (res) => resolve(res.data),
      fail: () => reject(new ApiError({ status: 0, code: 'read_failed', message: '图片读取失败，请重新选择' })),
    });
  });
}

/**
 * Upload a picture (contest entries). The backend takes the RAW image as the request body
 * with Content-Type image/jpeg or image/png (not multipart), so this reads the file and sends
 * it with wx.request. Replacing an entry's picture is idempotent, so it is retried like a PUT.
 * Options: {contentType} (default from the file name), {retries}.
 */
async function upload(path, filePath, options) {
  const opts = options || {};
  const contentType = opts.contentType || (/\.png$/i.test(filePath) ? 'image/png' : 'image/jpeg');
  const body = await readFile(filePath);
  return request({
    method: 'POST', path, data: body, idempotent: true, retries: opts.retries,
    header: { 'content-type': contentType },
  });
}

// ---------------------------------------------------------------- showing errors
/** Show an error to the reader in Chinese (toast for short messages, a dialog for long ones). */
function showError(err, title) {
  const message = (err && err.name === 'ApiError' && err.message) || errors.byStatus(0);
  if (message.length <= 14 && !title) {
    wx.showToast({ title: message, icon: 'none', duration: 2500 });
  } else {
    wx.showModal({ title: title || '提示', content: message, showCancel: false, confirmText: '知道了' });
  }
  return message;
}

// For tests only: forget in-memory state between cases.
function _reset() {
  loginInFlight = null;
  networkType = 'unknown';
  networkWatched = false;
  networkListeners.length = 0;
}

module.exports = {
  request, get, post, put, patch, del, login, logout, download, openPdf, upload,
  showError, ApiError, acceptsOpId, isOnline, onNetworkChange, watchNetwork, setNetworkType, _reset,
};
