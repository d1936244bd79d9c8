// 选择书屋: the list by town (or nearest first after a tap on 按距离排序), search by name,
// and the landing view when the page opens from a scanned room code (`scene`), which also
// checks the family in at that room (one visit per family per day).
const api = require('../../utils/request');
const store = require('../../utils/store');
const shared = require('../home/shared');

const ROOM_LIMIT = 200;

function groupByTown(rooms) {
  const groups = [];
  const index = {};
  rooms.forEach((r) => {
    const town = r.town_name || r.town || '其他';
    if (index[town] === undefined) {
      index[town] = groups.length;
      groups.push({ town, rooms: [] });
    }
    groups[index[town]].rooms.push(r);
  });
  return groups;
}

function brief(r) {
  return {
    code: r.code,
    name: r.name,
    kind: r.kind,
    town: r.town_name || r.town || '',
    village: r.village || '',
    distance: r.distance_km === null || r.distance_km === undefined ? '' : `${r.distance_km.toFixed(1)} 公里`,
  };
}

Page({
  data: {
    first: false,
    loading: true,
    error: '',
    q: '',
    byDistance: false,
    locationRefused: false,
    rooms: [], // nearest first (by distance) or search hits
    groups: [], // by town (default)
    currentCode: '',
    // landing (scanned code)
    landing: null,
    checkIn: '',
    // first-time profile (the account holder has none yet: the profile needs a home room)
    needProfile: false,
    pendingCode: '',
    profileName: '',
    profileYear: '',
    saving: false,
  },

  onLoad(options) {
    const opts = options || {};
    const code = store.roomCodeFromScene(opts.scene) || store.roomCodeFromScene(opts.code)
      || store.getPendingRoomCode();
    const room = store.getRoom();
    this.setData({ first: opts.first === '1', currentCode: room ? room.code : '' });
    this.ready = code ? this.openLanding(code) : this.loadRooms();
    return this.ready;
  },

  /** The room list: by town, or by name with `q`, or nearest first with a position. */
  async loadRooms(position) {
    this.setData({ loading: true, error: '' });
    const query = { limit: ROOM_LIMIT };
    if (this.data.q) query.q = this.data.q;
    if (position) { query.lat = position.latitude; query.lng = position.longitude; }
    try {
      const list = await api.get('/mp/v1/rooms', query, { auth: false });
      const rooms = list.items.map(brief);
      const flat = !!position || !!this.data.q;
      this.setData({
        loading: false,
        byDistance: !!position,
        rooms: flat ? rooms : [],
        groups: flat ? [] : groupByTown(rooms),
      });
      return rooms;
    } catch (err) {
      this.setData({ loading: false, error: err.message });
      return [];
    }
  },

  onQuery(e) {
    this.setData({ q: (e.detail.value || '').trim() });
  },

  search() {
    return this.loadRooms(this.position || null);
  },

  clearSearch() {
    this.setData({ q: '' });
    return this.loadRooms(this.position || null);
  },

  /** 按距离排序: asks for the location only now, at the reader's tap. */
  sortByDistance() {
    return new Promise((resolve) => {
      wx.getLocation({
        type: 'gcj02',
        success: (pos) => resolve(pos),
        fail: () => resolve(null),
      });
    }).then((pos) => {
      if (!pos) {
        this.setData({ locationRefused: true });
        wx.showToast({ title: '没有获得位置，请按镇街选择', icon: 'none' });
        return this.loadRooms(null);
      }
      this.position = { latitude: pos.latitude, longitude: pos.longitude };
      this.setData({ locationRefused: false });
      return this.loadRooms(this.position);
    });
  },

  /** Opened from a room's code: show the room and check in. */
  async openLanding(code) {
    store.setPendingRoomCode(null);
    this.setData({ loading: true, error: '' });
    let landing;
    try {
      landing = await api.get(`/mp/v1/rooms/${encodeURIComponent(code)}`);
    } catch (err) {
      this.setData({ loading: false, error: err.message });
      return this.loadRooms();
    }
    this.setData({
      loading: false,
      landing: {
        code: landing.code,
        name: landing.name,
        town: landing.town,
        village: landing.village,
        address: landing.address,
        hours: shared.todayHours(landing.opening_hours),
        active: landing.active,
        homeRoom: landing.home_room === true,
        newTitles: (landing.new_titles || []).slice(0, 5),
      },
    });
    if (landing.active) await this.checkIn(code);
    return landing;
  },

  /** One check-in per family per day at this room (replays are harmless: op_id). */
  async checkIn(code) {
    try {
      const visit = await api.post(`/mp/v1/rooms/${encodeURIComponent(code)}/visits`, {}, { opId: true });
      this.setData({ checkIn: visit.counted ? '✓ 已签到，欢迎来书屋读书' : '✓ 今天已经签到过了' });
      return visit;
    } catch (err) {
      this.setData({ checkIn: `签到没有成功：${err.message}` });
      return null;
    }
  },

  showList() {
    this.setData({ landing: null });
    return this.loadRooms();
  },

  chooseFromLanding() {
    const l = this.data.landing;
    return this.choose({ currentTarget: { dataset: { code: l.code, name: l.name } } });
  },

  /** Make a room my room (the account holder's home room). */
  async choose(e) {
    const { code, name } = e.currentTarget.dataset;
    let me = store.getMe();
    try {
      me = await shared.loadMe();
    } catch (err) {
      shared.toastError(err);
      return null;
    }
    const self = store.selfMember(me);
    if (!self) {
      // No profile yet: its home room is required, so ask for name and birth year here.
      this.setData({ needProfile: true, pendingCode: code, pendingName: name || code });
      return null;
    }
    this.setData({ saving: true });
    try {
      if (self.home_room !== code) await api.patch(`/mp/v1/members/${encodeURIComponent(self.id)}`, { home_room: code });
      await this.done(code, name);
      return code;
    } catch (err) {
      this.setData({ saving: false });
      shared.toastError(err);
      return null;
    }
  },

  onProfileName(e) { this.setData({ profileName: (e.detail.value || '').trim() }); },
  onProfileYear(e) { this.setData({ profileYear: (e.detail.value || '').trim() }); },

  /** First use: save the account holder's profile with the chosen room. */
  async saveProfile() {
    const name = this.data.profileName;
    const year = Number(this.data.profileYear);
    const thisYear = new Date().getFullYear();
    if (!name) { wx.showToast({ title: '请填写姓名或称呼', icon: 'none' }); return null; }
    if (!(year >= 1900 && year <= thisYear)) { wx.showToast({ title: '请填写四位数的出生年份', icon: 'none' }); return null; }
    this.setData({ saving: true });
    try {
      await api.put('/mp/v1/me/profile', { name, birth_year: year, home_room: this.data.pendingCode });
      await this.done(this.data.pendingCode, this.data.pendingName);
      return this.data.pendingCode;
    } catch (err) {
      this.setData({ saving: false });
      shared.toastError(err);
      return null;
    }
  },

  async done(code, name) {
    const app = typeof getApp === 'function' ? getApp() : null;
    if (app && typeof app.setRoom === 'function') app.setRoom({ code, name });
    else store.setRoom({ code, name });
    try { await shared.loadMe(); } catch (e) { /* the home page reloads it */ }
    this.setData({ saving: false, needProfile: false, currentCode: code });
    wx.showToast({ title: '已选好书屋', icon: 'success' });
    const pages = typeof getCurrentPages === 'function' ? getCurrentPages() : [];
    if (pages.length > 1) wx.navigateBack();
    else wx.switchTab({ url: '/pages/home/home' });
  },

  openTitle(e) {
    wx.navigateTo({ url: `/pages/title/title?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },
});
