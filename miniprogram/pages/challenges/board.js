// 排行榜: tabs 本书屋 / 本校 / 本镇街, masked names (board-list), my rank, and the switch
// 不在排行榜上显示我家孩子 (the member's public_board setting). Handlers return promises.

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const store = require('../../utils/store');

const TABS = [
  { scope: 'room', label: '本书屋' },
  { scope: 'school', label: '本校' },
  { scope: 'town', label: '本镇街' },
];


Page({
  data: {
    id: '',
    tabs: TABS,
    scope: 'room',
    loading: true,
    busy: false,
    error: '',
    board: null,
    members: [],        // the family members who joined (child-switcher)
    memberId: '',
    memberName: '',
    hidden: false,      // the chosen member is off the public boards
  },

  onLoad(query) {
    query = query || {};
    this.setData({ id: query.id || '', memberId: query.member || store.getMemberId() || '' });
    return this.loadFamily().then(() => this.loadBoard());
  },

  loadFamily() {
    return Promise.all([api.get('/mp/v1/me'), api.get('/mp/v1/challenges')]).then(([me, list]) => {
      store.setMe(me);
      const c = (list.items || []).find((x) => x.id === this.data.id);
      const joinedIds = {};
      ((c && c.family) || []).forEach((f) => { if (f.joined) joinedIds[f.member_id] = true; });
      const members = (me.members || []).filter((m) => joinedIds[m.id] && m.status === 'active');
      const chosen = members.find((m) => m.id === this.data.memberId) || members.find((m) => m.relation === 'child') || members[0];
      this.setData({
        members,
        title: c ? c.title : '',
        memberId: chosen ? chosen.id : '',
        memberName: chosen ? chosen.name : '',
        hidden: chosen ? chosen.public_board === false : false,
      });
    }).catch((err) => { kindly(this, err); });
  },

  loadBoard() {
    this.setData({ loading: true, error: '' });
    const query = { scope: this.data.scope, limit: 50 };
    if (this.data.memberId) query.member_id = this.data.memberId;
    return api.get(`/mp/v1/challenges/${this.data.id}/board`, query)
      .then((board) => {
        this.setData({ loading: false, board });
        return board;
      })
      .catch((err) => {
        // A member without a school has no school board: say so plainly, it is not a fault.
        if (err && err.code === 'team_required') {
          const why = !this.data.memberId ? '家里还没有人参加这个活动，参加后就能看到排行榜了。'
            : (this.data.scope === 'school' ? '还没有填写学校，不能查看本校排行榜。可以在“我的家庭”里补充学校。'
              : '暂时不能查看这个排行榜。');
          this.setData({ loading: false, board: null, error: why });
          return null;
        }
        kindly(this, err);
        return null;
      });
  },

  onTab(e) {
    const scope = e.currentTarget.dataset.scope;
    if (scope === this.data.scope) return Promise.resolve(this.data.board);
    this.setData({ scope });
    return this.loadBoard();
  },

  onSwitch(e) {
    const member = (this.data.members || []).find((m) => m.id === e.detail.memberId);
    if (!member) return Promise.resolve(null);
    store.setMemberId(member.id);
    this.setData({ memberId: member.id, memberName: member.name, hidden: member.public_board === false });
    return this.loadBoard();
  },

  // 不在排行榜上显示我家孩子: switch on = hidden = public_board false.
  onHideChange(e) {
    const hide = !!e.detail.value;
    if (!this.data.memberId) return Promise.resolve(null);
    this.setData({ busy: true });
    return api.patch(`/mp/v1/members/${this.data.memberId}`, { public_board: !hide })
      .then((member) => {
        const members = (this.data.members || []).map((m) => (m.id === member.id ? Object.assign({}, m, member) : m));
        this.setData({ busy: false, hidden: member.public_board === false, members });
        wx.showToast({ title: hide ? '已不在排行榜显示' : '已在排行榜显示', icon: 'none' });
        return this.loadBoard();
      })
      .catch((err) => {
        this.setData({ hidden: !hide });
        kindly(this, err);
        return null;
      });
  },
});
