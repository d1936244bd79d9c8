// badge-list: a challenge's badges, each with an icon, its name, the threshold and the text
// "已获得" / "未获得" (the state is never shown by colour alone).
// Properties: milestones (the challenge's [{threshold, badge, icon}]), badges (the member's
// awarded [{milestone_index, badge, icon, awarded_at}]), unitLabel ("本", "分钟", "页").

// The server names icons by key (e.g. badge-star); each key has a text symbol here.
var ICONS = {
  'badge-star': '★',
  'badge-bronze': '🥉',
  'badge-silver': '🥈',
  'badge-gold': '🥇',
  'badge-book': '📖',
  'badge-trophy': '🏆',
};

function iconFor(key) {
  return ICONS[key] || '🎖';
}

function buildBadges(milestones, badges, unitLabel) {
  var earned = {};
  (badges || []).forEach(function (b) {
    earned[b.milestone_index] = b;
  });
  var list = (milestones || []).map(function (m, index) {
    var got = earned[index];
    return {
      key: 'm' + index,
      name: m.badge,
      icon: iconFor(m.icon),
      threshold: m.threshold,
      need: '累计 ' + m.threshold + ' ' + (unitLabel || ''),
      earned: !!got,
      statusText: got ? '已获得' : '未获得',
      date: got && got.awarded_at ? String(got.awarded_at).slice(0, 10) : '',
    };
  });
  // Badges awarded for milestones the challenge no longer lists are still shown.
  (badges || []).forEach(function (b) {
    if (!milestones || b.milestone_index >= milestones.length) {
      list.push({
        key: 'b' + b.milestone_index, name: b.badge, icon: iconFor(b.icon), threshold: b.threshold,
        need: '累计 ' + b.threshold + ' ' + (unitLabel || ''), earned: true, statusText: '已获得',
        date: b.awarded_at ? String(b.awarded_at).slice(0, 10) : '',
      });
    }
  });
  return list;
}

Component({
  options: { addGlobalClass: true },
  properties: {
    milestones: { type: Array, value: [] },
    badges: { type: Array, value: [] },
    unitLabel: { type: String, value: '' },
  },
  data: { items: [], earnedCount: 0 },
  observers: {
    'milestones, badges, unitLabel': function () {
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
      var items = buildBadges(this.data.milestones, this.data.badges, this.data.unitLabel);
      this.setData({ items: items, earnedCount: items.filter(function (i) { return i.earned; }).length });
    },
  },
});
