// Run a page's logic under Node: load the page file, capture its Page({...}) definition and
// make an instance with data/setData/lifecycle, backed by test/support/wx-node.js.
//
//   const { makeWx, installWx } = require('../support/wx-node');
//   const { loadPage } = require('../support/page-runner');
//   const wx = installWx(makeWx({ baseUrl, fakeWechat, openid }));
//   const page = loadPage('pages/search/search', { wx });
//   await page.load({ q: '西游记' });            // onLoad(query) → onShow → onReady, each awaited
//   await page.run('onSearch', page.event({}, { value: '西游记' }));
//   await page.tap('onHold', { id: titleId });  // a TAP: dataset → event.currentTarget.dataset;
//                                               // wx.requestSubscribeMessage is allowed only here
//   page.data.results                            // what setData put there
//   await page.input('onInput', '西游记', { field: 'q' })  // bindinput: event.detail.value
//
// FOR PAGE AUTHORS: `return` (or make async) every handler's promise — onLoad, onShow,
// onPullDownRefresh, tap handlers — so tests can await them. A handler that fires a request and
// forgets it cannot be tested. Catch errors in the page (api.showError) rather than letting the
// promise reject: then tests assert on page.data and wx.__called('showToast').
// getApp() returns the App from app.js (globalData etc., onLaunch run with no network).

'use strict';

const path = require('path');

const ROOT = path.join(__dirname, '..', '..');

function clone(value) { return value === undefined ? undefined : JSON.parse(JSON.stringify(value)); }

// "a.b[2].c" → ['a', 'b', 2, 'c']
function parsePath(key) {
  const parts = [];
  String(key).replace(/[^.[\]]+|\[(\d+)\]/g, (match, index) => {
    parts.push(index !== undefined ? Number(index) : match);
    return match;
  });
  return parts;
}

function setPath(target, key, value) {
  const parts = parsePath(key);
  let node = target;
  for (let i = 0; i < parts.length - 1; i += 1) {
    const part = parts[i];
    if (node[part] === undefined || node[part] === null || typeof node[part] !== 'object') {
      node[part] = typeof parts[i + 1] === 'number' ? [] : {};
    }
    node = node[part];
  }
  node[parts[parts.length - 1]] = value;
}

function captureDefinition(file, globals) {
  const saved = {};
  Object.keys(globals).forEach((k) => { saved[k] = globalThis[k]; globalThis[k] = globals[k]; });
  try {
    delete require.cache[require.resolve(file)];
    require(file);
  } finally {
    // Page/App/Component are only needed while the file is evaluated; getApp/getCurrentPages
    // stay so handlers can call them later.
    ['Page', 'App', 'Component'].forEach((k) => { if (k in globals) globalThis[k] = saved[k]; });
  }
}

let defaultApp = null;

/** Load app.js (onLaunch with the given options; it does no network). */
function loadApp({ wx, options } = {}) {
  if (wx) globalThis.wx = wx;
  let def = null;
  captureDefinition(path.join(ROOT, 'app.js'), { App: (d) => { def = d; } });
  if (!def) throw new Error('app.js did not call App({...})');
  const app = {};
  Object.keys(def).forEach((k) => {
    app[k] = typeof def[k] === 'function' ? def[k].bind(app) : clone(def[k]);
  });
  if (typeof app.onLaunch === 'function') app.onLaunch(options || { path: 'pages/home/home', query: {}, scene: 1001 });
  defaultApp = app;
  return app;
}

const LIFECYCLE = ['onLoad', 'onShow', 'onReady', 'onHide', 'onUnload', 'onPullDownRefresh', 'onReachBottom',
  'onShareAppMessage', 'onPageScroll', 'onTabItemTap'];

/**
 * Load a page: pagePath like 'pages/search/search' (no extension).
 * Options: {wx, app, query} — query is only remembered (page.options); call page.load(query).
 */
const RUNNER_HELPERS = ['run', 'load', 'event', 'tap', 'input'];

function loadPage(pagePath, { wx, app, query } = {}) {
  if (wx) globalThis.wx = wx;
  const theApp = app || defaultApp || loadApp({ wx: globalThis.wx });
  let def = null;
  let kind = 'Page';
  const pages = [];
  globalThis.getApp = () => theApp;
  globalThis.getCurrentPages = () => pages;
  captureDefinition(path.join(ROOT, `${pagePath}.js`), {
    Page: (d) => { def = d; },
    Component: (d) => { def = d; kind = 'Component'; },
    getApp: globalThis.getApp,
    getCurrentPages: globalThis.getCurrentPages,
  });
  if (!def) throw new Error(`${pagePath}.js did not call Page({...}) or Component({...})`);

  const page = {
    route: pagePath,
    options: query || {},
    data: clone(def.data) || {},
    __setDataCount: 0,
    setData(values, cb) {
      Object.keys(values || {}).forEach((key) => setPath(page.data, key, clone(values[key])));
      page.__setDataCount += 1;
      if (typeof cb === 'function') cb();
    },
    selectComponent() { return null; },
    selectAllComponents() { return []; },
    createSelectorQuery() { return globalThis.wx.createSelectorQuery(); },
  };

  const methods = kind === 'Component'
    ? Object.assign({}, def.methods, (def.pageLifetimes || {}), (def.lifetimes || {}))
    : def;
  // The runner's own helpers would silently replace page methods of the same name (a page's
  // load() calling page.load() recursed forever once): refuse such a page outright.
  const clash = Object.keys(methods).filter((key) => RUNNER_HELPERS.includes(key));
  if (clash.length) throw new Error(`${pagePath}: rename ${clash.join(', ')} — the page runner uses those names`);
  Object.keys(methods).forEach((key) => {
    if (key === 'data') return;
    const value = methods[key];
    page[key] = typeof value === 'function' ? value.bind(page) : clone(value);
  });
  if (kind === 'Component' && !page.onLoad && page.attached) page.onLoad = page.attached;
  if (kind === 'Component' && page.show && !page.onShow) page.onShow = page.show;

  /** Call a handler and wait for the promise it returns. */
  page.run = async (name, ...args) => {
    if (typeof page[name] !== 'function') {
      if (LIFECYCLE.includes(name)) return undefined;
      throw new Error(`${pagePath} has no method ${name}`);
    }
    return page[name](...args);
  };

  /** onLoad(query) → onShow → onReady. */
  page.load = async (q) => {
    page.options = q || page.options || {};
    await page.run('onLoad', page.options);
    await page.run('onShow');
    await page.run('onReady');
    return page;
  };

  /** A WeChat event object: dataset for currentTarget/target, detail as given. */
  page.event = (dataset, detail, type) => ({
    type: type || 'tap',
    timeStamp: Date.now(),
    currentTarget: { id: '', dataset: dataset || {} },
    target: { id: '', dataset: dataset || {} },
    detail: detail || {},
    mark: {},
  });

  /** A user tap: opens the tap window (requestSubscribeMessage allowed) for this macrotask. */
  page.tap = async (name, dataset, detail) => {
    const w = globalThis.wx;
    w.__inTap = true;
    let result;
    try {
      result = page[name] ? page[name](page.event(dataset, detail, 'tap')) : page.run(name);
    } finally {
      setTimeout(() => { w.__inTap = false; }, 0);
    }
    return result;
  };

  /** bindinput / bindchange: event.detail.value = value. */
  page.input = async (name, value, dataset) => page.run(name, page.event(dataset, { value }, 'input'));

  pages.push(page);
  return page;
}

module.exports = { loadPage, loadApp, setPath, parsePath };
