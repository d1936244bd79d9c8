// 首页: my room, what is new there, the current challenge, my loans due soon, the card.
const api = require('../../utils/request');
const store = require('../../utils/store');
const shared = require('./shared');

const DUE_SOON_DAYS = 3;

/** The challenge to show: published, running today (else the next to start). */
function currentChallenge(items, now) {
  const today = shared.shanghai(now || Date.now()).toISOString().slice(0, 10);
  const published = (items || []).filter((c) => c.status === 'published');
  const running = published.filter((c) => c.starts_on <= today && today <= c.ends_on);
  if (running.length) return running[0];
  const upcoming = published.filter((c) => c.starts_on > today).sort((a, b) => (a.starts_on < b.starts_on ? -1 : 1));
  return upcoming[0] || null;
}

Page({
  data: {
    loading: true,
    error: '',
    room: null, // {code, name, town, village, hours, active}
    newTitles: [],
    challenge: null,
    member: null, // the member the page speaks for
    dueSoon: [],
    hasCard: false,
    renewing: '',
  },

  onLoad(options) {
    // A scanned room code may land here: hand it to the room page (which checks in).
    const code = store.roomCodeFromScene(options && options.scene) || store.getPendingRoomCode();
    if (code) {
      wx.navigateTo({ url: `/pages/rooms/choose?code=${encodeURIComponent(code)}` });
    }
  },

  onShow() {
    return this.reload();
  },

  onPullDownRefresh() {
    return this.reload().then(() => wx.stopPullDownRefresh());
  },

  /** Load everything the home page shows. Resolves when done (errors shown inline). */
  async reload() {
    this.setData({ loading: true, error: '' });
    const me = await shared.meOrError(this);
    if (!me) return;
    const code = shared.currentRoomCode(me);
    if (!code) {
      // First run: no room yet.
      this.setData({ loading: false, room: null });
      if (!this.askedForRoom) {
        // Ask once per visit; a reader who backs out sees the 选择书屋 button instead.
        this.askedForRoom = true;
        wx.navigateTo({ url: '/pages/rooms/choose?first=1' });
      }
      return;
    }
    const member = store.currentMember(me);
    const [room, challenges, loans] = await Promise.all([
      api.get(`/mp/v1/rooms/${encodeURIComponent(code)}`).catch((err) => ({ failed: err })),
      api.get('/mp/v1/challenges').catch(() => ({ items: [] })),
      member ? api.get('/mp/v1/loans', { member_id: member.id, status: 'open' }).catch(() => null) : null,
    ]);
    const patch = { loading: false, member: member ? { id: member.id, name: member.name } : null };
    if (room.failed) {
      patch.error = room.failed.message;
      patch.room = { code, name: (store.getRoom() || {}).name || code };
    } else {
      store.setRoom({ code: room.code, name: room.name });
      patch.room = {
        code: room.code,
        name: room.name,
        town: room.town,
        village: room.village,
        hours: shared.todayHours(room.opening_hours),
        active: room.active,
        phone: room.phone || '',
      };
      patch.newTitles = (room.new_titles || []).slice(0, 6).map((t) => ({
        title_id: t.title_id, title: t.title, author: t.author || '', received: shared.dateText(t.received_at),
      }));
    }
    const challenge = currentChallenge(challenges.items);
    patch.challenge = challenge ? {
      id: challenge.id,
      title: challenge.title,
      dates: `${challenge.starts_on.slice(5).replace('-', '月')}日 至 ${challenge.ends_on.slice(5).replace('-', '月')}日`,
    } : null;
    patch.hasCard = !!(loans && loans.has_card);
    patch.dueSoon = loans ? loans.items
      .filter((l) => l.overdue || shared.daysUntil(l.due_at) <= DUE_SOON_DAYS)
      .map((l) => ({
        id: l.id, title: l.title || l.title_id, due: shared.dueText(l), overdue: l.overdue,
        canRenew: l.can_renew === true, refusal: l.renew_refusal ? l.renew_refusal.message : '',
      })) : [];
    this.setData(patch);
  },

  chooseRoom() {
    wx.navigateTo({ url: '/pages/rooms/choose' });
  },

  openSearch() {
    wx.switchTab({ url: '/pages/search/search' });
  },

  openCard() {
    wx.switchTab({ url: '/pages/card/card' });
  },

  openLoans() {
    wx.navigateTo({ url: '/pages/loans/loans' });
  },

  openTitle(e) {
    wx.navigateTo({ url: `/pages/title/title?id=${encodeURIComponent(e.currentTarget.dataset.id)}` });
  },

  openChallenge() {
    const c = this.data.challenge;
    if (c) wx.navigateTo({ url: `/pages/challenges/detail?id=${encodeURIComponent(c.id)}` });
  },

  /** 续借 one loan due soon. Resolves with the server's answer (or null on error). */
  async renew(e) {
    const id = e.currentTarget.dataset.id;
    if (this.data.renewing) return null;
    this.setData({ renewing: id });
    try {
      const out = await api.post(`/mp/v1/loans/${encodeURIComponent(id)}/renew`, {}, { opId: true });
      this.setData({ renewing: '' });
      wx.showModal({ title: '续借成功', content: (out && out.message) || '已续借', showCancel: false, confirmText: '好的' });
      await this.reload();
      return out;
    } catch (err) {
      this.setData({ renewing: '' });
      shared.toastError(err);
      return null;
    }
  },
});

module.exports = { currentChallenge };
