// problem+json → a short, friendly Chinese message.
//
// Order: (1) our table by the problem's stable `code`; (2) the server's own `detail` when
// it is Chinese (the backend writes Chinese details for domain errors); (3) a fallback by
// HTTP status. Field errors (422) become "填写的内容有误：<字段>：<说明>". Nothing English
// and no stack trace ever reaches the screen.

const BY_CODE = {
  // transport / client side
  offline: '网络未连接，请检查网络后再试',
  network: '网络不太好，请稍后再试',
  timeout: '网络不太好，请求超时了，请稍后再试',
  bad_response: '服务器忙，请稍后再试',
  // log-in and accounts
  not_authenticated: '登录已过期，请重新进入小程序',
  invalid_code: '登录失败，请重新进入小程序',
  malformed_code: '登录失败，请重新进入小程序',
  wechat_user_blocked: '该微信账号已被限制使用，请联系书屋管理员',
  wechat_busy: '微信服务繁忙，请稍后再试',
  wechat_error: '微信服务暂时无法完成请求，请稍后再试',
  wechat_unavailable: '微信服务暂时不可用，请稍后再试',
  wechat_rate_limited: '使用的人太多了，请稍后再试',
  rate_limited: '操作太频繁，请稍后再试',
  locked_out: '尝试次数过多，请稍后再试',
  guardian_required: '未满 14 周岁的小读者，请让爸爸妈妈用他们的微信添加你',
  guardian_profile_required: '请先在“我的”里填写您本人的信息',
  consent_required: '需要监护人同意《儿童个人信息保护规则》',
  consent_version_outdated: '儿童个人信息保护规则已更新，请重新阅读后再同意',
  consent_withdrawn: '监护人已撤回同意，不能再为这位孩子记录信息',
  not_a_child: '年满 14 周岁的读者请用自己的微信登录',
  too_many_children: '一个账号最多添加 8 位孩子',
  member_not_found: '没有找到这位家庭成员',
  member_erased: '这位家庭成员的信息已被删除',
  home_room_required: '请先在“我的”里选择所属书屋',
  card_exists: '这位成员已经有借阅证了',
  card_required: '请先办理借阅证',
  card_closed: '这张借阅证已注销',
  phone_required: '请先授权微信手机号',
  loans_open: '还有没归还的图书，请先到书屋归还再注销',
  invalid_birth: '出生日期不正确',
  // rooms
  unknown_room: '没有找到这个书屋',
  room_not_found: '没有找到这个书屋',
  room_inactive: '这个书屋暂停开放了',
  scene_invalid: '这个书屋二维码无法识别，请换一个试试',
  // books, holds, loans, suggestions
  title_not_found: '没有找到这本书',
  unknown_title: '没有找到这本书',
  invalid_title_id: '没有找到这本书',
  hold_exists: '你已经预约过这本书了',
  hold_limit_reached: '预约的书已经到上限了，请先取消或借走已预约的书',
  hold_not_found: '没有找到这条预约',
  hold_closed: '这条预约已经结束，不能取消',
  none_on_shelf: '这本书现在没有在架的，可以先预约',
  periodical_in_room_only: '报刊只能在书屋里阅读，不能预约',
  reader_blocked: '借阅证暂停使用，请联系书屋管理员',
  reader_has_overdue: '有逾期未还的图书，请先归还',
  loan_not_found: '没有找到这条借阅记录',
  loan_limit_reached: '借书数量已到上限',
  renewal_limit_reached: '这本书已经续借过了，不能再续借',
  overdue_cannot_renew: '已逾期的图书不能续借，请尽快归还',
  hold_waiting: '有其他读者在等这本书，不能续借，请按期归还',
  already_returned: '这本书已经归还了',
  too_many_suggestions: '今天荐购的次数已经够多了，明天再来吧',
  invalid_suggestion: '荐购信息不完整，请填写书名',
  suggestion_changed: '这条荐购刚刚有变化，请刷新后再试',
  title_exists: '书屋里已经有这本书了',
  already_in_catalog: '书屋里已经有这本书了',
  // challenges, logs, boards, reviews
  challenge_not_found: '没有找到这个阅读活动',
  challenge_not_open: '这个活动现在不在进行中',
  invalid_challenge: '没有找到这个阅读活动',
  not_covered: '这个活动不包括你所在的书屋',
  not_joined: '还没有参加这个活动，请先参加',
  participant_not_found: '还没有参加这个活动，请先参加',
  over_daily_cap: '今天记录的阅读量已经到上限了，明天再来吧',
  over_cap: '今天记录的阅读量已经到上限了，明天再来吧',
  read_on_outside_window: '只能记录活动期间、最近几天的阅读',
  title_id_required: '请选择一本书',
  review_exists: '你已经为这本书写过书评了',
  review_not_found: '没有找到这条书评',
  review_erased: '这条书评已被删除',
  content_refused: '内容没有通过检查，请修改后再提交',
  content_risky: '内容没有通过检查，请修改后再提交',
  board_not_kept: '这个排行榜暂时没有数据',
  // contest
  contest_not_found: '没有找到这届比赛',
  contest_closed: '作品征集已经结束了',
  contest_settled: '比赛已经评奖了',
  contest_changed: '比赛状态刚刚有变化，请刷新后再试',
  duplicate_entry: '你已经在这个类别投过稿了',
  entry_not_found: '没有找到这件作品',
  entry_rejected: '这件作品没有通过审核，请删除后重新投稿',
  essay_too_long: '作品字数超过了限制，请删减后再提交',
  text_required: '请填写作品内容',
  text_not_allowed: '这个类别请上传图片作品',
  image_not_needed: '征文作品不需要上传图片',
  image_too_large: '图片太大了，请换一张小一点的（不超过 4 MB）',
  image_too_small: '图片太小了，请换一张清楚一些的',
  unsupported_image: '只能上传 JPG 或 PNG 图片',
  unsupported_image_type: '只能上传 JPG 或 PNG 图片',
  not_an_image: '只能上传 JPG 或 PNG 图片',
  broken_image: '图片无法打开，请换一张',
  empty_image: '请选择一张图片',
  group_mismatch: '年龄组别和作者年龄不符，请重新选择',
  outside_age_groups: '作者年龄不在本次比赛的组别范围内',
  no_certificate: '这件作品没有获奖证书',
  no_teacher: '这件作品没有填写指导老师',
  // notify, surveys, families
  unknown_template: '这个消息提醒已经停用了',
  survey_not_eligible: '暂时不能填写这份问卷',
  round_not_open: '现在不在申报期内',
  not_withdrawable: '申报期已经结束，不能再撤回',
  already_withdrawn: '已经撤回了',
  // generic request problems
  op_id_reused: '请求重复了，请刷新后再试',
  validation_failed: '填写的内容有误，请检查',
  required_field: '还有必填的内容没有填写',
  malformed_json: '请求有误，请稍后再试',
  body_too_large: '内容太多了，请删减一些',
  unsupported_media_type: '文件格式不支持',
  invalid_id: '没有找到',
  invalid_cursor: '列表已经变化，请下拉刷新',
  invalid_dates: '日期不正确',
  role_forbidden: '没有权限进行这个操作',
};

const BY_STATUS = {
  400: '请求有误，请稍后再试',
  401: '登录已过期，请重新进入小程序',
  403: '没有权限进行这个操作',
  404: '没有找到',
  405: '请求有误，请稍后再试',
  409: '信息刚刚有变化，请刷新后再试',
  413: '文件太大，请换一个小一点的',
  415: '文件格式不支持',
  422: '填写的内容有误',
  429: '操作太频繁，请稍后再试',
};
const SERVER_BUSY = '服务器忙，请稍后再试';
const UNKNOWN = '出了点问题，请稍后再试';

// Field names the forms use → what the reader sees.
const FIELD_LABELS = {
  name: '姓名', birth_year: '出生年份', birth_date: '出生日期', home_room: '所属书屋',
  school: '学校', class_name: '班级', relation: '与孩子的关系', consent: '监护人同意',
  phone_code: '手机号', title: '书名', author: '作者', isbn: 'ISBN', publisher: '出版社',
  note: '备注', amount: '阅读量', book_title: '书名', read_on: '阅读日期', member_ids: '孩子',
  member_id: '家庭成员', rating: '评分', text: '内容', category: '类别', group: '组别',
  teacher: '指导老师', phone_contact: '联系电话', reason: '原因', q: '搜索内容',
  pickup_room: '取书书屋', title_id: '图书', results: '订阅结果', answers: '问卷答案',
  comment: '意见', statement: '家庭介绍', family_name: '家庭名称', op_id: '请求编号',
};

const CJK = /[\u4e00-\u9fff]/;
const LATIN_WORD = /[A-Za-z]{3,}/;

const ALLOWED_LATIN = /\b(JPG|JPEG|PNG|PDF|ISBN|MB|KB|QR|AppID|ID)\b/g;

function isChinese(text) {
  return typeof text === 'string' && CJK.test(text) && !LATIN_WORD.test(text.replace(ALLOWED_LATIN, ''));
}

// Drop the English pydantic detail the server keeps in brackets: "必填（Field required）" → "必填".
function cleanFieldMsg(msg) {
  if (typeof msg !== 'string') return '';
  const stripped = msg.replace(/[（(][^（）()]*[A-Za-z]{3,}[^（）()]*[）)]/g, '').trim();
  return isChinese(stripped) ? stripped : '格式不正确';
}

function fieldLabel(loc) {
  const parts = (loc || []).filter((p) => p !== 'body' && p !== 'query' && p !== 'header');
  for (let i = parts.length - 1; i >= 0; i -= 1) {
    if (typeof parts[i] === 'string' && FIELD_LABELS[parts[i]]) return FIELD_LABELS[parts[i]];
  }
  return '';
}

/** [{loc, msg}] from a problem's `errors`, with Chinese messages (loc kept for forms). */
function fieldErrors(problem) {
  const errors = (problem && Array.isArray(problem.errors)) ? problem.errors : [];
  return errors.map((e) => ({ loc: e.loc || [], label: fieldLabel(e.loc), msg: cleanFieldMsg(e.msg) }));
}

function byStatus(status) {
  if (status >= 500) return SERVER_BUSY;
  return BY_STATUS[status] || UNKNOWN;
}

/**
 * The Chinese message for an error answer.
 * @param {number} status HTTP status (0 when there was no answer)
 * @param {object|null} problem the parsed problem+json body, if any
 */
const DETAIL_FIRST = new Set([
  'over_cap', 'read_on_outside_window', 'outside_age_groups', 'not_covered', 'challenge_not_open',
  'essay_too_long', 'group_mismatch', 'duplicate_entry', 'contest_closed', 'content_refused', 'text_not_allowed',
]);

function messageFor(status, problem) {
  const code = problem && typeof problem.code === 'string' ? problem.code : '';
  const fields = fieldErrors(problem);
  if ((status === 422 || status === 400) && fields.length && (!code || code === 'validation_failed')) {
    const f = fields[0];
    return `填写的内容有误：${f.label ? f.label + '：' : ''}${f.msg}`;
  }
  // For these the server's own Chinese detail says more than our table (the limit that applied,
  // per log or per day; the group's character limit), so it comes first.
  if (DETAIL_FIRST.has(code) && problem && isChinese(problem.detail)) return problem.detail;
  if (code && BY_CODE[code]) return BY_CODE[code];
  if (status >= 500) return SERVER_BUSY;
  if (problem && isChinese(problem.detail)) return problem.detail;
  return byStatus(status);
}

module.exports = { messageFor, fieldErrors, byStatus, isChinese, BY_CODE, BY_STATUS, FIELD_LABELS };
