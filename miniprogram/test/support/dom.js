// miniprogram-simulate expects a browser-like global (it was written for jest's jsdom
// environment). require('../support/dom') BEFORE require('miniprogram-simulate') in a unit
// test of a component:
//
//   require('../support/dom');
//   const simulate = require('miniprogram-simulate');
//   const comp = simulate.render(simulate.load(path.join(ROOT, 'components/x/index')), props);
//   comp.attach(document.createElement('parent-wrapper'));

'use strict';

const { JSDOM } = require('jsdom');

if (typeof globalThis.window === 'undefined') {
  const dom = new JSDOM('<!doctype html><html><body></body></html>', { pretendToBeVisual: true });
  const { window } = dom;
  globalThis.window = window;
  ['document', 'navigator', 'Node', 'Element', 'HTMLElement', 'Event', 'CustomEvent', 'MutationObserver',
    'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame', 'DocumentFragment', 'Text', 'Comment',
  ].forEach((key) => {
    // Node 19+ has its own Event/CustomEvent, which jsdom's dispatchEvent refuses: always jsdom's.
    const mustReplace = key === 'Event' || key === 'CustomEvent';
    if ((mustReplace || typeof globalThis[key] === 'undefined') && window[key] !== undefined) {
      globalThis[key] = typeof window[key] === 'function' && /^[a-z]/.test(key) ? window[key].bind(window) : window[key];
    }
  });
}

module.exports = globalThis.window;
