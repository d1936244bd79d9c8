// Formatting for the screen: dates in Asia/Shanghai (UTC+8, no daylight saving), due-date
// wording, masked names. Pure functions (no wx), safe anywhere.

const SHANGHAI_OFFSET_MS = 8 * 60 * 60 * 1000;
const DAY_MS = 24 * 60 * 60 * 1000;

function pad(n) { return n < 10 ? `0${n}` : String(n); }

// A Date "moved" to Shanghai wall-clock time, read with getUTC*.
function shanghai(value) {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) return null;
  return new Date(date.getTime() + SHANGHAI_OFFSET_MS);
}

// A bare "YYYY-MM-DD" is a calendar date already (no time zone to convert).
function isBareDate(value) { return typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value); }

/** "2024-07-01" (Shanghai calendar date); '' for nothing. */
function date(value) {
  if (!value) return '';
  if (isBareDate(value)) return value;
  const d = shanghai(value);
  return d ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}` : '';
}

/** "2024-07-01 08:05" in Shanghai time. */
function dateTime(value) {
  if (!value) return '';
  const d = shanghai(value);
  return d ? `${date(value)} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}` : '';
}

/** "7月1日" */
function monthDay(value) {
  const s = date(value);
  if (!s) return '';
  const [, m, d] = s.split('-');
  return `${Number(m)}月${Number(d)}日`;
}

/** Today in Shanghai, "YYYY-MM-DD" (for read_on etc.). */
function today(now) { return date(now || new Date()); }

/** Whole days from today (Shanghai) to the date; negative when past. */
function daysUntil(value, now) {
  const target = date(value);
  const base = today(now);
  if (!target) return null;
  return Math.round((Date.parse(`${target}T00:00:00Z`) - Date.parse(`${base}T00:00:00Z`)) / DAY_MS);
}

/** "今天到期" / "明天到期" / "还有 5 天到期" / "已逾期 2 天". */
function dueText(value, now) {
  const days = daysUntil(value, now);
  if (days === null) return '';
  if (days < 0) return `已逾期 ${-days} 天`;
  if (days === 0) return '今天到期';
  if (days === 1) return '明天到期';
  return `还有 ${days} 天到期`;
}

/** Mask a name for public lists: "王小明" → "王*明", "李娜" → "李*", "欧阳娜娜" → "欧**娜". */
function maskName(name) {
  const chars = Array.from(String(name || '').trim());
  if (chars.length <= 1) return chars.join('');
  if (chars.length === 2) return `${chars[0]}*`;
  return chars[0] + '*'.repeat(chars.length - 2) + chars[chars.length - 1];
}

/** "138****1234" */
function maskPhone(phone) {
  const s = String(phone || '');
  return s.length === 11 ? `${s.slice(0, 3)}****${s.slice(7)}` : s;
}

/** Count characters the way the contest rules do (each 汉字 or letter is one). */
function charCount(text) { return Array.from(String(text || '').replace(/\s/g, '')).length; }

module.exports = { date, dateTime, monthDay, today, daysUntil, dueText, maskName, maskPhone, charCount };
