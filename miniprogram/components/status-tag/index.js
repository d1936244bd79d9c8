// A status shown as text + icon + colour (e.g. hold 可取书, suggestion 审核中, loan 已逾期).
const labels = require('./labels');

Component({
  properties: {
    kind: { type: String, value: 'hold' },
    status: { type: String, value: '' },
    // The API's status_label, when it sends one (wins over the built-in words).
    label: { type: String, value: '' },
  },
  data: { text: '', tone: 'info', icon: 'i' },
  observers: {
    'kind, status, label': function update(kind, status, label) {
      this.setData(labels.describe(kind, status, label));
    },
  },
  lifetimes: {
    attached() {
      const p = this.properties;
      this.setData(labels.describe(p.kind, p.status, p.label));
    },
  },
});
