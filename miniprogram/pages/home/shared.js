// Small helpers shared by the reading pages (home, rooms, search, title, suggest, card, loans).
// Calls go through THE request module; this file only adds the bits several pages repeat.
const api = require('../../utils/request');
const store = require('../../utils/store');

const format = require('../../utils/format');

const SHANGHAI_OFFSET_MS = 8 * 3600 * 1000;
const WEEKDAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

/** GET /mp/v1/me, cached in the store. Resolves with the AccountOut. */
async function loadMe() {
  const me = await api.get('/mp/v1/me');
  store.setMe(me);
  return me;
}

/** The room availability is reported for: the current member's home room, else the chosen one. */
/** /mp/v1/me for a page's reload: on failure the page shows the error inline and gets null. */
async function meOrError(page) {
  try {
    return await loadMe();
  } catch (err) {
    page.setData({ loading: false, error: err.message });
    return null;
  }
}

function currentRoomCode(me) {
  const member = store.currentMember(me);
  if (member && member.home_room) return member.home_room;
  const room = store.getRoom();
  return room ? room.code : '';
}

/** A Date for the Shanghai wall clock of an ISO time (read it with getUTC*). */
function shanghai(iso) {
  const t = typeof iso === 'number' ? iso : Date.parse(iso);
  return new Date(t + SHANGHAI_OFFSET_MS);
}

/** "6月3日" (or "2024年6月3日" outside the current year). */
function dateText(iso, now) {
  if (!iso) return '';
  const day = format.date(iso);
  return day.slice(0, 4) === format.today(now).slice(0, 4) ? format.monthDay(iso) : `${day.slice(0, 4)}年${format.monthDay(iso)}`;
}

/** Whole local days from today to the day of `iso` (0 = today, 1 = tomorrow, -2 = 2 days ago). */
function daysUntil(iso, now) {
  return format.daysUntil(iso, now);
}

/** "今天到期" / "还有 3 天到期" / "已逾期 2 天，请尽快归还" for an open loan. */
function dueText(loan, now) {
  if (loan.overdue) {
    const days = Math.max(1, loan.days_overdue || -format.daysUntil(loan.due_at, now) || 1);
    return `已逾期 ${days} 天，请尽快归还`;
  }
  return format.dueText(loan.due_at, now);
}

/** Today's opening hours from a RoomLanding's opening_hours ({mon: ["09:00-11:30"]}). */
function todayHours(openingHours, now) {
  if (!openingHours) return '';
  const key = WEEKDAYS[shanghai(now || Date.now()).getUTCDay()];
  const spans = openingHours[key];
  if (!spans || !spans.length) return '今天不开放';
  return `今天开放：${spans.join('、')}`;
}

/** Show an API error kindly (err.message is already Chinese). Returns the message. */
function toastError(err) {
  const message = (err && err.message) || '出了点问题，请稍后再试';
  wx.showToast({ title: message, icon: 'none', duration: 2500 });
  return message;
}

module.exports = {
  meOrError,
  loadMe, currentRoomCode, shanghai, dateText, daysUntil, dueText, todayHours, toastError,
};
