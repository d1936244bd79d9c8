// 借阅证: the card QR the administrator's phone scans (drawn on a canvas type="2d", large and
// black on white, the number also in text), or 办理借阅证 with WeChat's phone number when the
// member has none. For a child it is the child's card (member switch from utils/store.js).
const api = require('../../utils/request');
const store = require('../../utils/store');
const shared = require('../home/shared');
const qrcode = require('../../libs/qrcode');

const QUIET_MODULES = 4; // the white margin a scanner needs around the code

/** The QR code for `text` (error correction M, smallest version that fits). */
function makeQr(text) {
  const qr = qrcode(0, 'M');
  qr.addData(String(text));
  qr.make();
  return qr;
}

/**
 * Draw `qr` filling a square of `size` px on a 2d context: white ground, black modules,
 * a quiet zone of QUIET_MODULES. Module edges are rounded to whole pixels (no blur).
 */
function drawQr(ctx, qr, size) {
  const count = qr.getModuleCount();
  const total = count + QUIET_MODULES * 2;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, size, size);
  ctx.fillStyle = '#000000';
  const edge = (i) => Math.round(((i + QUIET_MODULES) * size) / total);
  for (let row = 0; row < count; row += 1) {
    for (let col = 0; col < count; col += 1) {
      if (qr.isDark(row, col)) {
        const x = edge(col);
        const y = edge(row);
        ctx.fillRect(x, y, edge(col + 1) - x, edge(row + 1) - y);
      }
    }
  }
  return count;
}

/** "JN00012345" → "JN00 0123 45" for reading aloud at the desk. */
function spaced(cardNo) {
  return String(cardNo || '').replace(/(.{4})(?=.)/g, '$1 ');
}

Page({
  data: {
    loading: true,
    error: '',
    members: [],
    memberId: '',
    member: null, // {id, name, child, cardNo}
    qrText: '',
    cardNoSpaced: '',
    applying: false,
    applied: null, // {linked, phone}
    bright: false,
  },

  onShow() {
    return this.reload();
  },

  onHide() {
    this.restoreBrightness();
  },

  onUnload() {
    this.restoreBrightness();
  },

  async reload() {
    this.setData({ loading: true, error: '' });
    const me = await shared.meOrError(this);
    if (!me) return null;
    const member = store.currentMember(me);
    const members = store.members(me).filter((m) => m.status === 'active');
    if (!member) {
      this.setData({ loading: false, members, member: null, qrText: '' });
      return null;
    }
    this.setData({
      loading: false,
      members,
      memberId: member.id,
      member: { id: member.id, name: member.name, child: member.child, cardNo: member.card_no || '' },
    });
    this.showCard(member.card_no || '');
    return member;
  },

  /** Show the card number and its QR (the QR encodes the card's qr_text: its number). */
  showCard(qrText) {
    if (!qrText) {
      this.qr = null;
      this.setData({ qrText: '', cardNoSpaced: '' });
      return;
    }
    this.qr = makeQr(qrText);
    this.setData({ qrText, cardNoSpaced: spaced(qrText) }, () => this.drawCanvas());
  },

  /** Paint the QR on <canvas type="2d" id="card-qr">. */
  drawCanvas() {
    const qr = this.qr;
    if (!qr) return;
    try {
      const query = this.createSelectorQuery ? this.createSelectorQuery() : wx.createSelectorQuery();
      const selected = query.select('#card-qr');
      if (!selected || typeof selected.fields !== 'function') return; // not rendered (tests)
      selected.fields({ node: true, size: true }).exec((res) => {
        const info = res && res[0];
        if (!info || !info.node) return;
        const canvas = info.node;
        const ctx = canvas.getContext('2d');
        const ratio = (wx.getWindowInfo ? wx.getWindowInfo() : wx.getSystemInfoSync()).pixelRatio || 2;
        const size = Math.floor(Math.min(info.width, info.height) * ratio);
        canvas.width = size;
        canvas.height = size;
        drawQr(ctx, qr, size);
      });
    } catch (e) {
      // A drawing failure leaves the number in text, which the desk can type in.
    }
  },

  /** child-switcher: act for another family member. */
  onMember(e) {
    const id = (e.detail && e.detail.memberId) || e.currentTarget.dataset.id;
    if (!id) return Promise.resolve(null);
    store.setMemberId(id);
    this.setData({ applied: null });
    return this.reload();
  },

  /**
   * <button open-type="getPhoneNumber" bindgetphonenumber="onPhone">: WeChat hands a one-time
   * code (detail.code); the server exchanges it and issues or links the card.
   */
  async onPhone(e) {
    const detail = (e && e.detail) || {};
    if (!detail.code) {
      wx.showToast({ title: '没有获得手机号，暂时无法办理', icon: 'none' });
      return null;
    }
    const member = this.data.member;
    if (!member) return null;
    this.setData({ applying: true });
    try {
      const out = await api.post(`/mp/v1/members/${encodeURIComponent(member.id)}/card`, { phone_code: detail.code });
      this.setData({
        applying: false,
        applied: { linked: out.linked_existing, phone: out.phone },
        'member.cardNo': out.card_no,
      });
      this.showCard(out.qr_text || out.card_no);
      wx.showToast({ title: out.linked_existing ? '已关联借阅证' : '借阅证办好了', icon: 'success' });
      try { await shared.loadMe(); } catch (err) { /* the card is shown already */ }
      return out;
    } catch (err) {
      this.setData({ applying: false });
      shared.toastError(err);
      return null;
    }
  },

  /** 调亮屏幕 (at the reader's tap): full brightness while the card is shown. */
  brighten() {
    return new Promise((resolve) => {
      wx.getScreenBrightness({
        success: (res) => { if (this.savedBrightness === undefined) this.savedBrightness = res.value; },
        complete: () => {
          wx.setScreenBrightness({ value: 1, complete: () => { this.setData({ bright: true }); resolve(true); } });
        },
      });
    });
  },

  restoreBrightness() {
    if (this.savedBrightness === undefined) return;
    wx.setScreenBrightness({ value: this.savedBrightness });
    this.savedBrightness = undefined;
    this.setData({ bright: false });
  },

  chooseRoom() {
    wx.navigateTo({ url: '/pages/rooms/choose' });
  },

  openLoans() {
    wx.navigateTo({ url: '/pages/loans/loans' });
  },
});

module.exports = { makeQr, drawQr, spaced, QUIET_MODULES };
