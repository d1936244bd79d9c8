// One search result or list entry: title, author, and where a copy is on the shelf.
// Tapping it opens the title page (the whole row is one large tap target).
const availability = require('./availability');

const FORMAT_LABELS = { book: '图书', periodical: '报刊', audio_visual: '音像' };
const TONE_ICONS = { here: '✓', nearby: '◎', none: '○' };

Component({
  options: { addGlobalClass: false },
  properties: {
    // The API's MpTitle (search result or title detail).
    book: { type: Object, value: null },
    // Set false to show the row without linking to the title page.
    link: { type: Boolean, value: true },
  },
  data: {
    url: '',
    byline: '',
    formatLabel: '',
    here: '',
    nearby: '',
    district: '',
    tone: 'none',
    toneIcon: '○',
    ariaLabel: '',
  },
  observers: {
    book(book) {
      if (!book) return;
      const s = availability.summary(book.availability);
      const byline = [book.author, book.publisher, book.year].filter(Boolean).join(' · ');
      const formatLabel = book.format && book.format !== 'book' ? FORMAT_LABELS[book.format] || '' : '';
      const lines = [s.here, s.nearby, s.district].filter(Boolean).join('；');
      this.setData({
        url: `/pages/title/title?id=${encodeURIComponent(book.title_id)}`,
        byline,
        formatLabel,
        here: s.here,
        nearby: s.nearby,
        district: s.district,
        tone: s.tone,
        toneIcon: TONE_ICONS[s.tone],
        ariaLabel: `${book.title}${book.author ? '，' + book.author : ''}。${lines}`,
      });
    },
  },
  methods: {
    onTap() {
      const book = this.properties.book;
      if (!book) return;
      this.triggerEvent('select', { titleId: book.title_id, book });
      if (this.properties.link && typeof wx !== 'undefined' && wx.navigateTo) {
        wx.navigateTo({ url: this.data.url });
      }
    },
  },
});
