// 隐私与设置: the children's rules, each member's reading-history switch and leaderboard
// visibility, 导出我的数据 (GET /mp/v1/me/export: a summary, copy or save the JSON) and
// 注销账号 (DELETE /mp/v1/me after a strong, two-step confirmation; refused kindly while books
// are on loan). Handlers return their promises (tests await them).

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');
const format = require('../../utils/format');

const PART_LABELS = {
  books: '借阅、预约和荐购', challenges: '阅读活动和书评', contest: '比赛作品', notifications: '消息和订阅',
  room_surveys: '满意度评价', reading_family: '书香之家申报',
};


function ask(title, content, confirmText) {
  return new Promise((resolve) => {
    wx.showModal({
      title, content, confirmText: confirmText || '确定', cancelText: '取消', confirmColor: '#b00020',
      success: (res) => resolve(!!res.confirm), fail: () => resolve(false),
    });
  });
}

// How many records each part of the export holds, for the summary.
function countOf(value) {
  if (Array.isArray(value)) return value.length;
  if (value && typeof value === 'object') {
    return Object.keys(value).reduce((n, k) => n + (Array.isArray(value[k]) ? value[k].length : 0), 0);
  }
  return 0;
}

Page({
  data: {
    loading: true,
    busy: false,
    error: '',
    members: [],
    exportSummary: null,
    exportText: '',
    exportPath: '',
    deleted: false,
  },

  onShow() {
    return this.reload();
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return api.get('/mp/v1/me').then((me) => {
      store.setMe(me);
      this.setData({
        loading: false,
        members: (me.members || []).filter((m) => m.status === 'active').map((m) => ({
          id: m.id, name: m.name, child: m.relation === 'child', history: m.history_enabled, board: m.public_board,
        })),
      });
      return me;
    }).catch((err) => { kindly(this, err); return null; });
  },

  onRules() {
    wx.navigateTo({ url: '/pages/family/consent?view=1' });
    return Promise.resolve();
  },

  // Turning history off unlinks the returned loans from the member (the server forgets them).
  onHistoryChange(e) {
    const id = e.currentTarget.dataset.id;
    const on = !!e.detail.value;
    const member = this.data.members.find((m) => m.id === id);
    const confirmed = on ? Promise.resolve(true)
      : ask('关闭借阅历史？', `关闭后，${member ? member.name : ''}已归还图书的借阅记录将不再保存，以后也不再记录。正在借的书不受影响。`, '关闭');
    return confirmed.then((ok) => {
      if (!ok) { this.reload(); return null; }
      return this.patchMember(id, { history_enabled: on }, on ? '已打开借阅历史' : '已关闭借阅历史');
    });
  },

  // Leaderboards: the switch is "show on boards" (public_board).
  onBoardChange(e) {
    const id = e.currentTarget.dataset.id;
    const show = !!e.detail.value;
    return this.patchMember(id, { public_board: show }, show ? '已在排行榜显示' : '已不在排行榜显示');
  },

  patchMember(id, body, done) {
    this.setData({ busy: true });
    return api.patch(`/mp/v1/members/${id}`, body).then((member) => {
      this.setData({ busy: false });
      wx.showToast({ title: done, icon: 'none' });
      return this.reload().then(() => member);
    }).catch((err) => { kindly(this, err); return this.reload().then(() => null); });
  },

  onExport() {
    this.setData({ busy: true, error: '' });
    if (wx.showLoading) wx.showLoading({ title: '正在导出' });
    return api.get('/mp/v1/me/export').then((out) => {
      if (wx.hideLoading) wx.hideLoading();
      const data = out.data || {};
      const parts = Object.keys(data).map((k) => ({ key: k, label: PART_LABELS[k] || k, count: countOf(data[k]) }));
      const text = JSON.stringify(out, null, 2);
      this.setData({
        busy: false,
        exportSummary: {
          at: format.dateTime(out.exported_at),
          members: (out.members || []).map((m) => m.name).join('、'),
          memberCount: (out.members || []).length,
          parts,
        },
        exportText: text,
      });
      return out;
    }).catch((err) => {
      if (wx.hideLoading) wx.hideLoading();
      kindly(this, err);
      return null;
    });
  },

  onCopyExport() {
    if (!this.data.exportText) return Promise.resolve(false);
    return new Promise((resolve) => {
      wx.setClipboardData({
        data: this.data.exportText,
        success: () => { wx.showToast({ title: '已复制，可粘贴保存', icon: 'none' }); resolve(true); },
        fail: () => resolve(false),
      });
    });
  },

  // Save the JSON in the mini-program's user folder (the path is shown to the reader).
  onSaveExport() {
    if (!this.data.exportText) return Promise.resolve('');
    const dir = (wx.env && wx.env.USER_DATA_PATH) || '';
    const filePath = `${dir}/shuwu-my-data-${format.today()}.json`;
    return new Promise((resolve) => {
      wx.getFileSystemManager().writeFile({
        filePath, data: this.data.exportText, encoding: 'utf8',
        success: () => { this.setData({ exportPath: filePath }); wx.showToast({ title: '已保存到手机', icon: 'success' }); resolve(filePath); },
        fail: () => { wx.showToast({ title: '保存失败，请用“复制”', icon: 'none' }); resolve(''); },
      });
    });
  },

  // 注销账号: two confirmations, then DELETE /mp/v1/me. Books still on loan: the server refuses
  // (409 loans_open) and we say so kindly.
  onDeleteAccount() {
    if (this.data.busy) return Promise.resolve(false);
    return ask('注销账号？', '注销后，您和孩子在小程序里的全部信息（家庭成员、借阅历史、阅读记录、书评、比赛作品、消息）都会被删除，无法恢复。', '继续')
      .then((ok) => ok && ask('再次确认', '确定要注销账号并删除全部信息吗？此操作不能撤销。', '确认注销'))
      .then((ok) => {
        if (!ok) return false;
        this.setData({ busy: true, error: '' });
        return api.del('/mp/v1/me').then((out) => {
          store.clearAll();
          this.setData({ busy: false, deleted: true });
          wx.showModal({
            title: '账号已注销', content: (out && out.detail) || '您的信息已删除。感谢使用农家书屋。',
            showCancel: false, confirmText: '知道了',
            success: () => wx.reLaunch({ url: '/pages/home/home' }),
          });
          return true;
        }).catch((err) => {
          if (err && err.code === 'loans_open') {
            const message = '您家还有没归还的图书，请先到书屋归还，再来注销账号。';
            this.setData({ busy: false, error: message });
            wx.showModal({ title: '暂时不能注销', content: message, showCancel: false, confirmText: '知道了' });
            return false;
          }
          kindly(this, err);
          return false;
        });
      });
  },
});
