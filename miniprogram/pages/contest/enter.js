// 投稿: choose the author (a child, or me), the category and the group; write the essay (live
// count against the group's limit, whitespace not counted — as the server counts) or choose a
// picture (JPEG/PNG) that is uploaded after the entry is created. The submit tap first offers
// the 比赛结果 subscribe prompt (only here, at the tap), then posts with an op_id.

const api = require('../../utils/request');
const { kindly } = require('../../utils/kindly');
const { choosePicture, MAX_PICTURE_BYTES } = require('./picture');
const store = require('../../utils/store');
const subscribe = require('../../utils/subscribe');

const CATEGORIES = ['征文', '绘画', '手抄报', '硬笔书法', '软笔书法'];
const GROUPS = ['小学组', '中学组'];
const DEFAULT_LIMITS = { 小学组: 800, 中学组: 1500 };

// Characters counted against the limit: whitespace (spaces, full-width spaces, line breaks) is not.
function essayLength(text) {
  return Array.from(String(text || '')).filter((ch) => !/\s/.test(ch) && ch !== '\u3000').length;
}



Page({
  data: {
    loading: true,
    busy: false,
    error: '',
    contestId: '',
    contest: null,
    members: [],
    memberId: '',
    categories: CATEGORIES,
    categoryIndex: 0,
    groups: GROUPS,
    groupIndex: 0,
    limits: DEFAULT_LIMITS,
    limit: 800,
    isEssay: true,
    form: { title: '', text: '', teacher_name: '', teacher_school: '' },
    count: 0,
    over: false,
    image: null,       // {tempFilePath, size}
    maxBytes: MAX_PICTURE_BYTES,
    submitted: null,
  },

  onLoad(query) {
    this.setData({ contestId: (query && query.contest) || '' });
    subscribe.prefetch(); // template ids only, so the submit tap can prompt at once; never prompts here
    return this.reload();
  },

  reload() {
    return Promise.all([api.get('/mp/v1/contests'), api.get('/mp/v1/me')]).then(([list, me]) => {
      store.setMe(me);
      const items = list.items || [];
      const contest = items.find((c) => c.id === this.data.contestId) || items.find((c) => c.accepting_entries) || null;
      const members = (me.members || []).filter((m) => m.status === 'active');
      const current = store.currentMember(me);
      const limits = Object.assign({}, DEFAULT_LIMITS);
      ((contest && contest.groups) || []).forEach((g) => { limits[g.group] = g.essay_limit; });
      this.setData({
        loading: false,
        contest,
        contestId: contest ? contest.id : '',
        categories: (contest && contest.categories && contest.categories.length) ? contest.categories : CATEGORIES,
        members,
        memberId: current ? current.id : (members[0] ? members[0].id : ''),
        limits,
        maxBytes: (contest && contest.image_max_bytes) || this.data.maxBytes,
        error: contest && !contest.accepting_entries ? '本届比赛已停止征集' : (contest ? '' : '现在没有正在征集的比赛'),
      });
      this.refreshRules();
      return contest;
    }).catch((err) => { kindly(this, err); });
  },

  refreshRules() {
    const category = this.data.categories[this.data.categoryIndex];
    const group = GROUPS[this.data.groupIndex];
    const limit = this.data.limits[group];
    const count = essayLength(this.data.form.text);
    this.setData({ isEssay: category === '征文', limit, count, over: count > limit });
  },

  onSwitch(e) {
    this.setData({ memberId: e.detail.memberId });
    return Promise.resolve();
  },

  onCategory(e) {
    this.setData({ categoryIndex: Number(e.detail.value), error: '' });
    this.refreshRules();
  },

  onGroup(e) {
    this.setData({ groupIndex: Number(e.detail.value), error: '' });
    this.refreshRules();
  },

  onInput(e) {
    const field = e.currentTarget.dataset.field;
    this.setData({ [`form.${field}`]: e.detail.value, error: '' });
    if (field === 'text') this.refreshRules();
  },

  onChooseImage() {
    const refuse = (message) => kindly(this, { message });
    return choosePicture({ maxBytes: this.data.maxBytes, refuse }).then((file) => {
      if (!file) return null;
      this.setData({ image: { tempFilePath: file.tempFilePath, size: file.size || 0 }, error: '' });
      return file;
    });
  },

  // What is wrong before sending, in plain words; '' when the form can be sent.
  problem() {
    const f = this.data.form;
    if (!this.data.contest || !this.data.contest.accepting_entries) return '现在没有正在征集的比赛';
    if (!this.data.memberId) return '请选择作者';
    if (!f.title || !f.title.trim()) return '请填写作品题目';
    if (this.data.isEssay) {
      if (!f.text || !f.text.trim()) return '请填写征文正文';
      if (this.data.count > this.data.limit) {
        return `${GROUPS[this.data.groupIndex]}征文不超过 ${this.data.limit} 字（不计空格和换行），现在是 ${this.data.count} 字，请删减后再提交`;
      }
    } else if (!this.data.image) {
      return '请先选择作品图片';
    }
    if ((f.teacher_name && !f.teacher_school) || (!f.teacher_name && f.teacher_school)) {
      return '填写指导老师时，请同时填写老师的姓名和学校';
    }
    return '';
  },

  onSubmit() {
    if (this.data.busy) return Promise.resolve(null);
    this.refreshRules();
    const problem = this.problem();
    if (problem) {
      kindly(this, { message: problem });
      return Promise.resolve(null);
    }
    // The subscribe prompt must start inside the tap, before any network round trip.
    const asked = subscribe.askAtTap(['contest_result']).catch(() => null);
    const f = this.data.form;
    const body = {
      member_id: this.data.memberId,
      category: this.data.categories[this.data.categoryIndex],
      group: GROUPS[this.data.groupIndex],
      title: f.title.trim(),
    };
    if (this.data.isEssay) body.text = f.text;
    if (f.teacher_name && f.teacher_school) body.teacher = { name: f.teacher_name.trim(), school: f.teacher_school.trim() };
    this.setData({ busy: true, error: '' });
    return asked
      .then(() => api.post(`/mp/v1/contests/${this.data.contestId}/entries`, body))
      .then((entry) => {
        if (this.data.isEssay || !this.data.image) return entry;
        return api.upload(`/mp/v1/contests/${this.data.contestId}/entries/${entry.id}/image`, this.data.image.tempFilePath)
          .catch((err) => {
            // The entry exists; the picture can be uploaded again from 我的作品.
            kindly(this, { message: `作品已登记，但图片没有传上去：${(err && err.message) || "请稍后再试"}。可以在“我的作品”里重新上传。` });
            return entry;
          });
      })
      .then((entry) => {
        this.setData({ busy: false, submitted: entry });
        wx.showModal({
          title: '投稿成功',
          content: entry.status === 'in_review' ? '作品需要工作人员审核，审核通过后参加评选。' : '作品已提交，评选结果出来后会通知您。',
          showCancel: false,
          confirmText: '知道了',
          success: () => wx.navigateBack({ delta: 1 }),
        });
        return entry;
      })
      .catch((err) => { kindly(this, err); return null; });
  },
});

