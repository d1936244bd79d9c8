// <offline-banner/>: a banner while the phone has no network (wx.onNetworkStatusChange via
// utils/request.js). Put it at the top of a page; it takes no properties.

const api = require('../../utils/request');

Component({
  options: { addGlobalClass: true },
  data: {
    offline: false,
    text: '网络未连接，部分功能暂不可用',
  },
  lifetimes: {
    attached() {
      this.setData({ offline: !api.isOnline() });
      this._unsubscribe = api.onNetworkChange((online) => this.setData({ offline: !online }));
    },
    detached() {
      if (this._unsubscribe) this._unsubscribe();
      this._unsubscribe = null;
    },
  },
});
