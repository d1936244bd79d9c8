// 我的借阅: tabs 在借 (due dates, overdue in words, 续借 with the rule's answer), 预约 (status,
// 取消), 荐购 (status), 阅读记录 (returned loans while history is on, and the switch
// 保存阅读记录). 到期提醒 asks for the subscribe consent at the tap.
const api = require('../../utils/request');
const store = require('../../utils/store');
const subscribe = require('../../utils/subscribe');
const shared = require('../home/shared');

const TABS = [
  { key: 'loans', label: '在借' },
  { key: 'holds', label: '预约' },
  { key: 'suggestions', label: '荐购' },
  { key: 'history', label: '阅读记录' },
];

function loanRow(l) {
  const days = l.returned_at ? null : shared.daysUntil(l.due_at);
  let status = 'on_loan';
  if (l.returned_at) status = 'returned';
  else if (l.overdue) status = 'overdue';
  else if (days !== null && days <= 3) status = 'due_soon';
  return {
    id: l.id,
    titleId: l.title_id,
    title: l.title || l.title_id,
    room: l.room_name || l.room,
    lent: shared.dateText(l.lent_at),
    due: shared.dateText(l.due_at),
    dueText: l.returned_at ? '' : shared.dueText(l),
    returned: l.returned_at ? shared.dateText(l.returned_at) : '',
    status,
    renewals: l.renewals,
    canRenew: l.can_renew === true,
    refusal: l.renew_refusal ? l.renew_refusal.message : '',
  };
}

function holdRow(h) {
  return {
    id: h.id,
    titleId: h.title_id,
    title: h.title || h.title_id,
    member: h.member_name || '',
    pickup: h.pickup_room_name || h.pickup_room,
    status: h.status,
    statusLabel: h.status_label,
    placed: shared.dateText(h.placed_at),
    expires: h.status === 'ready' && h.expires_at ? shared.dateText(h.expires_at) : '',
    canCancel: h.status === 'waiting' || h.status === 'ready',
  };
}

function suggestionRow(s) {
  return {
    id: s.id,
    title: s.title,
    author: s.author || '',
    status: s.status,
    statusLabel: s.status_label,
    reason: s.reason_label || '',
    supporters: s.supporters,
    titleId: s.status === 'fulfilled' ? s.title_id || '' : '',
    updated: shared.dateText(s.updated_at),
  };
}

Page({
  data: {
    tabs: TABS,
    tab: 'loans',
    loading: false,
    error: '',
    members: [],
    memberId: '',
    memberName: '',
    hasCard: true,
    historyEnabled: true,
    loans: [],
    holds: [],
    suggestions: [],
    history: [],
    busy: '', // id of the row being renewed or cancelled
    savingHistory: false,
    reminder: '',
  },

  onLoad(options) {
    const tab = options && options.tab;
    if (TABS.some((t) => t.key === tab)) this.setData({ tab });
    subscribe.prefetch(); // template ids for 到期提醒 (the prompt itself waits for a tap)
    return Promise.resolve();
  },

  onShow() {
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh());
  },

  /** Who the page is for, then the current tab's list. */
  async reload() {
    this.setData({ loading: true, error: '' });
    const me = await shared.meOrError(this);
    if (!me) return null;
    const member = store.currentMember(me);
    this.setData({
      members: store.members(me).filter((m) => m.status === 'active'),
      memberId: member ? member.id : '',
      memberName: member ? member.name : '',
      historyEnabled: member ? member.history_enabled !== false : true,
    });
    if (!member) {
      this.setData({ loading: false, error: '请先选择书屋并填写本人信息' });
      return null;
    }
    return this.loadTab(this.data.tab);
  },

  async loadTab(tab) {
    const memberId = this.data.memberId;
    this.setData({ loading: true, error: '' });
    try {
      if (tab === 'loans' || tab === 'history') {
        const page = await api.get('/mp/v1/loans', { member_id: memberId, status: tab === 'loans' ? 'open' : 'history', limit: 100 });
        this.setData({
          loading: false,
          hasCard: page.has_card,
          historyEnabled: page.history_enabled,
          [tab]: page.items.map(loanRow),
        });
      } else if (tab === 'holds') {
        const page = await api.get('/mp/v1/holds', { status: 'all', limit: 100 });
        this.setData({ loading: false, holds: page.items.map(holdRow) });
      } else {
        const page = await api.get('/mp/v1/suggestions', { limit: 100 });
        this.setData({ loading: false, suggestions: page.items.map(suggestionRow) });
      }
      return this.data[tab];
    } catch (err) {
      this.setData({ loading: false, error: err.message });
      return null;
    }
  },

  switchTab(e) {
    const tab = e.currentTarget.dataset.tab;
    if (!TABS.some((t) => t.key === tab)) return Promise.resolve(null);
    this.setData({ tab });
    return this.loadTab(tab);
  },

  onMember(e) {
    const id = (e.detail && e.detail.memberId) || e.currentTarget.dataset.id;
    if (!id) return Promise.resolve(null);
    store.setMemberId(id);
    return this.reload();
  },

  /** 续借. Resolves with the server's answer or null. */
  async renew(e) {
    const id = e.currentTarget.dataset.id;
    if (this.data.busy) return null;
    this.setData({ busy: id });
    try {
      const out = await api.post(`/mp/v1/loans/${encodeURIComponent(id)}/renew`, {}, { opId: true });
      this.setData({ busy: '' });
      wx.showModal({ title: '续借成功', content: out.message || `新的还书日期：${shared.dateText(out.loan.due_at)}`, showCancel: false, confirmText: '好的' });
      await this.loadTab('loans');
      return out;
    } catch (err) {
      this.setData({ busy: '' });
      // The rule's answer, kindly (e.g. someone is waiting for this book).
      wx.showModal({ title: '暂时不能续借', content: err.message, showCancel: false, confirmText: '知道了' });
      return null;
    }
  },

  /** 取消 a hold, after a confirmation. Resolves with the answer or null. */
  cancelHold(e) {
    const id = e.currentTarget.dataset.id;
    const title = e.currentTarget.dataset.title || '这本书';
    return new Promise((resolve) => {
      wx.showModal({
        title: '取消预约',
        content: `确定不再预约《${title}》了吗？`,
        confirmText: '取消预约',
        cancelText: '再想想',
        success: (res) => resolve(!!res.confirm),
        fail: () => resolve(false),
      });
    }).then((ok) => (ok ? this.doCancel(id) : null));
  },

  async doCancel(id) {
    this.setData({ busy: id });
    try {
      const out = await api.post(`/mp/v1/holds/${encodeURIComponent(id)}/cancel`, {}, { opId: true });
      this.setData({ busy: '' });
      wx.showToast({ title: '已取消预约', icon: 'success' });
      await this.loadTab('holds');
      return out;
    } catch (err) {
      this.setData({ busy: '' });
      shared.toastError(err);
      return null;
    }
  },

  /** 保存阅读记录 switch. Turning it off is confirmed first: it cannot be undone. */
  onHistorySwitch(e) {
    const enabled = !!e.detail.value;
    if (enabled) return this.saveHistory(true);
    return new Promise((resolve) => {
      wx.showModal({
        title: '关闭阅读记录',
        content: '关闭后，已经归还的书不再和您关联，以前的阅读记录会被删除、不能恢复；以后归还的书也不再记录。正在借的书不受影响。确定关闭吗？',
        confirmText: '关闭',
        cancelText: '不关闭',
        success: (res) => resolve(!!res.confirm),
        fail: () => resolve(false),
      });
    }).then((ok) => {
      if (ok) return this.saveHistory(false);
      this.setData({ historyEnabled: true }); // put the switch back
      return null;
    });
  },

  async saveHistory(enabled) {
    this.setData({ savingHistory: true });
    try {
      const member = await api.patch(`/mp/v1/members/${encodeURIComponent(this.data.memberId)}`, { history_enabled: enabled });
      this.setData({ savingHistory: false, historyEnabled: member.history_enabled });
      wx.showToast({ title: enabled ? '已开启阅读记录' : '已关闭阅读记录', icon: 'success' });
      try { await shared.loadMe(); } catch (err) { /* shown already */ }
      await this.loadTab('history');
      return member;
    } catch (err) {
      this.setData({ savingHistory: false, historyEnabled: !enabled });
      shared.toastError(err);
      return null;
    }
  },

  /** 到期提醒: the subscribe prompt comes FIRST in the tap (WeChat's rule). */
  remindMe() {
    return subscribe.askAtTap(['due_tomorrow', 'overdue']).then((out) => {
      const accepted = out && out.results && Object.keys(out.results).some((k) => out.results[k] === 'accept');
      const reminder = accepted ? '✓ 好的，到期前一天和逾期时会用微信提醒您（每次同意提醒一次）' : '没有开启微信提醒，您可以随时在这里查看还书日期';
      this.setData({ reminder });
      return out;
    });
  },

  openTitle(e) {
    const id = e.currentTarget.dataset.id;
    if (id) wx.navigateTo({ url: `/pages/title/title?id=${encodeURIComponent(id)}` });
  },

  openCard() {
    wx.switchTab({ url: '/pages/card/card' });
  },

  openSuggest() {
    wx.navigateTo({ url: '/pages/suggest/suggest' });
  },
});

module.exports = { loanRow, holdRow, suggestionRow };
