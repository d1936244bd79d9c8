// 荐购: ask the library to buy a book. One op_id per submission (kept while the form is
// unchanged, so tapping again after a network failure does not suggest twice); a duplicate
// is merged into the earlier suggestion; a book already in the catalogue is found instead.
const api = require('../../utils/request');
const store = require('../../utils/store');
const opid = require('../../utils/opid');
const shared = require('../home/shared');

const FIELDS = ['title', 'author', 'isbn', 'note'];

Page({
  data: {
    title: '',
    author: '',
    isbn: '',
    note: '',
    member: null,
    submitting: false,
    result: null, // {message, merged, status, supporters}
    inCatalog: '', // the already_in_catalog message
    fieldErrors: {},
    error: '',
  },

  onLoad(options) {
    const o = options || {};
    const patch = {};
    FIELDS.forEach((f) => { if (o[f]) patch[f] = decodeURIComponent(o[f]); });
    this.setData(patch);
    return this.loadMember();
  },

  async loadMember() {
    let me = store.getMe();
    try { me = await shared.loadMe(); } catch (err) { /* shown at submit */ }
    const member = store.currentMember(me);
    this.setData({ member: member ? { id: member.id, name: member.name } : null });
    return member;
  },

  /** bindinput for every field: data-field names it. */
  onField(e) {
    const field = e.currentTarget.dataset.field;
    if (FIELDS.indexOf(field) < 0) return;
    this.opId = null; // a changed form is a new suggestion
    this.setData({ [field]: e.detail.value || '', [`fieldErrors.${field}`]: '' });
  },

  /** Submit. Resolves with the server's answer, or null. */
  async submit() {
    const title = this.data.title.trim();
    if (!title) {
      this.setData({ 'fieldErrors.title': '请填写书名' });
      wx.showToast({ title: '请填写书名', icon: 'none' });
      return null;
    }
    if (!this.data.member) {
      wx.showModal({ title: '提示', content: '请先选择您的书屋并填写本人信息，再来荐购', showCancel: false, confirmText: '知道了' });
      return null;
    }
    if (!this.opId) this.opId = opid.newOpId();
    const body = { op_id: this.opId, member_id: this.data.member.id, title };
    ['author', 'isbn', 'note'].forEach((f) => {
      const v = this.data[f].trim();
      if (v) body[f] = v;
    });
    this.setData({ submitting: true, error: '', inCatalog: '', fieldErrors: {} });
    try {
      const out = await api.post('/mp/v1/suggestions', body);
      this.opId = null;
      const s = out.suggestion;
      this.setData({
        submitting: false,
        result: {
          message: out.message || (out.merged ? '已有读者推荐过这本书，已记上您的一票' : '荐购已提交'),
          merged: !!out.merged,
          status: s.status,
          statusLabel: s.status_label,
          supporters: s.supporters,
          title: s.title,
        },
      });
      return out;
    } catch (err) {
      // The server answered no: the next tap is a new attempt. No answer (offline, timeout,
      // 5xx): keep the op_id so a second tap cannot suggest the book twice.
      if (err.status >= 400 && err.status < 500) this.opId = null;
      const fieldErrors = {};
      (err.fields || []).forEach((f) => {
        const name = f.loc[f.loc.length - 1];
        if (f.loc[0] === 'body' && FIELDS.indexOf(name) >= 0) fieldErrors[name] = f.msg;
      });
      if (err.code === 'already_in_catalog') {
        this.setData({ submitting: false, inCatalog: err.detail || err.message, fieldErrors: {} });
      } else {
        this.setData({ submitting: false, error: err.message, fieldErrors });
        shared.toastError(err);
      }
      return null;
    }
  },

  /** The library has it: look it up in search. */
  findIt() {
    wx.navigateTo({ url: `/pages/search/search?q=${encodeURIComponent(this.data.isbn.trim() || this.data.title.trim())}` });
  },

  another() {
    this.opId = null;
    this.setData({ title: '', author: '', isbn: '', note: '', result: null, inCatalog: '', error: '' });
  },

  openList() {
    wx.navigateTo({ url: '/pages/loans/loans?tab=suggestions' });
  },
});
