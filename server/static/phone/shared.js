/* shuwu — what the phone pages' scripts share: client op_ids, the JSON call to the server and
   the camera scanner. Loaded (defer) before the page's own script; it only defines
   window.shuwuPhone and touches nothing on the page by itself.
   No inline code anywhere (CSP script-src 'self'). Written for old WebViews too
   (WeChat on cheap Android phones): ES5, no optional chaining, no ?? operator. */
(function () {
  'use strict';

  var DEFAULT_TIMEOUT_MS = 20000;

  /** The page's XSRF token (a meta tag, because the _xsrf cookie is HttpOnly). */
  function xsrf() {
    var meta = document.querySelector('meta[name="shuwu-xsrf"]');
    return meta ? meta.getAttribute('content') : '';
  }

  // -- op_ids --------------------------------------------------------------------------

  /** n random bytes: crypto.getRandomValues where there is one, else Math.random. */
  function randomBytes(n) {
    var c = window.crypto || window.msCrypto;
    var bytes = new Uint8Array(n);
    if (c && c.getRandomValues) { c.getRandomValues(bytes); } else {
      for (var i = 0; i < n; i++) { bytes[i] = Math.floor(Math.random() * 256); }
    }
    return bytes;
  }

  function hex(bytes) {
    var out = '';
    for (var j = 0; j < bytes.length; j++) { out += (bytes[j] < 16 ? '0' : '') + bytes[j].toString(16); }
    return out;
  }

  /** A client op_id: 32 hex characters. */
  function newOpId() { return hex(randomBytes(16)); }

  // -- the JSON call -------------------------------------------------------------------

  /**
   * fetch JSON: resolves {ok, status, data} (data null when the body is not JSON); rejects when
   * no answer came. options.timeoutMs: give up after this long (default 20000; 0: never);
   * options.xsrf: the token to send (default: the page's meta tag).
   */
  function api(method, url, body, options) {
    var o = options || {};
    var timeoutMs = o.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : o.timeoutMs;
    var opts = { method: method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
    if (method !== 'GET') {
      opts.headers['Content-Type'] = 'application/json';
      opts.headers['X-XSRFToken'] = o.xsrf === undefined ? xsrf() : o.xsrf;
      opts.body = JSON.stringify(body || {});
    }
    var controller = timeoutMs && window.AbortController ? new AbortController() : null;
    if (controller) { opts.signal = controller.signal; }
    var timer = timeoutMs ? setTimeout(function () { if (controller) { controller.abort(); } }, timeoutMs) : null;
    return fetch(url, opts).then(function (response) {
      clearTimeout(timer);
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
        return { ok: response.ok, status: response.status, data: data };
      });
    }, function (err) { clearTimeout(timer); throw err; });
  }

  // -- the camera (the vendored @zxing/browser, loaded on first use) -------------------------

  var scannerScript = null;
  var scanControls = null;

  function loadScanner(src) {
    if (window.ZXingBrowser) { return Promise.resolve(window.ZXingBrowser); }
    if (scannerScript) { return scannerScript; }
    scannerScript = new Promise(function (resolve, reject) {
      var s = document.createElement('script');
      s.src = src;
      s.onload = function () { if (window.ZXingBrowser) { resolve(window.ZXingBrowser); } else { reject(new Error('load')); } };
      s.onerror = function () { scannerScript = null; reject(new Error('load')); };
      document.head.appendChild(s);
    });
    return scannerScript;
  }

  /** Stop the camera and hide its panel ``box``. */
  function closeScanner(box) {
    if (scanControls) { try { scanControls.stop(); } catch (e) { /* already stopped */ } scanControls = null; }
    if (box) { box.hidden = true; }
  }

  /**
   * Read one code with the back camera. o.box: the panel; o.msg: its message line; o.video;
   * o.src: the scanner script; o.formats: BarcodeFormat names; o.https: the text when the page
   * may not use the camera (not https); o.aim: the text once the camera runs;
   * o.cameraMessage(err): the text when it fails; o.read(text): what was read.
   */
  function scan(o) {
    var box = o.box;
    var msg = o.msg;
    msg.textContent = '正在打开相机…';
    box.hidden = false;
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      msg.textContent = window.isSecureContext === false ? o.https : o.cameraMessage(null);
      return;
    }
    loadScanner(o.src).then(function (ZX) {
      var reader = new ZX.BrowserMultiFormatReader();
      try {
        reader.possibleFormats = o.formats.map(function (name) { return ZX.BarcodeFormat[name]; });
      } catch (e) { /* all formats */ }
      return reader.decodeFromConstraints({ audio: false, video: { facingMode: 'environment' } }, o.video,
        function (result, err, controls) {
          if (!result) { return; }
          controls.stop();
          scanControls = null;
          box.hidden = true;
          if (navigator.vibrate) { navigator.vibrate(80); }
          o.read(result.getText());
        }).then(function (controls) {
        scanControls = controls;
        if (box.hidden) { controls.stop(); scanControls = null; return; }
        msg.textContent = o.aim;
      });
    }).catch(function (err) { msg.textContent = o.cameraMessage(err); });
  }

  window.shuwuPhone = {
    xsrf: xsrf, randomBytes: randomBytes, hex: hex, newOpId: newOpId, api: api,
    loadScanner: loadScanner, scan: scan, closeScanner: closeScanner
  };
}());
