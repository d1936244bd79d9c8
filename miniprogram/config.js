// The ONE place the server address lives. The district sets baseUrl to its own HTTPS
// domain (also listed in mp.weixin.qq.com → 开发管理 → 服务器域名: request, uploadFile and
// downloadFile 合法域名). Tests override it via test/support/wx-node.js (config.override).
const config = {
  baseUrl: 'https://shuwu.example.gov.cn',
  // Per-attempt timeout for wx.request (ms); app.json networkTimeout caps it too.
  timeoutMs: 15000,
  // Back-off between retries of idempotent requests (ms): two retries at most.
  retryDelaysMs: [500, 1500],
  // A 429's Retry-After is honoured once, but never waited longer than this (ms).
  maxRetryAfterMs: 5000,
  // How long the subscribe-message template list is cached (ms).
  templatesTtlMs: 10 * 60 * 1000,
};

// Tests (and only tests) point the client at a local server.
config.override = function override(values) {
  Object.keys(values || {}).forEach((key) => {
    if (key !== 'override') config[key] = values[key];
  });
  return config;
};

module.exports = config;
