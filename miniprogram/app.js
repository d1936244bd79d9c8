// The app: no network on launch (a villager with a weak signal still gets the first screen);
// pages log in lazily through utils/request.js on their first call.
//
// Room QR codes: the backend makes WeChat "unlimited" codes whose scene is the room code and
// whose page is "pages/room/index" (miniprogram_api/roomcodes/models.py ROOM_PAGE). That page
// is not in app.json, so onPageNotFound sends the scan to pages/rooms/choose with the scene;
// onLaunch/onShow also read options.query.scene for codes that open any other page.

const api = require('./utils/request');
const store = require('./utils/store');

App({
  globalData: {
    room: null, // {code, name} — mirror of store.getRoom()
    online: true,
    scannedRoom: '', // room code from the QR the app was opened with ('' if none)
  },

  onLaunch(options) {
    this.globalData.room = store.getRoom();
    api.watchNetwork();
    api.onNetworkChange((online) => { this.globalData.online = online; });
    this.takeRoomScene(options);
  },

  onShow(options) {
    this.takeRoomScene(options);
  },

  /** A scanned room QR makes that room the current one; home/choose check in the visit. */
  takeRoomScene(options) {
    const query = (options && options.query) || {};
    const code = store.roomCodeFromScene(query.scene);
    if (!code) return '';
    const current = store.getRoom();
    if (!current || current.code !== code) store.setRoom({ code, name: '' });
    store.setPendingRoomCode(code);
    this.globalData.room = store.getRoom();
    this.globalData.scannedRoom = code;
    return code;
  },

  /** Update the current room everywhere (choose page, home page). */
  setRoom(room) {
    store.setRoom(room);
    this.globalData.room = store.getRoom();
  },

  onPageNotFound(res) {
    const query = (res && res.query) || {};
    const scene = query.scene ? `?scene=${encodeURIComponent(query.scene)}` : '';
    if (res && /^pages\/room\//.test(res.path || '')) {
      wx.redirectTo({ url: `/pages/rooms/choose${scene}`, fail: () => wx.switchTab({ url: '/pages/home/home' }) });
    } else {
      wx.switchTab({ url: '/pages/home/home' });
    }
  },
});
