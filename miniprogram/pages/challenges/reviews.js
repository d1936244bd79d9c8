// 书评: write a review of a book for a family member (checked by WeChat, then shown only after
// staff approval — "审核后显示"), and see my family's reviews with their status.
// ?title=<title_id> preselects a book (from the title page); otherwise search one.

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');

const STATUS = {
  pending: '⏳ 审核中（审核后显示）',
  approved: '✓ 已公开',
  rejected: '✗ 未通过',
};


Page({
  data: {
    loading: true,
    busy: false,
    error: '',
    members: [],
    memberId: '',
    query: '',
    results: [],
    book: null,          // {title_id, title, author}
    rating: 5,
    stars: [1, 2, 3, 4, 5],
    text: '',
    mine: [],
    submitted: null,
  },

  onLoad(query) {
    query = query || {};
    const tasks = [this.loadMine()];
    if (query.title) tasks.push(this.pickTitle(query.title));
    return Promise.all(tasks);
  },

  loadMine() {
    this.setData({ loading: true, error: '' });
    return Promise.all([api.get('/mp/v1/me'), api.get('/mp/v1/reviews', { limit: 50 })]).then(([me, page]) => {
      store.setMe(me);
      const members = (me.members || []).filter((m) => m.status === 'active');
      const current = store.currentMember(me);
      this.setData({
        loading: false,
        members,
        memberId: this.data.memberId || (current ? current.id : ''),
        mine: (page.items || []).map((r) => Object.assign({}, r, {
          statusText: STATUS[r.status] || r.status,
          date: String(r.created_at).slice(0, 10),
          stars: '★'.repeat(r.rating) + '☆'.repeat(5 - r.rating),
        })),
      });
    }).catch((err) => { kindly(this, err); });
  },

  pickTitle(titleId) {
    return api.get(`/mp/v1/titles/${titleId}`).then((t) => {
      this.setData({ book: { title_id: t.title_id, title: t.title, author: t.author || '' }, results: [] });
      return t;
    }).catch((err) => { kindly(this, err); });
  },

  onQueryInput(e) {
    this.setData({ query: e.detail.value });
  },

  onSearch() {
    const q = (this.data.query || '').trim();
    if (!q) return Promise.resolve([]);
    return api.get('/mp/v1/titles', { q, limit: 10 }).then((page) => {
      const results = (page.items || []).map((t) => ({ title_id: t.title_id, title: t.title, author: t.author || '' }));
      this.setData({ results });
      if (!results.length) wx.showToast({ title: '没有找到这本书', icon: 'none' });
      return results;
    }).catch((err) => { kindly(this, err); return []; });
  },

  onChooseBook(e) {
    const id = e.currentTarget.dataset.id;
    const book = this.data.results.find((r) => r.title_id === id);
    if (book) this.setData({ book, results: [] });
    return Promise.resolve(book);
  },

  onSwitch(e) {
    this.setData({ memberId: e.detail.memberId });
    return Promise.resolve();
  },

  onRate(e) {
    this.setData({ rating: Number(e.currentTarget.dataset.value) });
  },

  onTextInput(e) {
    this.setData({ text: e.detail.value });
  },

  onSubmit() {
    if (this.data.busy) return Promise.resolve(null);
    if (!this.data.book) {
      wx.showToast({ title: '请先选择一本书', icon: 'none' });
      return Promise.resolve(null);
    }
    if (!this.data.memberId) {
      wx.showToast({ title: '请选择是谁写的', icon: 'none' });
      return Promise.resolve(null);
    }
    this.setData({ busy: true, error: '' });
    return api.post('/mp/v1/reviews', {
      member_id: this.data.memberId, title_id: this.data.book.title_id, rating: this.data.rating, text: (this.data.text || '').trim(),
    }).then((review) => {
      this.setData({ busy: false, submitted: review, text: '', book: null });
      wx.showModal({
        title: '书评已提交', content: '谢谢你的分享！书屋管理员审核后，书评会显示在这本书的页面上。',
        showCancel: false, confirmText: '知道了',
      });
      return this.loadMine().then(() => review);
    }).catch((err) => { kindly(this, err); return null; });
  },
});
