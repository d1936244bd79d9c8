// 添加/修改孩子: reached only after 同意 on the consent page (?consent=<version>), or with
// ?id=<member> to edit a child. The new child is posted together with the consent version
// shown, with an op_id so a retried tap never adds the child twice.

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');
const format = require('../../utils/format');

const RELATIONS = ['父亲', '母亲', '祖父', '祖母', '外祖父', '外祖母', '其他监护人'];



Page({
  data: {
    mode: 'add',          // add | edit
    consentVersion: '',
    memberId: '',
    loading: false,
    busy: false,
    error: '',
    fieldErrors: {},
    relations: RELATIONS,
    relationIndex: 1,
    today: format.today(),
    rooms: [],
    roomLabels: [],
    form: { name: '', birth_date: '', school: '', class_name: '', home_room: '', home_room_name: '' },
  },

  onLoad(query) {
    query = query || {};
    if (query.id) {
      this.setData({ mode: 'edit', memberId: query.id });
      if (wx.setNavigationBarTitle) wx.setNavigationBarTitle({ title: '修改孩子信息' });
      return Promise.all([this.loadChild(query.id), this.loadRooms()]);
    }
    if (!query.consent) {
      // No consent yet: the rules come first.
      wx.redirectTo({ url: '/pages/family/consent' });
      return Promise.resolve();
    }
    const me = store.getMe();
    const self = store.selfMember(me);
    const room = store.getRoom();
    this.setData({
      consentVersion: decodeURIComponent(query.consent),
      'form.home_room': (self && self.home_room) || (room && room.code) || '',
      'form.home_room_name': (self && (self.home_room_name || self.home_room)) || (room && room.name) || '',
    });
    return this.loadRooms();
  },

  // The rooms to choose from (public list, nearest-first is the choose page's job; here by town).
  loadRooms() {
    return api.get('/mp/v1/rooms', { limit: 200 }, { auth: false })
      .then((list) => {
        const rooms = (list.items || []).map((r) => ({ code: r.code, name: r.name, label: `${r.town_name || r.town} · ${r.name}` }));
        this.setData({ rooms, roomLabels: rooms.map((r) => r.label) });
        return rooms;
      })
      .catch(() => []); // the page still works with the guardian's own room
  },

  loadChild(id) {
    this.setData({ loading: true });
    return api.get('/mp/v1/me').then((me) => {
      store.setMe(me);
      const m = (me.members || []).find((x) => x.id === id);
      if (!m) throw { message: '没有找到这位家庭成员' };
      this.setData({
        loading: false,
        form: {
          name: m.name, birth_date: m.birth_date || String(m.birth_year), school: m.school || '',
          class_name: m.class_name || '', home_room: m.home_room, home_room_name: m.home_room_name || m.home_room,
        },
      });
    }).catch((err) => { kindly(this, err); });
  },

  onInput(e) {
    const field = e.currentTarget.dataset.field;
    this.setData({ [`form.${field}`]: e.detail.value, [`fieldErrors.${field}`]: '' });
  },

  onBirthDate(e) {
    this.setData({ 'form.birth_date': e.detail.value, 'fieldErrors.birth_date': '', 'fieldErrors.birth_year': '' });
  },

  onRelation(e) {
    this.setData({ relationIndex: Number(e.detail.value) });
  },

  onPickRoom(e) {
    const room = (this.data.rooms || [])[Number(e.detail.value)];
    if (room) this.setData({ 'form.home_room': room.code, 'form.home_room_name': room.name, 'fieldErrors.home_room': '' });
  },

  // Checks made before sending, in the same words the server would use.
  check() {
    const f = this.data.form;
    const problems = {};
    if (!f.name || !f.name.trim()) problems.name = '请填写孩子的姓名';
    if (this.data.mode === 'add' && !/^\d{4}-\d{2}-\d{2}$/.test(f.birth_date || '')) problems.birth_date = '请选择出生日期';
    if (!f.home_room) problems.home_room = '请选择孩子常去的书屋';
    return problems;
  },

  onSubmit() {
    if (this.data.busy) return Promise.resolve(null);
    const problems = this.check();
    if (Object.keys(problems).length) {
      const first = problems[Object.keys(problems)[0]];
      this.setData({ fieldErrors: problems, error: first });
      wx.showToast({ title: first, icon: 'none' });
      return Promise.resolve(null);
    }
    const f = this.data.form;
    this.setData({ busy: true, error: '', fieldErrors: {} });
    const optional = (v) => (v && v.trim() ? v.trim() : null);
    let call;
    if (this.data.mode === 'edit') {
      call = api.patch(`/mp/v1/members/${this.data.memberId}`, {
        name: f.name.trim(), home_room: f.home_room, school: optional(f.school), class_name: optional(f.class_name),
      });
    } else {
      call = api.post('/mp/v1/me/children', {
        name: f.name.trim(),
        birth_year: Number(f.birth_date.slice(0, 4)),
        birth_date: f.birth_date,
        home_room: f.home_room,
        school: optional(f.school),
        class_name: optional(f.class_name),
        relation: RELATIONS[this.data.relationIndex],
        consent: { version: this.data.consentVersion, agreed: true },
      }, { opId: true });
    }
    return call.then((member) => {
      this.setData({ busy: false, saved: member });
      if (this.data.mode === 'add') store.setMemberId(member.id); // act for the new child
      wx.showToast({ title: this.data.mode === 'add' ? '已添加' : '已保存', icon: 'success' });
      wx.navigateBack({ delta: 1 });
      return member;
    }).catch((err) => {
      if (err && err.code === 'consent_version_outdated') {
        // The rules changed since they were shown: read them again.
        wx.redirectTo({ url: '/pages/family/consent' });
      }
      kindly(this, err);
      return null;
    });
  },
});
