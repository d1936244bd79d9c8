// Subscribe-message consent, asked ONLY at the moment of a tap (hold, 到期提醒, results).
//
//   const subscribe = require('../../utils/subscribe');
//   onLoad() { subscribe.prefetch(); }             // fetches template ids; NEVER prompts
//   onHoldTap(e) {
//     const asked = subscribe.askAtTap(['hold_ready']);   // FIRST line of the tap handler,
//     return Promise.all([asked, this.placeHold(e)]);     // before any await
//   }
//
// WeChat only shows the prompt inside a user's tap (and not after a network round-trip), so
// askAtTap calls wx.requestSubscribeMessage synchronously when the template ids are cached
// (prefetch() on load caches them). It never throws: a refusal, a closed prompt or a failed
// report resolves quietly with {asked: false} or the results. Never call it from onLoad/onShow.
// Each "accept" is one consent = one message; results go to POST /mp/v1/subscriptions.
//
// Events: hold_ready, due_tomorrow, overdue, suggestion_status, challenge_milestone,
// contest_result, prize_won, rating_result (template ids come from the server's
// SHUWU_WECHAT_TEMPLATES via GET /mp/v1/subscriptions).

const api = require('./request');
const config = require('../config');

const MAX_IDS_PER_PROMPT = 3; // WeChat shows at most three templates per prompt
const RESULT_VALUES = { accept: true, reject: true, ban: true, filter: true };

let cache = null; // {at: ms, templates: [{event, title, template_id, credits}]}
let loading = null;

function fresh() {
  return cache && Date.now() - cache.at < (config.templatesTtlMs || 600000) ? cache.templates : null;
}

/** GET /mp/v1/subscriptions (cached): the template list with my remaining credits. */
function loadTemplates(force) {
  if (!force && fresh()) return Promise.resolve(fresh());
  if (!loading) {
    loading = api.get('/mp/v1/subscriptions').then((out) => {
      cache = { at: Date.now(), templates: (out && out.templates) || [] };
      loading = null;
      return cache.templates;
    }, (err) => { loading = null; throw err; });
  }
  return loading;
}

/** Safe on page load: fetches the template ids so a later tap can prompt at once. */
function prefetch() {
  return loadTemplates(false).catch(() => []);
}

function idsFor(templates, events) {
  const wanted = Array.isArray(events) ? events : [events];
  return templates
    .filter((t) => wanted.indexOf(t.event) >= 0 && t.template_id)
    .map((t) => t.template_id)
    .slice(0, MAX_IDS_PER_PROMPT);
}

function prompt(ids) {
  return new Promise((resolve) => {
    wx.requestSubscribeMessage({
      tmplIds: ids,
      success: (res) => resolve(res),
      fail: () => resolve(null), // closed, refused in settings, not in a tap: stay quiet
    });
  });
}

async function report(ids, res) {
  const results = {};
  ids.forEach((id) => { if (RESULT_VALUES[res[id]]) results[id] = res[id]; });
  if (!Object.keys(results).length) return { asked: true, results, added: 0 };
  try {
    const out = await api.post('/mp/v1/subscriptions', { results }); // op_id added by request.js
    if (out && out.templates) cache = { at: Date.now(), templates: out.templates };
    return { asked: true, results, added: (out && out.added) || 0 };
  } catch (e) {
    return { asked: true, results, added: 0, error: e };
  }
}

/**
 * Ask for consent to the given events' messages. Call it FIRST in a tap handler.
 * Resolves {asked, results, added}; never rejects.
 */
function askAtTap(events) {
  const templates = fresh();
  if (templates) {
    const ids = idsFor(templates, events);
    if (!ids.length) return Promise.resolve({ asked: false, results: {}, added: 0 });
    // Synchronous call inside the tap: the only way WeChat shows the prompt.
    const answered = prompt(ids);
    return answered.then((res) => (res ? report(ids, res) : { asked: false, results: {}, added: 0 }));
  }
  // Not prefetched: try anyway (WeChat may refuse once a request has gone by; then quietly nothing).
  return loadTemplates(false)
    .then((list) => {
      const ids = idsFor(list, events);
      if (!ids.length) return { asked: false, results: {}, added: 0 };
      return prompt(ids).then((res) => (res ? report(ids, res) : { asked: false, results: {}, added: 0 }));
    })
    .catch(() => ({ asked: false, results: {}, added: 0 }));
}

function _reset() { cache = null; loading = null; }

module.exports = { askAtTap, prefetch, loadTemplates, _reset };
