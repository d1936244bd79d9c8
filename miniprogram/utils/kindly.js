// One way for every page to show a problem: the message inline (page.data.error, or another
// key), each field's message by field name (page.data.fieldErrors, for forms), the page's
// loading/busy flags cleared, and the same message as a toast (short) or a dialog (long, so an
// older reader has time to read it). The message is the ApiError's Chinese text — utils/errors.js
// already prefers the server's own wording where it says more (a cap, a character limit).
//
//   const { kindly } = require('../../utils/kindly');
//   try { … } catch (err) { kindly(this, err); }
const api = require('./request');

const FALLBACK = '出了点问题，请稍后再试';

function fieldErrorsOf(err) {
  const out = {};
  ((err && err.fields) || []).forEach((f) => {
    const loc = f.loc || [];
    out[loc[loc.length - 1]] = f.msg;
  });
  return out;
}

function kindly(page, err, key) {
  const message = (err && err.message) || FALLBACK;
  page.setData({ [key || 'error']: message, fieldErrors: fieldErrorsOf(err), loading: false, busy: false });
  api.showError(err && err.name === 'ApiError' ? err : { name: 'ApiError', message });
  return message;
}

module.exports = { kindly, fieldErrorsOf };
