// Every status the reading pages show, as words + an icon + a tone. The words carry the
// meaning; the icon and the colour only repeat it (never colour alone).
//
// kind: 'hold' | 'suggestion' | 'loan'. The API's own status_label wins when given.

const TONES = {
  ok: '✓', // done, ready, on the shelf
  wait: '…', // in progress, waiting
  warn: '!', // needs attention soon
  bad: '✕', // refused, overdue, cancelled
  info: 'i', // neutral information
};

const STATUSES = {
  hold: {
    waiting: { text: '排队中', tone: 'wait' },
    ready: { text: '可取书', tone: 'ok' },
    fulfilled: { text: '已借到', tone: 'ok' },
    cancelled: { text: '已取消', tone: 'info' },
    expired: { text: '已过期', tone: 'bad' },
  },
  suggestion: {
    submitted: { text: '已提交', tone: 'wait' },
    under_review: { text: '审核中', tone: 'wait' },
    accepted: { text: '已采纳', tone: 'ok' },
    in_order: { text: '采购中', tone: 'wait' },
    fulfilled: { text: '已到馆', tone: 'ok' },
    merged: { text: '已合并', tone: 'info' },
    rejected: { text: '未采纳', tone: 'bad' },
  },
  loan: {
    on_loan: { text: '在借', tone: 'info' },
    due_soon: { text: '快到期', tone: 'warn' },
    overdue: { text: '已逾期', tone: 'bad' },
    returned: { text: '已归还', tone: 'ok' },
    renewed: { text: '已续借', tone: 'ok' },
  },
};

function describe(kind, status, label) {
  const known = (STATUSES[kind] || {})[status];
  const tone = known ? known.tone : 'info';
  const text = label || (known ? known.text : '状态未知');
  return { text, tone, icon: TONES[tone] };
}

module.exports = { STATUSES, TONES, describe };
