// board-list: a leaderboard. Names are shown masked (the server masks them; this component
// masks again anything that reaches it unmasked). The family's own rows say "我" in text,
// not only by colour. Properties: items (BoardEntry [{rank, name, room_name, total, me}]),
// me (MyRank {rank, total, public_board} or null), unitLabel, myName (the member the rank is for).

// "张三" -> "张*", "欧阳小明" -> "欧***": the family name stays, the rest is hidden.
function maskName(name) {
  var s = String(name || '');
  if (!s) return '读者';
  if (s.indexOf('*') >= 0 || s === '读者') return s; // already masked
  var chars = Array.from(s);
  var stars = Math.max(chars.length - 1, 1);
  return chars[0] + new Array(stars + 1).join('*');
}

function buildRows(items, unitLabel) {
  return (items || []).map(function (it) {
    var name = maskName(it.name);
    var mine = !!it.me;
    return {
      key: 'r' + it.rank + '-' + name,
      rank: it.rank,
      name: name,
      room: it.room_name || '',
      total: it.total,
      totalText: it.total + ' ' + (unitLabel || ''),
      me: mine,
      ariaLabel: '第 ' + it.rank + ' 名，' + name + (mine ? '（我）' : '') + '，' + it.total + ' ' + (unitLabel || ''),
    };
  });
}

function myRankText(me, unitLabel) {
  if (!me) return '';
  if (me.public_board === false) {
    return '已设置不在排行榜上显示，共 ' + me.total + ' ' + (unitLabel || '');
  }
  if (me.rank === null || me.rank === undefined) {
    return '暂未上榜，共 ' + me.total + ' ' + (unitLabel || '') + '，继续加油！';
  }
  return '我的名次：第 ' + me.rank + ' 名，共 ' + me.total + ' ' + (unitLabel || '');
}

Component({
  options: { addGlobalClass: true },
  properties: {
    items: { type: Array, value: [] },
    me: { type: Object, value: null },
    unitLabel: { type: String, value: '' },
    myName: { type: String, value: '' },
  },
  data: { rows: [], myText: '' },
  observers: {
    'items, me, unitLabel': function () {
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
      this.setData({
        rows: buildRows(this.data.items, this.data.unitLabel),
        myText: myRankText(this.data.me, this.data.unitLabel),
      });
    },
  },
});
