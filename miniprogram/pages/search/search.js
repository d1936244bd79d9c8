// 找书: one box for 汉字, pinyin, initials or an ISBN; a 扫 ISBN button; results with
// availability in my room and nearby; 加载更多; an empty state that offers 荐购.
const api = require('../../utils/request');
const store = require('../../utils/store');
const shared = require('../home/shared');

const PAGE_SIZE = 20;

/** Digits (and a final X) of a scanned barcode when it looks like an ISBN, else ''. */
function isbnFromScan(text) {
  const raw = String(text || '').replace(/[\s-]/g, '').toUpperCase();
  if (/^97[89]\d{10}$/.test(raw) || /^\d{9}[\dX]$/.test(raw)) return raw;
  return '';
}

Page({
  data: {
    q: '',
    searched: '', // the query the results are for
    items: [],
    nextCursor: '',
    loading: false,
    loadingMore: false,
    error: '',
    roomName: '',
    scanning: false,
  },

  onLoad(options) {
    const q = options && options.q ? decodeURIComponent(options.q) : '';
    if (q) {
      this.setData({ q });
      return this.search();
    }
    return Promise.resolve();
  },

  onInput(e) {
    this.setData({ q: e.detail.value || '' });
  },

  clear() {
    this.setData({ q: '', searched: '', items: [], nextCursor: '', error: '' });
  },

  /** Query parameters: availability is for the current member's room (or the chosen room). */
  baseQuery() {
    const query = { q: this.data.q.trim(), limit: PAGE_SIZE };
    const me = store.getMe();
    const member = store.currentMember(me);
    if (member && member.home_room) query.member_id = member.id;
    else {
      const room = store.getRoom();
      if (room) query.room = room.code;
    }
    return query;
  },

  /** A new search. Resolves with the items shown. */
  async search() {
    const q = this.data.q.trim();
    if (!q) {
      wx.showToast({ title: '请输入书名、作者或拼音', icon: 'none' });
      return [];
    }
    this.setData({ loading: true, error: '', searched: q, items: [], nextCursor: '' });
    try {
      const page = await api.get('/mp/v1/titles', this.baseQuery());
      const first = page.items[0];
      this.setData({
        loading: false,
        items: page.items,
        nextCursor: page.next_cursor || '',
        roomName: first && first.availability ? first.availability.room_name || '' : '',
      });
      return page.items;
    } catch (err) {
      this.setData({ loading: false, error: err.message });
      return [];
    }
  },

  /** 加载更多: the next page of the same search. */
  async loadMore() {
    if (!this.data.nextCursor || this.data.loadingMore) return [];
    this.setData({ loadingMore: true });
    try {
      const query = Object.assign(this.baseQuery(), { q: this.data.searched, cursor: this.data.nextCursor });
      const page = await api.get('/mp/v1/titles', query);
      this.setData({
        loadingMore: false,
        items: this.data.items.concat(page.items),
        nextCursor: page.next_cursor || '',
      });
      return page.items;
    } catch (err) {
      this.setData({ loadingMore: false });
      shared.toastError(err);
      return [];
    }
  },

  onReachBottom() {
    return this.loadMore();
  },

  /** 扫 ISBN: the camera reads the barcode on the back cover. */
  scanIsbn() {
    this.setData({ scanning: true });
    return new Promise((resolve) => {
      wx.scanCode({
        onlyFromCamera: false,
        scanType: ['barCode'],
        success: (res) => resolve(res.result),
        fail: () => resolve(null),
      });
    }).then((result) => {
      this.setData({ scanning: false });
      if (result === null) return []; // cancelled
      const isbn = isbnFromScan(result);
      if (!isbn) {
        wx.showToast({ title: '这不是图书的 ISBN 条码', icon: 'none' });
        return [];
      }
      this.setData({ q: isbn });
      return this.search();
    });
  },

  /** Empty result: suggest the library buys it (荐购), with what was typed. */
  suggest() {
    const q = this.data.searched;
    const key = isbnFromScan(q) ? 'isbn' : 'title';
    wx.navigateTo({ url: `/pages/suggest/suggest?${key}=${encodeURIComponent(q)}` });
  },
});

module.exports = { isbnFromScan };
