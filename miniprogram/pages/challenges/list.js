// 活动 tab: the open reading challenges (with my family's standing) and the contest
// 我的书屋·我的梦. Every handler returns its promise (tests await them).

const api = require('../../utils/request');

const UNIT_TEXT = { books: '读书本数', minutes: '阅读分钟', pages: '阅读页数' };

function challengeView(c) {
  const joined = (c.family || []).filter((f) => f.joined);
  return {
    id: c.id,
    title: c.title,
    description: c.description,
    dates: `${c.starts_on} 至 ${c.ends_on}`,
    unitText: `记录${UNIT_TEXT[c.unit] || c.unit_label}`,
    ageText: (c.age_groups || []).map((g) => g.name).join('、'),
    joinedText: joined.length ? '已参加：' + joined.map((f) => `${f.name}（${f.total} ${c.unit_label}）`).join('、') : '我家还没有参加',
    joined: joined.length > 0,
    hasDraw: c.has_draw,
  };
}

function contestView(c) {
  return {
    id: c.id,
    title: c.title,
    year: c.year,
    dates: `${c.opens_on} 至 ${c.closes_on}`,
    statusText: c.status_label,
    open: !!c.accepting_entries,
  };
}

Page({
  data: {
    loading: true,
    error: '',
    challenges: [],
    contests: [],
  },

  onShow() {
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh && wx.stopPullDownRefresh());
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return Promise.all([api.get('/mp/v1/challenges'), api.get('/mp/v1/contests')])
      .then(([challenges, contests]) => {
        this.setData({
          loading: false,
          challenges: (challenges.items || []).filter((c) => c.status === 'published').map(challengeView),
          contests: (contests.items || []).filter((c) => c.status !== 'draft').map(contestView),
        });
      })
      .catch((err) => {
        const message = (err && err.message) || '活动没有加载出来，请稍后再试';
        this.setData({ loading: false, error: message });
        api.showError(err);
      });
  },

  onOpenChallenge(e) {
    wx.navigateTo({ url: `/pages/challenges/detail?id=${e.currentTarget.dataset.id}` });
    return Promise.resolve();
  },

  onOpenContest(e) {
    wx.navigateTo({ url: `/pages/contest/contest?id=${e.currentTarget.dataset.id}` });
    return Promise.resolve();
  },
});
