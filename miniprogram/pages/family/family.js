// 我的家庭: the account holder and the children, their cards and challenges; add a child
// (consent first), switch the child the app acts for, withdraw consent for a child.
// Every handler returns its promise so tests (test/support/page-runner.js) can await it.

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');


function memberView(m, joinedBy) {
  const child = m.relation === 'child';
  const withdrawn = m.status === 'withdrawn';
  return {
    id: m.id,
    name: m.name,
    child,
    roleText: child ? `孩子（${m.guardian_relation ? '我是' + m.guardian_relation : '监护人添加'}）` : '我本人',
    birthYear: m.birth_year,
    school: [m.school, m.class_name].filter(Boolean).join(' '),
    roomName: m.home_room_name || m.home_room,
    cardText: m.card_no ? `借阅证 ${m.card_no}` : '还没有借阅证',
    hasCard: !!m.card_no,
    withdrawn,
    statusText: withdrawn
      ? `已撤回同意${m.erase_after ? '，信息将于 ' + String(m.erase_after).slice(0, 10) + ' 前删除' : ''}`
      : '正常',
    consentText: child && m.consent ? `已同意规则（版本 ${m.consent.version}，${String(m.consent.signed_at).slice(0, 10)}）` : '',
    challenges: joinedBy[m.id] || [],
    challengesText: (joinedBy[m.id] || []).length ? '参加的活动：' + joinedBy[m.id].join('、') : '还没有参加阅读活动',
  };
}

Page({
  data: {
    loading: true,
    error: '',
    hasSelf: false,
    members: [],        // raw MemberOut, for the child-switcher
    views: [],          // what the page lists
    currentId: '',
    busy: false,
  },

  onShow() {
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh && wx.stopPullDownRefresh());
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return Promise.all([
      api.get('/mp/v1/me'),
      // The challenge list says, per family member, whether they joined: the family page shows it.
      api.get('/mp/v1/challenges').catch(() => ({ items: [] })),
    ]).then(([me, challenges]) => {
      store.setMe(me);
      const joinedBy = {};
      (challenges.items || []).forEach((c) => {
        (c.family || []).forEach((f) => {
          if (f.joined) (joinedBy[f.member_id] = joinedBy[f.member_id] || []).push(c.title);
        });
      });
      const members = me.members || [];
      const current = store.currentMember(me);
      this.setData({
        loading: false,
        hasSelf: !!store.selfMember(me),
        members,
        views: members.map((m) => memberView(m, joinedBy)),
        currentId: current ? current.id : '',
      });
      return me;
    }).catch((err) => { kindly(this, err); });
  },

  // child-switcher "change": act for this member from now on (the challenge pages read it).
  onSwitch(e) {
    const id = e.detail.memberId;
    store.setMemberId(id);
    this.setData({ currentId: id });
    const member = (this.data.members || []).find((m) => m.id === id);
    if (member) wx.showToast({ title: `已切换到${member.name}`, icon: 'none' });
    return Promise.resolve(id);
  },

  onAddChild() {
    if (!this.data.hasSelf) {
      wx.showModal({
        title: '请先填写您本人的信息',
        content: '添加孩子前，需要先在“我的”页面填写监护人（您本人）的信息。',
        confirmText: '去填写',
        cancelText: '以后再说',
        success: (res) => { if (res.confirm) wx.switchTab({ url: '/pages/me/me' }); },
      });
      return Promise.resolve(false);
    }
    // The guardian reads and agrees to the children's rules before any child data is typed.
    wx.navigateTo({ url: '/pages/family/consent' });
    return Promise.resolve(true);
  },

  onEditChild(e) {
    wx.navigateTo({ url: `/pages/family/child?id=${e.currentTarget.dataset.id}` });
    return Promise.resolve();
  },

  onGetCard() {
    wx.switchTab({ url: '/pages/card/card' });
    return Promise.resolve();
  },

  // Ask first, explaining every consequence; only a confirmed tap withdraws.
  onWithdraw(e) {
    const id = e.currentTarget.dataset.id;
    const member = (this.data.members || []).find((m) => m.id === id);
    if (!member) return Promise.resolve(false);
    return new Promise((resolve) => {
      wx.showModal({
        title: `撤回对${member.name}的同意？`,
        content: '撤回后：不再记录孩子的任何新信息；孩子从所有排行榜上消失；孩子的借阅证暂停使用；孩子的信息将在 30 天内删除。此操作不能撤销。',
        confirmText: '确认撤回',
        confirmColor: '#b00020',
        cancelText: '再想想',
        success: (res) => resolve(!!res.confirm),
        fail: () => resolve(false),
      });
    }).then((confirmed) => {
      if (!confirmed) return false;
      this.setData({ busy: true });
      return api.post(`/mp/v1/members/${id}/consent/withdraw`, { reason: '' })
        .then(() => {
          if (store.getMemberId() === id) store.setMemberId('');
          wx.showToast({ title: '已撤回同意', icon: 'success' });
          this.setData({ busy: false });
          return this.reload().then(() => true);
        })
        .catch((err) => { kindly(this, err); return false; });
    });
  },
});
