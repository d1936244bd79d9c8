// 监护人同意: the published children's rules (GET /mp/v1/privacy/children) in the server's own
// words, with two equally visible buttons. 不同意 goes back and records nothing; 同意 opens
// the child form carrying the version that was shown. With ?view=1 the page only shows the
// rules (from the settings page), without the buttons.

const api = require('../../utils/request');

Page({
  data: {
    loading: true,
    error: '',
    viewOnly: false,
    rules: null,       // ChildRules {version, title, sections[{heading, text}], retention_days, contact}
    version: '',
  },

  onLoad(query) {
    this.setData({ viewOnly: !!(query && query.view) });
    return this.reload();
  },

  reload() {
    this.setData({ loading: true, error: '' });
    return api.get('/mp/v1/privacy/children', undefined, { auth: false })
      .then((rules) => {
        this.setData({ loading: false, rules, version: rules.version });
        if (wx.setNavigationBarTitle) wx.setNavigationBarTitle({ title: rules.title });
        return rules;
      })
      .catch((err) => {
        const message = (err && err.message) || '规则没有加载出来，请稍后再试';
        this.setData({ loading: false, error: message });
      });
  },

  // 同意: nothing is sent yet; the consent is recorded with the child, in one request.
  onAgree() {
    if (!this.data.version) return Promise.resolve(false);
    wx.redirectTo({ url: `/pages/family/child?consent=${encodeURIComponent(this.data.version)}` });
    return Promise.resolve(true);
  },

  // 不同意: no request at all; the guardian's own use is unaffected.
  onRefuse() {
    wx.showToast({ title: '未添加孩子信息', icon: 'none' });
    wx.navigateBack({ delta: 1 });
    return Promise.resolve(false);
  },

  onBack() {
    wx.navigateBack({ delta: 1 });
    return Promise.resolve();
  },
});
