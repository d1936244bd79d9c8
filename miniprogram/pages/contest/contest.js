// 我的书屋·我的梦: the edition (open, or the latest), my family's entries with their status,
// the result and 下载证书 (PDF opened in WeChat's viewer); pictures still to upload.
// Handlers return their promises (tests await them).

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const { choosePicture, MAX_PICTURE_BYTES } = require('./picture');

const AWARD_ICON = { first: '🥇', second: '🥈', third: '🥉', excellent: '🎖', none: '' };
const STATUS_ICON = { submitted: '✓', in_review: '⏳', rejected: '✗' };


function entryView(e) {
  const result = e.result || null;
  return {
    id: e.id,
    title: e.title,
    author: e.member_name,
    category: e.category,
    group: e.group,
    date: String(e.submitted_at).slice(0, 10),
    statusText: `${STATUS_ICON[e.status] || ''} ${e.status_label}`,
    rejection: e.rejection_reason || '',
    needsImage: !!(e.needs_image && !e.image),
    hasImage: !!e.image,
    resultText: result ? `${AWARD_ICON[result.award] || ''} ${result.award_label}${result.recommended ? '（已推荐参加上一级评选）' : ''}` : '',
    certificate: !!(result && result.certificate_available),
  };
}

Page({
  data: {
    loading: true,
    busy: false,
    error: '',
    contest: null,
    contests: [],
    entries: [],
  },

  onLoad(query) {
    this.setData({ wantedId: (query && query.id) || '' });
  },

  onShow() {
    return this.reload();
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return api.get('/mp/v1/contests').then((list) => {
      const items = (list.items || []).filter((c) => c.status !== 'draft');
      const found = items.find((c) => c.id === this.data.wantedId)
        || items.find((c) => c.accepting_entries) || items[0] || null;
      const contest = found ? Object.assign({}, found, { categoriesText: (found.categories || []).join('、') }) : null;
      this.setData({ contests: items, contest });
      if (!contest) { this.setData({ loading: false, entries: [] }); return []; }
      return api.get(`/mp/v1/contests/${contest.id}/entries`).then((page) => {
        const entries = (page.items || []).map(entryView);
        this.setData({ loading: false, entries });
        return entries;
      });
    }).catch((err) => { kindly(this, err); return []; });
  },

  onEnter() {
    if (!this.data.contest) return Promise.resolve();
    wx.navigateTo({ url: `/pages/contest/enter?contest=${this.data.contest.id}` });
    return Promise.resolve();
  },

  // 下载证书: download with the session and open in WeChat's document viewer.
  onCertificate(e) {
    const id = e.currentTarget.dataset.id;
    this.setData({ busy: true });
    if (wx.showLoading) wx.showLoading({ title: '正在下载证书' });
    return api.openPdf(`/mp/v1/contests/${this.data.contest.id}/entries/${id}/certificate.pdf`)
      .then((filePath) => {
        if (wx.hideLoading) wx.hideLoading();
        this.setData({ busy: false });
        return filePath;
      })
      .catch((err) => {
        if (wx.hideLoading) wx.hideLoading();
        kindly(this, err);
        return null;
      });
  },

  // A picture entry still waiting for its picture.
  onUpload(e) {
    const id = e.currentTarget.dataset.id;
    const refuse = (message) => wx.showToast({ title: message, icon: 'none' });
    return choosePicture({ maxBytes: (this.data.contest && this.data.contest.image_max_bytes) || MAX_PICTURE_BYTES, refuse }).then((file) => {
      if (!file) return null;
      this.setData({ busy: true });
      return api.upload(`/mp/v1/contests/${this.data.contest.id}/entries/${id}/image`, file.tempFilePath)
        .then((entry) => {
          this.setData({ busy: false });
          wx.showToast({ title: '图片已上传', icon: 'success' });
          return this.reload().then(() => entry);
        });
    }).catch((err) => { kindly(this, err); return null; });
  },

  onWithdraw(e) {
    const id = e.currentTarget.dataset.id;
    return new Promise((resolve) => {
      wx.showModal({
        title: '撤回这件作品？', content: '撤回后作品不再参加评选，征集期内可以重新投稿。',
        confirmText: '撤回', cancelText: '不撤回', success: (res) => resolve(!!res.confirm), fail: () => resolve(false),
      });
    }).then((ok) => {
      if (!ok) return false;
      return api.del(`/mp/v1/contests/${this.data.contest.id}/entries/${id}`)
        .then(() => { wx.showToast({ title: '已撤回', icon: 'none' }); return this.reload().then(() => true); })
        .catch((err) => { kindly(this, err); return false; });
    });
  },
});
