// 我的 tab: my profile (fill in or change), my room, the family's notifications, and links to
// family, loans, contest and settings. Handlers return their promises (tests await them).

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');
const format = require('../../utils/format');

const NOTE_STATUS = {
  pending: '⏳ 等待发送',
  sending: '⏳ 正在发送',
  sent: '✓ 已发到微信',
  skipped: 'ⓘ 未订阅微信提醒，只在这里显示',
  failed: '✗ 微信提醒没有发出',
};


Page({
  data: {
    loading: true,
    busy: false,
    error: '',
    fieldErrors: {},
    self: null,
    editing: false,
    form: { name: '', birth_year: '', school: '', class_name: '', home_room: '', home_room_name: '' },
    childCount: 0,
    notifications: [],
    nextCursor: '',
    family: null,          // 书香之家: GET /mp/v1/reading-family
    nominating: false,
    nomination: { family_name: '', statement: '', books_owned: '', reading_minutes_per_week: '', activities_joined_text: '' },
  },

  onShow() {
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh && wx.stopPullDownRefresh());
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return Promise.all([api.get('/mp/v1/me'), api.get('/mp/v1/notifications', { limit: 20 })])
      .then(([me, notes]) => {
        store.setMe(me);
        const self = store.selfMember(me);
        const room = store.getRoom();
        const patch = {
          loading: false,
          self,
          childCount: store.children(me).filter((c) => c.status === 'active').length,
          notifications: (notes.items || []).map((n) => ({
            id: n.id, title: n.title, when: format.dateTime(n.created_at), statusText: NOTE_STATUS[n.status] || n.status,
          })),
          nextCursor: notes.next_cursor || '',
        };
        if (this.data.choosingRoom && room) {
          // Back from pages/rooms/choose: the room chosen there.
          patch.choosingRoom = false;
          patch['form.home_room'] = room.code;
          patch['form.home_room_name'] = room.name;
        } else if (!self) {
          patch.editing = true;
          patch.form = Object.assign({}, this.data.form, {
            home_room: this.data.form.home_room || (room ? room.code : ''),
            home_room_name: this.data.form.home_room_name || (room ? room.name : ''),
          });
        }
        this.setData(patch);
        // Optional section: loadReadingFamily never rejects, so it cannot break the page.
        return this.loadReadingFamily().then(() => me);
      })
      .catch((err) => { kindly(this, err); return null; });
  },

  // ---- 书香之家 (reading family) self-nomination -------------------------------------------
  loadReadingFamily() {
    return api.get('/mp/v1/reading-family')
      .then((family) => { this.setData({ family }); return family; })
      .catch(() => { this.setData({ family: null }); return null; });
  },

  onStartNomination() {
    this.setData({ nominating: !this.data.nominating });
    return Promise.resolve();
  },

  onNominationInput(e) {
    const field = e.currentTarget.dataset.field;
    this.setData({ [`nomination.${field}`]: e.detail.value });
  },

  onNominate() {
    if (this.data.busy) return Promise.resolve(null);
    const n = this.data.nomination;
    const books = parseInt(n.books_owned, 10);
    const minutes = parseInt(n.reading_minutes_per_week, 10);
    let problem = '';
    if (!n.family_name || n.family_name.trim().length < 2) problem = '请填写家庭名称（至少 2 个字）';
    else if (!n.statement || !n.statement.trim()) problem = '请介绍一下您家的读书情况';
    else if (!(books >= 0)) problem = '请填写家里的藏书数量';
    else if (!(minutes >= 0)) problem = '请填写每周的阅读时间（分钟）';
    if (problem) {
      this.setData({ error: problem });
      wx.showToast({ title: problem, icon: 'none' });
      return Promise.resolve(null);
    }
    this.setData({ busy: true, error: '' });
    return api.post('/mp/v1/reading-family/entries', {
      family_name: n.family_name.trim(), statement: n.statement.trim(), books_owned: books,
      reading_minutes_per_week: minutes, activities_joined_text: (n.activities_joined_text || '').trim(),
    }).then((entry) => {
      this.setData({ busy: false, nominating: false });
      wx.showToast({ title: '已提交申报', icon: 'success' });
      return this.loadReadingFamily().then(() => entry);
    }).catch((err) => { kindly(this, err); return null; });
  },

  onWithdrawNomination() {
    return new Promise((resolve) => {
      wx.showModal({
        title: '撤回书香之家申报？', content: '撤回后本次评选不再考虑您家，申报期内可以重新申报。',
        confirmText: '撤回', cancelText: '不撤回', success: (res) => resolve(!!res.confirm), fail: () => resolve(false),
      });
    }).then((ok) => {
      if (!ok) return null;
      return api.post('/mp/v1/reading-family/entries/withdraw', {})
        .then((entry) => { wx.showToast({ title: '已撤回', icon: 'none' }); return this.loadReadingFamily().then(() => entry); })
        .catch((err) => { kindly(this, err); return null; });
    });
  },

  onEdit() {
    const s = this.data.self || {};
    const room = store.getRoom();
    this.setData({
      editing: true,
      form: {
        name: s.name || '', birth_year: s.birth_year ? String(s.birth_year) : '', school: s.school || '',
        class_name: s.class_name || '',
        home_room: s.home_room || (room ? room.code : ''), home_room_name: s.home_room_name || (room ? room.name : ''),
      },
    });
    return Promise.resolve();
  },

  onCancelEdit() {
    this.setData({ editing: !this.data.self, error: '', fieldErrors: {} });
    return Promise.resolve();
  },

  onInput(e) {
    const field = e.currentTarget.dataset.field;
    this.setData({ [`form.${field}`]: e.detail.value, [`fieldErrors.${field}`]: '' });
  },

  // My room comes from the room QR or the choose page (store.getRoom()).
  onChooseRoom() {
    this.setData({ choosingRoom: true });
    wx.navigateTo({ url: '/pages/rooms/choose' });
    return Promise.resolve();
  },

  onSaveProfile() {
    if (this.data.busy) return Promise.resolve(null);
    const f = this.data.form;
    const room = store.getRoom();
    const homeRoom = f.home_room || (room ? room.code : '');
    const year = parseInt(f.birth_year, 10);
    let problem = '';
    if (!f.name || !f.name.trim()) problem = '请填写您的姓名';
    else if (!(year >= 1900 && year <= 2100)) problem = '请填写出生年份，如 1980';
    else if (!homeRoom) problem = '请先选择您常去的书屋';
    if (problem) {
      this.setData({ error: problem });
      wx.showToast({ title: problem, icon: 'none' });
      return Promise.resolve(null);
    }
    this.setData({ busy: true, error: '' });
    const optional = (v) => (v && v.trim() ? v.trim() : null);
    return api.put('/mp/v1/me/profile', {
      name: f.name.trim(), birth_year: year, home_room: homeRoom, school: optional(f.school), class_name: optional(f.class_name),
    }).then((member) => {
      this.setData({ busy: false, editing: false, self: member });
      wx.showToast({ title: '已保存', icon: 'success' });
      return this.reload().then(() => member);
    }).catch((err) => { kindly(this, err); return null; });
  },

  onMoreNotifications() {
    if (!this.data.nextCursor) return Promise.resolve([]);
    return api.get('/mp/v1/notifications', { limit: 20, cursor: this.data.nextCursor }).then((notes) => {
      const more = (notes.items || []).map((n) => ({
        id: n.id, title: n.title, when: format.dateTime(n.created_at), statusText: NOTE_STATUS[n.status] || n.status,
      }));
      this.setData({ notifications: this.data.notifications.concat(more), nextCursor: notes.next_cursor || '' });
      return more;
    }).catch((err) => { kindly(this, err); return []; });
  },

  onGo(e) {
    const url = e.currentTarget.dataset.url;
    if (e.currentTarget.dataset.tab) wx.switchTab({ url });
    else wx.navigateTo({ url });
    return Promise.resolve(url);
  },
});
