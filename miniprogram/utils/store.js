// Client-side state kept in wx storage (survives restarts): the session token, the
// current room, the current member (self or a child) and a cached copy of GET /mp/v1/me.
//
//   const store = require('../../utils/store');
//   store.getRoom()            → {code, name} | null
//   store.setRoom({code, name})
//   store.getMemberId()        → the member the reader is acting for ('' = the account holder)
//   store.setMemberId(id)
//   store.getMe() / store.setMe(me)   (AccountOut; setMe(null) clears)
//   store.selfMember(me?) / store.currentMember(me?) / store.children(me?)
//   store.roomCodeFromScene(scene)    the room code in a scanned room QR's `scene`
//
// Nothing secret lives here: the token is the server's opaque session token; the
// wx.login code is never stored and no session_key ever reaches the client.

const KEYS = {
  token: 'shuwu.token',
  tokenExpires: 'shuwu.token_expires_at',
  room: 'shuwu.room',
  member: 'shuwu.member_id',
  me: 'shuwu.me',
  pendingScene: 'shuwu.pending_room_scene',
};

function read(key, fallback) {
  try {
    const value = wx.getStorageSync(key);
    return value === '' || value === undefined || value === null ? fallback : value;
  } catch (e) {
    return fallback;
  }
}

function write(key, value) {
  try {
    if (value === null || value === undefined) wx.removeStorageSync(key);
    else wx.setStorageSync(key, value);
  } catch (e) {
    // Storage full or unavailable: the app still works for this session.
  }
}

function getToken() { return read(KEYS.token, ''); }
function setToken(token, expiresAt) {
  write(KEYS.token, token || null);
  write(KEYS.tokenExpires, token ? (expiresAt || '') : null);
}
function clearToken() { setToken(null); }

function getRoom() {
  const room = read(KEYS.room, null);
  return room && room.code ? room : null;
}
function setRoom(room) {
  if (!room || !room.code) { write(KEYS.room, null); return; }
  write(KEYS.room, { code: String(room.code), name: room.name || '' });
}

// Room QR codes are WeChat "unlimited" codes whose scene is the room code (e.g. "JN-XSG-001").
// WeChat hands the scene URL-encoded in options.query.scene.
const ROOM_CODE = /^[A-Za-z0-9-]{3,32}$/;
function roomCodeFromScene(scene) {
  if (!scene) return '';
  let value = String(scene);
  try { value = decodeURIComponent(value); } catch (e) { /* keep the raw value */ }
  value = value.trim();
  if (value.indexOf('=') > 0) { // tolerate "r=JN-XSG-001" / "room=…"
    const pair = value.split('&').map((p) => p.split('=')).find((p) => /^(r|room|code)$/.test(p[0]));
    value = pair ? pair[1] : '';
  }
  return ROOM_CODE.test(value) ? value.toUpperCase() : '';
}
// A scanned room not yet confirmed by a page (the home/choose page reads and clears it).
function getPendingRoomCode() { return read(KEYS.pendingScene, ''); }
function setPendingRoomCode(code) { write(KEYS.pendingScene, code || null); }

function getMemberId() { return read(KEYS.member, ''); }
function setMemberId(id) { write(KEYS.member, id || null); }

function getMe() { return read(KEYS.me, null); }
function setMe(me) { write(KEYS.me, me || null); }

function members(me) {
  const account = me || getMe();
  return account && Array.isArray(account.members) ? account.members : [];
}
function selfMember(me) { return members(me).find((m) => m.relation === 'self') || null; }
function children(me) { return members(me).filter((m) => m.relation === 'child'); }
// The member the reader acts for: the chosen child if still in the family, else self.
function currentMember(me) {
  const id = getMemberId();
  const found = id ? members(me).find((m) => m.id === id) : null;
  return found || selfMember(me);
}

// Log-out / account deletion: forget everything about this reader on the device.
function clearAll() {
  Object.keys(KEYS).forEach((k) => write(KEYS[k], null));
}

module.exports = {
  KEYS, getToken, setToken, clearToken, getRoom, setRoom, roomCodeFromScene,
  getPendingRoomCode, setPendingRoomCode, getMemberId, setMemberId, getMe, setMe,
  members, selfMember, children, currentMember, clearAll,
};
