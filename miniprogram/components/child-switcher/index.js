// child-switcher: choose which family member (me or one of my children) the page acts for.
// Properties: members [{id, name, relation, child, status}], current (member id),
// showSelf (include the account holder), title.
// Emits "change" with {memberId, member} when the user taps another member.
// The chosen member is marked with text ("当前") and a check mark, never by colour alone.

function buildItems(members, current, showSelf) {
  return (members || [])
    .filter(function (m) {
      if (!m) return false;
      if (m.status && m.status !== 'active') return false; // withdrawn children cannot act
      return showSelf || m.relation !== 'self';
    })
    .map(function (m) {
      var selected = m.id === current;
      var role = m.relation === 'self' ? '我' : '孩子';
      return {
        id: m.id,
        name: m.name,
        role: role,
        selected: selected,
        ariaLabel: (selected ? '当前选中：' : '切换到') + role + ' ' + m.name,
      };
    });
}

Component({
  options: { addGlobalClass: true },
  properties: {
    members: { type: Array, value: [] },
    current: { type: String, value: '' },
    showSelf: { type: Boolean, value: true },
    title: { type: String, value: '为谁操作' },
  },
  data: {
    items: [],
    currentName: '',
  },
  observers: {
    'members, current, showSelf': function () {
      this.refresh();
    },
  },
  lifetimes: {
    attached: function () {
      this.refresh();
    },
  },
  methods: {
    refresh: function () {
      var items = buildItems(this.data.members, this.data.current, this.data.showSelf);
      var chosen = items.filter(function (i) { return i.selected; })[0];
      this.setData({ items: items, currentName: chosen ? chosen.name : '' });
    },
    onTap: function (e) {
      var id = e.currentTarget.dataset.id;
      if (!id || id === this.data.current) return;
      var member = (this.data.members || []).filter(function (m) { return m.id === id; })[0] || null;
      this.setData({ current: id });
      this.refresh();
      this.triggerEvent('change', { memberId: id, member: member });
    },
  },
});
