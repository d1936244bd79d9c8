// Choosing a contest picture (绘画, 手抄报, 书法): one image from the album or the camera,
// JPEG or PNG only (the server checks the bytes too). Resolves the chosen file, or null when
// the reader cancelled or picked another kind of file (then `refuse` is called with the reason).
const MAX_PICTURE_BYTES = 4 * 1024 * 1024; // the server's request body limit
const TOO_BIG = '图片太大了，请换一张小一点的（不超过 4 MB）';

function choosePicture({ maxBytes, refuse }) {
  return new Promise((resolve) => {
    wx.chooseMedia({
      count: 1, mediaType: ['image'], sourceType: ['album', 'camera'], sizeType: ['compressed'],
      success: (res) => resolve((res.tempFiles || [])[0] || null),
      fail: () => resolve(null),
    });
  }).then((file) => {
    if (!file) return null;
    if (!/\.(jpe?g|png)$/i.test(file.tempFilePath)) {
      refuse('只能上传 JPG 或 PNG 图片');
      return null;
    }
    if (maxBytes && file.size && file.size > maxBytes) {
      refuse(TOO_BIG);
      return null;
    }
    return file;
  });
}

module.exports = { choosePicture, MAX_PICTURE_BYTES };
