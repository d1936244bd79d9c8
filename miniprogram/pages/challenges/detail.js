// One reading challenge: join (choose who joins and their school/class team), my progress and
// badges, 记录阅读 for one or several children at once, links to the board and reviews.
// A milestone reached offers 提醒我 — the subscribe prompt happens only on that tap.
// Every handler returns its promise (tests await them).

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');
const format = require('../../utils/format');
const subscribe = require('../../utils/subscribe');


// The server's own Chinese detail names the cap or the rule ("每次最多记录 5 本"); prefer it
// to the generic table text for these codes.



Page({
  data: {
    id: '',
    loading: true,
    busy: false,
    error: '',
    logError: '',
    challenge: null,
    unitLabel: '',
    family: [],           // FamilyEntry + school/class for the join form
    joinable: [],
    joined: [],           // MemberOut-like {id, name, relation} of joined members (child-switcher)
    currentId: '',
    progress: null,
    join: { selected: {} },
    log: { selected: {}, book_title: '', amount: '', read_on: format.today() },
    today: format.today(),
    logStart: '',
    logEnd: '',
    newBadges: [],
    milestoneReached: false,
    reminded: false,
  },

  onLoad(query) {
    this.setData({ id: (query && query.id) || '' });
    subscribe.prefetch(); // template ids only, so 提醒我 can prompt at once; never prompts here
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh && wx.stopPullDownRefresh());
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return Promise.all([api.get('/mp/v1/me'), api.get('/mp/v1/challenges')])
      .then(([me, list]) => {
        store.setMe(me);
        const c = (list.items || []).find((x) => x.id === this.data.id);
        if (!c) {
          this.setData({ loading: false, error: '没有找到这个阅读活动，可能已经结束了' });
          return null;
        }
        const byId = {};
        (me.members || []).forEach((m) => { byId[m.id] = m; });
        const family = (c.family || []).map((f) => {
          const m = byId[f.member_id] || {};
          return Object.assign({}, f, {
            school: m.school || '', class_name: m.class_name || '', relation: m.relation || 'child',
            stateText: f.joined ? `已参加（${f.age_group || ''}，累计 ${f.total} ${c.unit_label}）`
              : (f.can_join ? `可以参加（${f.age_group || ''}）` : `不能参加：${f.reason || '不符合条件'}`),
          });
        });
        const joined = family.filter((f) => f.joined).map((f) => ({ id: f.member_id, name: f.name, relation: f.relation, status: 'active' }));
        const want = store.getMemberId();
        const current = joined.find((m) => m.id === want) || joined.find((m) => m.relation === 'child') || joined[0] || null;
        const today = format.today();
        const logSelected = {};
        if (current) logSelected[current.id] = true;
        this.setData({
          loading: false,
          challenge: c,
          unitLabel: c.unit_label,
          family,
          joinable: family.filter((f) => !f.joined && f.can_join),
          joined,
          currentId: current ? current.id : '',
          'log.selected': logSelected,
          logStart: c.starts_on,
          logEnd: c.ends_on < today ? c.ends_on : today,
        });
        if (wx.setNavigationBarTitle) wx.setNavigationBarTitle({ title: c.title });
        return current ? this.loadProgress(current.id) : null;
      })
      .catch((err) => { kindly(this, err); });
  },

  loadProgress(memberId) {
    return api.get(`/mp/v1/challenges/${this.data.id}/me`, { member_id: memberId, limit: 20 })
      .then((progress) => {
        this.setData({ progress });
        return progress;
      })
      .catch((err) => { kindly(this, err); return null; });
  },

  // child-switcher: whose progress to show (and the default for the next log).
  onSwitch(e) {
    const id = e.detail.memberId;
    store.setMemberId(id);
    this.setData({ currentId: id });
    return this.loadProgress(id);
  },

  // ---- join -------------------------------------------------------------------------------
  onJoinToggle(e) {
    const id = e.currentTarget.dataset.id;
    this.setData({ [`join.selected.${id}`]: !this.data.join.selected[id] });
  },

  onTeamInput(e) {
    const { index, field } = e.currentTarget.dataset;
    this.setData({ [`joinable[${index}].${field}`]: e.detail.value });
  },

  onJoin() {
    if (this.data.busy) return Promise.resolve(null);
    const chosen = this.data.joinable.filter((f) => this.data.join.selected[f.member_id]);
    if (!chosen.length) {
      wx.showToast({ title: '请先选择要参加的人', icon: 'none' });
      return Promise.resolve(null);
    }
    const me = store.getMe();
    const byId = {};
    store.members(me).forEach((m) => { byId[m.id] = m; });
    this.setData({ busy: true, error: '' });
    // The school and class decide the member's school/class team: save any change first.
    const updates = chosen.filter((f) => {
      const m = byId[f.member_id] || {};
      return (f.school || '') !== (m.school || '') || (f.class_name || '') !== (m.class_name || '');
    }).map((f) => api.patch(`/mp/v1/members/${f.member_id}`, {
      school: f.school ? f.school.trim() : null, class_name: f.class_name ? f.class_name.trim() : null,
    }));
    return Promise.all(updates)
      .then(() => api.post(`/mp/v1/challenges/${this.data.id}/participants`, { member_ids: chosen.map((f) => f.member_id) }))
      .then((out) => {
        this.setData({ busy: false, 'join.selected': {} });
        wx.showToast({ title: '报名成功', icon: 'success' });
        const first = out.participants && out.participants[0];
        if (first && first.member_id) store.setMemberId(first.member_id);
        return this.reload().then(() => out);
      })
      .catch((err) => { kindly(this, err); return null; });
  },

  // ---- log reading ------------------------------------------------------------------------
  onLogToggle(e) {
    const id = e.currentTarget.dataset.id;
    this.setData({ [`log.selected.${id}`]: !this.data.log.selected[id], logError: '' });
  },

  onLogInput(e) {
    const field = e.currentTarget.dataset.field;
    this.setData({ [`log.${field}`]: e.detail.value, logError: '' });
  },

  onLogDate(e) {
    this.setData({ 'log.read_on': e.detail.value, logError: '' });
  },

  onLog() {
    if (this.data.busy) return Promise.resolve(null);
    const log = this.data.log;
    const ids = this.data.joined.map((m) => m.id).filter((id) => log.selected[id]);
    const amount = parseInt(log.amount, 10);
    let problem = '';
    if (!ids.length) problem = '请选择为谁记录';
    else if (!log.book_title || !log.book_title.trim()) problem = '请填写书名';
    else if (!(amount >= 1)) problem = `请填写阅读量（${this.data.unitLabel}）`;
    if (problem) {
      this.setData({ logError: problem });
      wx.showToast({ title: problem, icon: 'none' });
      return Promise.resolve(null);
    }
    this.setData({ busy: true, logError: '' });
    return api.post(`/mp/v1/challenges/${this.data.id}/logs`, {
      member_ids: ids, amount, read_on: log.read_on, book_title: log.book_title.trim(),
    }).then((out) => {
      const names = {};
      this.data.joined.forEach((m) => { names[m.id] = m.name; });
      const newBadges = [];
      (out.entries || []).forEach((en) => {
        (en.new_badges || []).forEach((b) => newBadges.push(`${names[en.member_id] || ''}获得“${b}”`));
      });
      this.setData({
        busy: false,
        'log.book_title': '',
        'log.amount': '',
        lastLog: out,
        newBadges,
        milestoneReached: newBadges.length > 0,
        reminded: false,
      });
      wx.showToast({ title: newBadges.length ? '获得新徽章！' : '已记录', icon: 'success' });
      return this.reload().then(() => out);
    }).catch((err) => { kindly(this, err, 'logError'); return null; });
  },

  // 提醒我: the subscribe prompt, only ever from this tap.
  onRemindMe() {
    return subscribe.askAtTap(['challenge_milestone']).then((result) => {
      this.setData({ reminded: true });
      return result;
    }).catch(() => null);
  },

  onOpenBoard() {
    wx.navigateTo({ url: `/pages/challenges/board?id=${this.data.id}&member=${this.data.currentId || ''}` });
    return Promise.resolve();
  },

  onOpenReviews() {
    wx.navigateTo({ url: `/pages/challenges/reviews?challenge=${this.data.id}` });
    return Promise.resolve();
  },

  onAddChild() {
    wx.navigateTo({ url: '/pages/family/family' });
    return Promise.resolve();
  },
});
