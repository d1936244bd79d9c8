// Every page and component compiles with WeChat's own WXML/WXSS compilers (wcc/wcsc, packaged
// as miniprogram-compiler) and every page's JSON file is valid and names components that exist —
// the checks WeChat DevTools runs when the project is opened.
const test = require('node:test');
const assert = require('node:assert');
const fs = require('node:fs');
const path = require('node:path');
const { wxmlToJs, wxssToJs } = require('miniprogram-compiler');
require('../support/dom'); // the compiled templates expect a browser-like global (window)

const ROOT = path.resolve(__dirname, '..', '..');
const app = JSON.parse(fs.readFileSync(path.join(ROOT, 'app.json'), 'utf8'));

function componentDirs() {
  const dir = path.join(ROOT, 'components');
  return fs.readdirSync(dir).map((name) => `components/${name}/index`);
}

test('app.json lists pages that all have their four files', () => {
  for (const page of app.pages) {
    for (const ext of ['js', 'json', 'wxml', 'wxss']) {
      assert.ok(fs.existsSync(path.join(ROOT, `${page}.${ext}`)), `${page}.${ext} is missing`);
    }
  }
  for (const tab of app.tabBar.list) assert.ok(app.pages.includes(tab.pagePath), `${tab.pagePath} is not a page`);
});

test('every page and component JSON is valid and its components exist', () => {
  const owners = [...app.pages, ...componentDirs()];
  for (const owner of owners) {
    const json = JSON.parse(fs.readFileSync(path.join(ROOT, `${owner}.json`), 'utf8'));
    const used = { ...(app.usingComponents || {}), ...(json.usingComponents || {}) };
    for (const [tag, ref] of Object.entries(used)) {
      const target = ref.startsWith('/') ? path.join(ROOT, ref) : path.join(ROOT, path.dirname(owner), ref);
      assert.ok(fs.existsSync(`${target}.js`), `${owner}: <${tag}> points at ${ref}, which does not exist`);
    }
  }
});

test('WeChat\'s WXML compiler builds every page and component', () => {
  const $gwx = new Function('global', wxmlToJs(ROOT))({}); // eslint-disable-line no-new-func
  for (const owner of [...app.pages, ...componentDirs()]) {
    const render = $gwx(`${owner}.wxml`);
    assert.strictEqual(typeof render, 'function', `${owner}.wxml did not compile`);
  }
});

test('WeChat\'s WXSS compiler accepts every style sheet', () => {
  const source = wxssToJs(ROOT);
  assert.ok(typeof source === 'string' && source.length > 0, 'the WXSS compiler produced nothing');
});
