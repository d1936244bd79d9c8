// A title: details, copies on the shelf in my room and nearby, 预约 (pick-up room of my
// choice; the 到书提醒 consent is asked in the same tap), and approved reviews.
const api = require('../../utils/request');
const store = require('../../utils/store');
const subscribe = require('../../utils/subscribe');
const shared = require('../home/shared');
const availability = require('../../components/book-item/availability');

const FORMAT_LABELS = { book: '图书', periodical: '报刊（只能在书屋里阅读）', audio_visual: '音像制品' };
const EARTH_KM = 6371;

function distanceKm(a, b) {
  if (!a || !b || a.lat === null || a.lat === undefined || b.lat === null || b.lat === undefined) return Infinity;
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLng = (b.lng - a.lng) * rad;
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLng / 2) ** 2;
  return 2 * EARTH_KM * Math.asin(Math.sqrt(h));
}

/** Pick-up choices: my room first, then the others nearest to it. */
function pickupChoices(rooms, homeCode) {
  const home = rooms.find((r) => r.code === homeCode);
  const sorted = rooms.slice().sort((x, y) => {
    if (x.code === homeCode) return -1;
    if (y.code === homeCode) return 1;
    return distanceKm(home, x) - distanceKm(home, y);
  });
  return sorted.map((r) => ({
    code: r.code,
    label: r.code === homeCode ? `${r.name}（我的书屋）` : `${r.name}（${r.town_name || r.town}）`,
  }));
}

function stars(rating) {
  const n = Math.max(0, Math.min(5, Number(rating) || 0));
  return '★'.repeat(n) + '☆'.repeat(5 - n);
}

Page({
  data: {
    id: '',
    loading: true,
    error: '',
    title: null,
    formatLabel: '',
    here: '',
    hereCount: null,
    roomName: '',
    nearby: [],
    district: '',
    canHold: true,
    member: null,
    pickups: [],
    pickupIndex: 0,
    holding: false,
    holdResult: null, // {message, queue, pickup}
    reviews: [],
    reviewCount: 0,
    reviewAverage: '',
    reviewsCursor: '',
  },

  onLoad(options) {
    const id = decodeURIComponent((options && (options.id || options.title_id)) || '');
    this.setData({ id });
    // Template ids for the 到书提醒 prompt (fetched now, asked only at the 预约 tap).
    subscribe.prefetch();
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh());
  },

  async reload() {
    if (!this.data.id) {
      this.setData({ loading: false, error: '没有找到这本书' });
      return;
    }
    this.setData({ loading: true, error: '' });
    let me = store.getMe();
    try {
      me = await shared.loadMe();
    } catch (err) {
      // Reading a title works without an account; holding needs one.
    }
    const member = store.currentMember(me);
    const query = {};
    if (member && member.home_room) query.member_id = member.id;
    else if (store.getRoom()) query.room = store.getRoom().code;
    try {
      const [title, reviews] = await Promise.all([
        api.get(`/mp/v1/titles/${encodeURIComponent(this.data.id)}`, query),
        api.get(`/mp/v1/titles/${encodeURIComponent(this.data.id)}/reviews`, { limit: 10 }, { auth: false })
          .catch(() => ({ items: [], count: 0 })),
      ]);
      const a = title.availability || {};
      const s = availability.summary(a);
      this.setData({
        loading: false,
        title,
        formatLabel: FORMAT_LABELS[title.format] || '',
        here: s.here,
        hereCount: a.on_shelf_here === undefined ? null : a.on_shelf_here,
        roomName: a.room_name || '',
        nearby: (a.nearby || []).map((r) => ({
          room: r.room, name: r.name, town: r.town || '', count: r.on_shelf, distance: availability.distanceText(r.distance_km),
        })),
        district: a.rooms_on_shelf > 0 ? `全区共有 ${a.rooms_on_shelf} 个书屋在架` : '目前全区没有在架的，预约后有书就通知您',
        canHold: title.format !== 'periodical',
        member: member ? { id: member.id, name: member.name, hasCard: !!member.card_no, child: member.child } : null,
        reviews: (reviews.items || []).map((r) => ({
          id: r.id, name: r.name, stars: stars(r.rating), rating: r.rating, text: r.text, date: shared.dateText(r.created_at),
        })),
        reviewCount: reviews.count || 0,
        reviewAverage: reviews.average ? reviews.average.toFixed(1) : '',
        reviewsCursor: reviews.next_cursor || '',
      });
      wx.setNavigationBarTitle({ title: title.title.slice(0, 16) });
      if (member && member.home_room) await this.loadPickups(member.home_room);
    } catch (err) {
      this.setData({ loading: false, error: err.message });
    }
  },

  /** The pick-up room list (public list of rooms, my room first, then nearest). */
  async loadPickups(homeCode) {
    try {
      const list = await api.get('/mp/v1/rooms', { limit: 200 }, { auth: false });
      const pickups = pickupChoices(list.items, homeCode);
      this.setData({ pickups, pickupIndex: 0 });
      return pickups;
    } catch (err) {
      this.setData({ pickups: [{ code: homeCode, label: '我的书屋' }], pickupIndex: 0 });
      return this.data.pickups;
    }
  },

  onPickup(e) {
    this.setData({ pickupIndex: Number(e.detail.value) || 0 });
  },

  /** Choose the pick-up room by its code (tests and deep links). */
  setPickup(code) {
    const i = this.data.pickups.findIndex((p) => p.code === code);
    if (i >= 0) this.setData({ pickupIndex: i });
    return i;
  },

  /**
   * 预约. The subscribe prompt (到书提醒) must be the FIRST thing in the tap: WeChat shows it
   * only inside a tap and not after a network round-trip. Resolves with the hold answer or null.
   */
  hold() {
    if (this.data.holding) return Promise.resolve(null);
    const asked = subscribe.askAtTap(['hold_ready']);
    const placed = this.placeHold();
    return Promise.all([asked, placed]).then(([consent, out]) => {
      if (out && this.data.holdResult) {
        const remind = consent && consent.results && Object.keys(consent.results).some((k) => consent.results[k] === 'accept');
        this.setData({ 'holdResult.remind': remind ? '到书后会用微信提醒您' : '到书后可在“我的借阅 → 预约”里查看' });
      }
      return out;
    });
  },

  async placeHold() {
    const member = this.data.member;
    if (!member) {
      wx.showModal({ title: '提示', content: '请先选择您的书屋，再来预约', showCancel: false, confirmText: '知道了' });
      return null;
    }
    const pickup = this.data.pickups[this.data.pickupIndex];
    if (!pickup) {
      wx.showToast({ title: '请选择取书的书屋', icon: 'none' });
      return null;
    }
    this.setData({ holding: true });
    try {
      const out = await api.post('/mp/v1/holds', {
        member_id: member.id, title_id: this.data.title.title_id, pickup_room: pickup.code,
      }, { opId: true });
      this.setData({
        holding: false,
        holdResult: {
          message: out.message || '预约成功',
          queue: out.queue_position,
          pickup: out.hold.pickup_room_name || pickup.label,
          remind: '',
        },
      });
      return out;
    } catch (err) {
      this.setData({ holding: false });
      if (err.code === 'card_required') {
        wx.showModal({
          title: '需要借阅证', content: err.message, confirmText: '去办理', cancelText: '以后再说',
          success: (res) => { if (res.confirm) wx.switchTab({ url: '/pages/card/card' }); },
        });
      } else {
        shared.toastError(err);
      }
      this.setData({ holdError: err.message });
      return null;
    }
  },

  /** More approved reviews. */
  async moreReviews() {
    if (!this.data.reviewsCursor) return [];
    try {
      const page = await api.get(`/mp/v1/titles/${encodeURIComponent(this.data.id)}/reviews`,
        { limit: 10, cursor: this.data.reviewsCursor }, { auth: false });
      const more = page.items.map((r) => ({
        id: r.id, name: r.name, stars: stars(r.rating), rating: r.rating, text: r.text, date: shared.dateText(r.created_at),
      }));
      this.setData({ reviews: this.data.reviews.concat(more), reviewsCursor: page.next_cursor || '' });
      return more;
    } catch (err) {
      shared.toastError(err);
      return [];
    }
  },

  writeReview() {
    wx.navigateTo({ url: `/pages/challenges/reviews?title_id=${encodeURIComponent(this.data.id)}` });
  },

  openLoans() {
    wx.navigateTo({ url: '/pages/loans/loans?tab=holds' });
  },
});

module.exports = { pickupChoices, distanceKm, stars };
