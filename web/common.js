// hotline pages: what the agent page and the test-caller page share.
// Plain browser JavaScript, no build step: everything hangs off one global, HL.
//
//   HL.t(key, params)      the UI text in the chosen language (I18N below)
//   HL.api(method, path)   fetch + JSON + errors in plain words (HL.ApiError)
//   HL.Socket              a websocket with commands/answers and reconnect backoff
//   HL.Meter, HL.RingTone  WebAudio level meters and the incoming-call ring
//   HL.getMic()            the microphone, with its errors in plain words
//   HL.el, HL.fmt*, HL.toast  small DOM and formatting helpers
'use strict';

const HL = (window.HL = {});

// ---------------------------------------------------------------------------
// Text: one dictionary, HL.I18N.zh and HL.I18N.en, filled from TEXT.
// ---------------------------------------------------------------------------

// Every string a person sees, as [Chinese, English]. Server messages
// (error.message, why, cause) are shown as they come, untranslated.
const TEXT = {
  'app.title': ['hotline 坐席', 'hotline agent'],
  'app.sub': ['售后服务热线', 'After-sales hotline'],
  'tc.title': ['hotline 测试来电', 'hotline test caller'],
  'lang.other': ['EN', '中文'],
  'lang.switch': ['Switch to English', '切换到中文'],
  'loading': ['正在加载…', 'Loading…'],

  'login.title': ['登录', 'Sign in'],
  'login.user': ['用户名', 'Username'],
  'login.pass': ['密码', 'Password'],
  'login.submit': ['登录', 'Sign in'],
  'login.busy': ['正在登录…', 'Signing in…'],
  'login.missing': ['请输入用户名和密码。', 'Enter your username and password.'],
  'login.wrong': ['用户名或密码不正确。', 'Wrong username or password.'],
  'login.locked': ['密码错误次数过多，请 {s} 秒后再试。', 'Too many wrong passwords: try again in {s} s.'],
  'login.not_agent': [
    '此页面供坐席和班长使用。你以 {user}（{role}）登录，无法接听电话。',
    'This page is for agents and supervisors. You are signed in as {user} ({role}), who takes no calls.',
  ],
  'login.not_admin': [
    '测试来电仅供管理员使用。你以 {user}（{role}）登录。',
    'The test caller is for administrators. You are signed in as {user} ({role}).',
  ],
  'signout': ['退出登录', 'Sign out'],
  'signout.on_call': [
    '你正在通话中。退出登录后页面不再控制这通电话，确定退出吗？',
    'You are on a call. After signing out this page no longer controls it. Sign out anyway?',
  ],

  'state.logged_out': ['未签入', 'Logged out'],
  'state.ready': ['就绪', 'Ready'],
  'state.not_ready': ['未就绪', 'Not ready'],
  'state.ringing': ['振铃中', 'Ringing'],
  'state.on_call': ['通话中', 'On call'],
  'state.on_hold': ['保持中', 'On hold'],
  'state.consulted': ['被咨询', 'Consulted'],
  'state.wrap_up': ['话后处理', 'Wrap-up'],
  'state.none': ['—', '—'],

  'reason.break': ['休息', 'Break'],
  'reason.meal': ['用餐', 'Meal'],
  'reason.training': ['培训', 'Training'],
  'reason.meeting': ['会议', 'Meeting'],
  'reason.callback': ['回访', 'Callbacks'],
  'reason.login': ['刚登录', 'Just signed in'],
  'reason.disconnected': ['页面已关闭', 'Screen closed'],
  'reason.no_phone': ['未注册话机', 'No phone registered'],
  'reason.missed': ['多次未接', 'Missed calls'],

  'btn.ready': ['就绪', 'Ready'],
  'btn.not_ready': ['未就绪', 'Not ready'],
  'btn.logout_queues': ['签出队列', 'Log out of queues'],
  'reason.pick': ['原因', 'Reason'],

  'conn.open': ['已连接', 'Connected'],
  'conn.connecting': ['正在连接…', 'Connecting…'],
  'conn.waiting': ['连接中断', 'Disconnected'],
  'conn.stopped': ['未连接', 'Not connected'],
  'banner.lost': ['连接已断开 — {s} 秒后重新连接', 'Connection lost — reconnecting in {s} s'],
  'banner.connecting': ['连接已断开 — 正在重新连接…', 'Connection lost — reconnecting…'],
  'banner.reconnect_now': ['立即重连', 'Reconnect now'],
  'banner.replaced': ['此坐席已在另一个窗口中打开，本窗口已停止工作。', 'This desk was opened in another window. This window has stopped.'],
  'banner.replaced_action': ['在此窗口继续', 'Use this window instead'],
  'banner.protocol': [
    '服务器使用的协议版本 {v} 与本页面不符，请刷新页面。',
    'The server speaks protocol version {v}, which this page does not know. Reload the page.',
  ],
  'banner.no_engine': ['服务器当前没有运行呼叫引擎，无法接听电话。', 'The server runs no call engine right now: no calls can be taken.'],
  'banner.forbidden': ['你的账号没有坐席档案，无法接听电话。', 'Your account has no agent profile: it cannot take calls.'],

  'mic.blocked': [
    '麦克风被阻止：请在浏览器的网站设置中允许使用麦克风，或使用桌面话机。',
    "Microphone blocked: allow it in the browser's site settings, or use a desk phone.",
  ],
  'mic.missing': ['找不到麦克风：请连接耳麦，或使用桌面话机。', 'No microphone found: plug in a headset, or use a desk phone.'],
  'mic.busy': [
    '麦克风被其他程序占用：请关闭该程序，或使用桌面话机。',
    'The microphone is in use by another program: close it, or use a desk phone.',
  ],
  'mic.insecure': [
    '浏览器只在 HTTPS 或本机地址上允许使用麦克风：请通过 https:// 打开本页面，或使用桌面话机。',
    'Browsers allow the microphone only over HTTPS or on this machine: open this page with https://, or use a desk phone.',
  ],
  'mic.other': ['无法使用麦克风（{name}）：请使用桌面话机。', 'The microphone cannot be used ({name}): use a desk phone.'],
  'mic.retry': ['重试麦克风', 'Try the microphone again'],

  'phone.browser': ['浏览器话机', 'Browser phone'],
  'phone.desk': ['桌面话机', 'Desk phone'],
  'phone.browser_hint': ['来电在本页面振铃，用耳麦通话。', 'Calls ring in this page; talk through your headset.'],
  'phone.desk_hint': [
    '来电在你的 SIP 桌面话机上振铃，本页面显示来电信息。',
    'Calls ring on your SIP desk phone; this page shows who is calling.',
  ],
  'phone.refused': [
    '服务器尚不支持浏览器话机，请使用桌面话机接听。',
    'The server does not offer the browser phone yet: answer on your desk phone.',
  ],

  'media.label': ['通话音频', 'Call audio'],
  'media.none': ['无', 'none'],
  'media.connecting': ['连接中', 'connecting'],
  'media.connected': ['已连通', 'connected'],
  'media.lost': ['中断，正在恢复', 'lost, recovering'],
  'media.failed': ['失败', 'failed'],
  'media.bad': ['浏览器音频无法建立：{msg}', 'The browser audio could not be set up: {msg}'],
  'meter.mic': ['麦克风', 'Mic'],
  'meter.remote': ['客户', 'Caller'],

  'idle.ready': ['等待来电', 'Waiting for calls'],
  'idle.ready_hint': ['有来电时会响铃，并在中间显示客户资料。', "A call rings here, with the caller's history in the middle."],
  'idle.not_ready': ['未就绪', 'Not ready'],
  'idle.not_ready_hint': ['点击“就绪”（Alt+R）开始接听电话。', 'Press Ready (Alt+R) to take calls.'],
  'idle.logged_out': ['未签入队列', 'Logged out of the queues'],
  'idle.logged_out_hint': ['点击“就绪”签入队列并开始接听。', 'Press Ready to log in to your queues and take calls.'],
  'idle.connecting': ['正在连接服务器…', 'Connecting to the server…'],
  'idle.since': ['已持续 {t}', 'for {t}'],

  'incoming.title': ['来电', 'Incoming call'],
  'incoming.ring_left': ['还将振铃 {s} 秒', 'rings {s} s more'],
  'incoming.queue': ['队列', 'Queue'],
  'incoming.waited': ['已等待', 'Waited'],
  'incoming.digits': ['IVR 按键', 'IVR keys'],
  'incoming.path': ['IVR 路径', 'IVR path'],
  'incoming.language': ['语言', 'Language'],
  'incoming.unknown': ['未知来电', 'Unknown caller'],
  'btn.answer': ['接听', 'Answer'],
  'btn.reject': ['拒接', 'Reject'],
  'answer.desk': ['请拿起桌面话机听筒接听。', 'Lift the handset of your desk phone to answer.'],
  'answer.sound': ['如果听不到铃声，请点击页面任意位置启用声音。', 'No ring? Click anywhere in the page to enable sound.'],

  'call.on_call': ['通话中', 'On call'],
  'call.on_hold': ['保持中', 'On hold'],
  'call.hold_for': ['已保持 {t}', 'on hold for {t}'],
  'btn.mute': ['静音', 'Mute'],
  'btn.unmute': ['取消静音', 'Unmute'],
  'btn.hold': ['保持', 'Hold'],
  'btn.resume': ['恢复通话', 'Resume'],
  'btn.rec_pause': ['暂停录音', 'Pause recording'],
  'btn.rec_resume': ['恢复录音', 'Resume recording'],
  'call.rec_paused': ['录音已暂停（{by}）', 'Recording paused ({by})'],
  'btn.transfer': ['转接', 'Transfer'],
  'btn.hangup': ['挂断', 'Hang up'],
  'mute.desk': ['桌面话机请在话机上静音。', 'Mute a desk phone on the phone itself.'],
  'keypad.title': ['按键（发给客户）', 'Keys (sent to the caller)'],

  'transfer.title': ['转接', 'Transfer'],
  'transfer.queue': ['转到队列', 'To a queue'],
  'transfer.agent': ['转给坐席', 'To an agent'],
  'transfer.number': ['转到外部号码', 'To an outside number'],
  'transfer.go': ['转接', 'Transfer'],
  'transfer.consult': ['先咨询', 'Consult'],
  'transfer.number_ph': ['例如 057187654321', 'e.g. 057187654321'],
  'transfer.no_agents': ['没有其他坐席。', 'No other agents.'],
  'transfer.agents_loading': ['正在读取坐席…', 'Loading agents…'],
  'transfer.refresh': ['刷新', 'Refresh'],
  'transfer.offline': ['离线', 'offline'],
  'transfer.close': ['关闭', 'Close'],
  'transfer.need_number': ['请输入号码。', 'Enter a number.'],
  'consult.with': ['咨询 {name}', 'Consulting {name}'],
  'consult.ringing': ['对方振铃中…', 'Their phone is ringing…'],
  'consult.talking': ['正在与同事通话，客户在听等待音乐。', 'Talking to your colleague; the caller hears music.'],
  'consult.ended': ['咨询已结束：{why}', 'The consultation ended: {why}'],
  'consult.complete': ['完成转接', 'Complete transfer'],
  'consult.cancel': ['取消，回到客户', 'Cancel, back to the caller'],
  'consulted.title': ['同事咨询', 'A colleague consults you'],
  'consulted.hint': [
    '一位同事想与你讨论这通来电。接听后你们可以通话，客户在听等待音乐；由同事决定是否把客户转给你。',
    'A colleague wants to talk about this call. Once you answer, you two talk while the caller hears music; they decide whether to hand the caller to you.',
  ],
  'consulted.talking': ['正在与同事通话。', 'Talking to your colleague.'],

  'wrap.title': ['话后处理', 'Wrap-up'],
  'wrap.left': ['剩余 {t}', '{t} left'],
  'wrap.ended': ['通话已结束：{cause}', 'The call ended: {cause}'],
  'wrap.disposition': ['处理结果', 'Disposition'],
  'wrap.pick': ['请选择…', 'Choose…'],
  'wrap.notes': ['备注', 'Notes'],
  'wrap.notes_ph': ['客户的问题、已做的处理、后续事项…', 'What the caller needed, what you did, what comes next…'],
  'wrap.done': ['完成', 'Done'],
  'wrap.extend': ['+60 秒', '+60 s'],
  'wrap.need_disposition': ['请选择处理结果。', 'Choose how the call ended.'],
  'disp.resolved': ['已解决', 'Resolved'],
  'disp.ticket_opened': ['已建工单', 'Ticket opened'],
  'disp.callback_needed': ['需要回电', 'Callback needed'],
  'disp.transferred': ['已转接', 'Transferred'],
  'disp.no_fault': ['无故障', 'No fault'],
  'disp.wrong_number': ['打错电话', 'Wrong number'],
  'disp.other': ['其他', 'Other'],

  'pop.empty': ['当前没有来电。', 'No call right now.'],
  'pop.empty_hint': [
    '来电振铃时，这里显示客户资料、产品、未结工单和来电记录。',
    "When a call rings, the caller's details, products, open tickets and past calls show here.",
  ],
  'pop.unknown': ['未知来电：此号码不属于任何客户。', 'Unknown caller: this number belongs to no customer.'],
  'pop.unavailable': ['暂时无法读取客户资料。', "The caller's history could not be read just now."],
  'pop.region': ['地区', 'Region'],
  'pop.address': ['地址', 'Address'],
  'pop.phones': ['电话', 'Phones'],
  'pop.call': ['本次来电', 'This call'],
  'pop.products': ['产品', 'Products'],
  'pop.no_products': ['没有登记的产品。', 'No products registered.'],
  'pop.model': ['型号', 'Model'],
  'pop.serial': ['序列号', 'Serial'],
  'pop.bought': ['购买日期', 'Bought'],
  'pop.warranty': ['保修', 'Warranty'],
  'pop.in_warranty': ['保修期内（至 {d}）', 'In warranty (to {d})'],
  'pop.out_warranty': ['已过保（{d} 到期）', 'Out of warranty (ended {d})'],
  'pop.warranty_unknown': ['未知', 'Unknown'],
  'pop.tickets': ['未结工单', 'Open tickets'],
  'pop.no_tickets': ['没有未结工单。', 'No open tickets.'],
  'pop.ticket_no': ['单号', 'Number'],
  'pop.kind': ['类型', 'Kind'],
  'pop.stage': ['阶段', 'Stage'],
  'pop.outlet': ['网点', 'Outlet'],
  'pop.due': ['时限', 'Due'],
  'pop.overdue': ['已超时', 'Overdue'],
  'pop.calls': ['最近来电', 'Recent calls'],
  'pop.no_calls': ['没有来电记录。', 'No earlier calls.'],
  'pop.time': ['时间', 'Time'],
  'pop.result': ['结果', 'Result'],
  'pop.answered': ['已接通 {d}', 'Answered {d}'],
  'pop.missed': ['未接通', 'Not answered'],
  'pop.disposition': ['处理结果', 'Disposition'],

  'kind.repair': ['维修', 'Repair'],
  'kind.installation': ['安装', 'Installation'],
  'kind.consultation': ['咨询', 'Consultation'],
  'kind.complaint': ['投诉', 'Complaint'],
  'stage.accepted': ['已受理', 'Accepted'],
  'stage.dispatched': ['已派单', 'Dispatched'],
  'stage.in_service': ['服务中', 'In service'],
  'stage.completed': ['已完工', 'Completed'],
  'stage.followed_up': ['已回访', 'Followed up'],
  'stage.closed': ['已关闭', 'Closed'],
  'stage.reopened': ['已重开', 'Reopened'],
  'queue.repair': ['维修', 'Repair'],
  'queue.installation': ['安装', 'Installation'],
  'queue.complaint': ['投诉', 'Complaint'],
  'queue.general': ['综合', 'General'],
  'lang.zh': ['中文', 'Mandarin'],
  'lang.en': ['英语', 'English'],

  'ticket.title': ['工单', 'Ticket'],
  'ticket.new': ['新建工单', 'New ticket'],
  'ticket.update': ['更新已有工单', 'Update a ticket'],
  'ticket.pick': ['工单', 'Ticket'],
  'ticket.kind': ['类型', 'Kind'],
  'ticket.category': ['故障类别', 'Fault'],
  'ticket.category_complaint': ['投诉主题', 'Complaint subject'],
  'ticket.category_ph': ['例如 不加热、漏水、上门安装', 'e.g. not heating, leaking, installation'],
  'ticket.product': ['产品', 'Product'],
  'ticket.no_product': ['不指定产品', 'No particular product'],
  'ticket.description': ['问题描述', 'Description'],
  'ticket.description_ph': [
    '客户描述的问题、故障现象、方便上门的时间…',
    'What the caller describes, the symptoms, when a visit suits them…',
  ],
  'ticket.create': ['创建工单', 'Open ticket'],
  'ticket.save': ['保存修改', 'Save changes'],
  'ticket.created': ['工单 {n} 已创建。', 'Ticket {n} opened.'],
  'ticket.saved': ['工单 {n} 已保存。', 'Ticket {n} saved.'],
  'ticket.conflict': [
    '在你编辑期间，别人修改了工单 {n}。已重新读取最新内容，请核对后再保存。',
    'Someone else changed ticket {n} while you were editing. It has been reloaded: check it and save again.',
  ],
  'ticket.loading': ['正在读取工单…', 'Loading the ticket…'],
  'ticket.fix': ['请修改标出的内容。', 'Correct the marked fields.'],
  'form.required': ['必填', 'Required'],
  'ticket.no_call': ['接通来电后可在这里建单。', 'Tickets are opened here during a call.'],
  'customer.new_title': ['未知来电：先建立客户档案，再建工单。', 'Unknown caller: create the customer first, then the ticket.'],
  'customer.name': ['客户姓名', 'Name'],
  'customer.phone': ['电话', 'Phone'],
  'customer.region': ['地区', 'Region'],
  'customer.region_ph': ['例如 浙江省杭州市西湖区', 'e.g. 浙江省杭州市西湖区'],
  'customer.address': ['地址', 'Address'],
  'customer.create': ['建立客户档案', 'Create customer'],
  'customer.created': ['客户 {name} 已建立。', 'Customer {name} created.'],

  'kb.title': ['知识库', 'Knowledge base'],
  'kb.placeholder': ['搜索知识库，例如 漏水、E4', 'Search articles, e.g. leak, E4, 漏水'],
  'kb.none': ['没有找到相关文章。', 'No articles found.'],
  'kb.searching': ['正在搜索…', 'Searching…'],
  'kb.back': ['← 返回结果', '← Back to results'],
  'kb.tags': ['标签', 'Tags'],
  'kb.models': ['适用型号', 'Models'],

  'incoming.campaign': ['外呼 {c}', 'We called: {c}'],
  'preview.title': ['待外呼', 'Calls to make'],
  'preview.next': ['下一个', 'Next'],
  'preview.call': ['呼叫', 'Call'],
  'preview.none': ['暂无待呼叫的客户。', 'Nobody to call now.'],
  'preview.ticket': ['工单 {n}', 'Ticket {n}'],
  'preview.attempts': ['已呼叫 {n} 次', '{n} attempts so far'],
  'preview.calling': ['正在呼叫 {n}，客户接听后振铃。', 'Calling {n}: your phone rings when they answer.'],
  'recent.title': ['我最近的通话', 'My recent calls'],
  'recent.refresh': ['刷新', 'Refresh'],
  'recent.none': ['还没有接听过电话。', 'You have answered no calls yet.'],
  'recent.talk': ['通话 {d}', 'talked {d}'],

  'err.network': ['无法连接服务器，请检查网络。', 'The server cannot be reached: check the network.'],
  'err.http': ['服务器返回错误（{status}）。', 'The server answered with an error ({status}).'],
  'err.session': ['登录已过期，请重新登录。', 'Your session has ended: sign in again.'],
  'err.cmd': ['操作未完成：{msg}', 'Not done: {msg}'],
  'err.not_connected': ['尚未连接服务器，请稍候再试。', 'Not connected to the server yet: try again in a moment.'],

  'tc.caller': ['主叫号码', 'Caller number'],
  'tc.call': ['呼叫热线', 'Call the hotline'],
  'tc.hangup': ['挂断', 'Hang up'],
  'tc.remote': ['热线声音', 'Hotline'],
  'tc.keypad': ['按键', 'Keypad'],
  'tc.hint': [
    '以客户身份通过浏览器拨打热线，进入 IVR 菜单；用按键选择，按 0 转人工。',
    'Call the hotline from this browser as a customer: you reach the IVR menus; use the keypad to choose, 0 for an agent.',
  ],
  'tc.state.idle': ['空闲', 'Idle'],
  'tc.state.starting': ['正在准备…', 'Preparing…'],
  'tc.state.connecting': ['正在接通…', 'Connecting…'],
  'tc.state.ringing': ['振铃中…', 'Ringing…'],
  'tc.state.answered': ['通话中', 'In call'],
  'tc.state.ended': ['已结束', 'Ended'],
  'tc.state.failed': ['失败', 'Failed'],
  'tc.ended_cause': ['已结束：{cause}', 'Ended: {cause}'],
  'tc.need_caller': ['请输入主叫号码。', 'Enter the caller number.'],

  'qa.title': ['hotline 质检', 'hotline QA'],
  'qa.brand': ['通话质检', 'Call review'],
  'qa.not_for_you': [
    '此页面供质检员、班长和坐席使用。你以 {user}（{role}）登录，无权查看通话录音。',
    'This page is for QA, supervisors and agents. You are signed in as {user} ({role}), who may not review calls.',
  ],
  'qa.own_only': [
    '你看到的是自己接听的通话及其评分和评语（只读）。',
    'You see the calls you answered, with their scores and comments (read-only).',
  ],
  'qa.role.qa': ['质检员', 'QA'],
  'qa.role.supervisor': ['班长', 'Supervisor'],
  'qa.role.admin': ['管理员', 'Admin'],
  'qa.role.agent': ['坐席', 'Agent'],
  'qa.tab.search': ['查找通话', 'Search'],
  'qa.tab.sample': ['每日抽检', 'Daily sample'],
  'qa.tab.call': ['通话', 'Call'],
  'qa.f.from': ['开始日期', 'From'],
  'qa.f.to': ['结束日期', 'To'],
  'qa.f.agent': ['坐席', 'Agent'],
  'qa.f.queue': ['队列', 'Queue'],
  'qa.f.phone': ['客户电话', 'Customer phone'],
  'qa.f.customer': ['客户姓名', 'Customer name'],
  'qa.f.ticket': ['工单号', 'Ticket number'],
  'qa.f.disposition': ['处理结果', 'Disposition'],
  'qa.f.secs': ['时长（秒）', 'Length (seconds)'],
  'qa.f.score': ['得分', 'Score'],
  'qa.f.min': ['最小', 'min'],
  'qa.f.max': ['最大', 'max'],
  'qa.f.unreviewed': ['仅未评分', 'Not yet reviewed'],
  'qa.any': ['全部', 'Any'],
  'qa.any_agent': ['全部坐席', 'Any agent'],
  'qa.search': ['查找', 'Search'],
  'qa.reset': ['清空条件', 'Clear'],
  'qa.results': ['通话录音', 'Recorded calls'],
  'qa.searching': ['正在查找…', 'Searching…'],
  'qa.found': ['共 {n} 通', '{n} calls'],
  'qa.found_one': ['共 1 通', '1 call'],
  'qa.none': ['没有符合条件的通话。', 'No calls match.'],
  'qa.prev': ['‹ 上一页', '‹ Previous'],
  'qa.next': ['下一页 ›', 'Next ›'],
  'qa.col.time': ['来电时间', 'Time'],
  'qa.col.caller': ['客户', 'Caller'],
  'qa.col.agent': ['坐席', 'Agent'],
  'qa.col.queue': ['队列', 'Queue'],
  'qa.col.length': ['时长', 'Length'],
  'qa.col.disposition': ['处理结果', 'Disposition'],
  'qa.col.recording': ['录音', 'Recording'],
  'qa.col.score': ['得分', 'Score'],
  'qa.unreviewed': ['未评分', 'Not reviewed'],
  'qa.talk': ['通话', 'Talk'],
  'qa.sample.title': ['今日待检通话', 'Calls offered for review'],
  'qa.sample.hint': ['每位坐席随机抽取若干通当天的录音，供质检评分。', 'A few recorded calls of each agent on the day, picked at random for review.'],
  'qa.sample.date': ['日期', 'Date'],
  'qa.sample.per_agent': ['每位坐席', 'Per agent'],
  'qa.sample.load': ['抽取', 'Pick'],
  'qa.sample.count': ['{date}：{n} 通待检', '{date}: {n} calls to review'],
  'qa.sample.none': ['{date} 没有可抽检的录音。', 'No recorded calls to review on {date}.'],
  'qa.back': ['← 返回列表', '← Back to the list'],
  'qa.keys': ['空格 播放/暂停 · ←/→ 5 秒', 'Space play/pause · ←/→ 5 s'],
  'qa.download': ['下载录音', 'Download'],
  'qa.lane.caller': ['客户', 'Caller'],
  'qa.lane.heard': ['客户听到', 'Heard'],
  'qa.wave.hint': ['点击波形跳转到该时刻', 'Click the waveform to jump there'],
  'qa.wave.loading': ['正在读取录音…', 'Loading the recording…'],
  'qa.paused': ['暂停录音', 'paused'],
  'qa.group.ivr': ['语音导航', 'IVR'],
  'qa.group.keys': ['按键', 'Keys'],
  'qa.group.queue': ['排队/振铃', 'Queue'],
  'qa.group.agent': ['坐席接听', 'Agent answers'],
  'qa.group.hold': ['保持', 'Hold'],
  'qa.group.transfer': ['转接/咨询', 'Transfer'],
  'qa.group.recording': ['录音暂停/恢复', 'Recording paused'],
  'qa.group.hangup': ['挂机', 'Hang-up'],
  'qa.group.comment': ['评语', 'Comment'],
  'qa.group.paused': ['未录音', 'Not recorded'],
  'qa.kind.prompt': ['播放提示音', 'Prompt'],
  'qa.kind.menu': ['菜单', 'Menu'],
  'qa.kind.dtmf': ['按键', 'Key pressed'],
  'qa.kind.queued': ['进入队列', 'Queued'],
  'qa.kind.offered': ['坐席振铃', 'Offered to agent'],
  'qa.kind.agent-answered': ['坐席接听', 'Agent answered'],
  'qa.kind.agent-hold': ['坐席保持', 'Agent hold'],
  'qa.kind.agent-resume': ['坐席恢复', 'Agent resume'],
  'qa.kind.hold': ['保持', 'Hold'],
  'qa.kind.resume': ['恢复', 'Resume'],
  'qa.kind.transfer': ['转接', 'Transfer'],
  'qa.kind.consult': ['咨询', 'Consult'],
  'qa.kind.recording-paused': ['录音暂停', 'Recording paused'],
  'qa.kind.recording-resumed': ['录音恢复', 'Recording resumed'],
  'qa.kind.hangup': ['挂机', 'Hang-up'],
  'qa.facts': ['录音信息', 'Recording'],
  'qa.fact.state': ['状态', 'State'],
  'qa.fact.duration': ['时长', 'Length'],
  'qa.fact.started': ['开始', 'Started'],
  'qa.fact.size': ['大小', 'Size'],
  'qa.fact.channels': ['声道', 'Channels'],
  'qa.fact.channels_text': ['左：客户 · 右：语音导航和坐席（{agents}）', 'left: the caller · right: IVR and agents ({agents})'],
  'qa.fact.format': ['格式', 'Format'],
  'qa.fact.stereo': ['立体声', 'stereo'],
  'qa.fact.mono': ['单声道', 'mono'],
  'qa.fact.hold': ['法律保全', 'Legal hold'],
  'qa.fact.hold_yes': ['保全中，不会被删除', 'held: never deleted'],
  'qa.fact.hold_no': ['否', 'no'],
  'qa.fact.note': ['说明', 'Note'],
  'qa.rec.state.complete': ['完整', 'complete'],
  'qa.rec.state.cut_off': ['被中断', 'cut off'],
  'qa.rec.state.recording': ['录音中', 'recording'],
  'qa.rec.none_short': ['无录音', 'none'],
  'qa.rec.hold_short': ['保全', 'hold'],
  'qa.rec.none': ['这通电话没有录音。', 'This call was not recorded.'],
  'qa.rec.live': ['通话仍在进行，录音尚未结束。', 'The call is still going on: the recording is not finished.'],
  'qa.rec.cut_off': [
    '此录音因服务器停止而被中断：结尾部分缺失。',
    'This recording was cut off by a server stop: its end is missing.',
  ],
  'qa.rec.cut_off_short': ['因服务器停止而中断', 'cut off by a server stop'],
  'qa.score.title': ['评分', 'Score'],
  'qa.score.note': ['评语', 'Note'],
  'qa.score.note_ph': ['总体评价、改进建议…', 'Overall impression, what to improve…'],
  'qa.score.save': ['保存评分', 'Save score'],
  'qa.score.saved': ['评分已保存：{total} 分。', 'Score saved: {total}.'],
  'qa.score.saved_total': ['得分', 'Total'],
  'qa.score.preview': ['未保存', 'Not saved'],
  'qa.score.failed': ['致命项未达标', 'fatal item not met'],
  'qa.score.fatal': ['致命项', 'fatal'],
  'qa.score.fatal_short': ['致命', 'fatal'],
  'qa.score.fatal_hint': ['此项未达标则总分为 0', 'Not met: the total is 0'],
  'qa.score.weight': ['权重', 'Weight'],
  'qa.score.met': ['达标', 'met'],
  'qa.score.missed': ['未达标', 'not met'],
  'qa.score.no_cards': ['没有配置评分表。', 'No scorecards are configured.'],
  'qa.score.readonly': ['评分和评语由质检员填写，这里只供查看。', 'Scores and comments are written by QA; here they are read-only.'],
  'qa.scores': ['已有评分', 'Scores'],
  'qa.scores.none': ['还没有评分。', 'Not scored yet.'],
  'qa.scores.by': ['{who} · {when}', '{who} · {when}'],
  'qa.comments': ['时间点评语', 'Comments'],
  'qa.comments.none': ['还没有评语。', 'No comments yet.'],
  'qa.comment.placeholder': ['在当前播放位置写评语…', 'A comment at the current moment…'],
  'qa.comment.add': ['添加评语', 'Comment'],
  'qa.comment.at': ['@ {t}', 'at {t}'],
  'qa.comment.seek': ['跳到这一刻', 'Jump to this moment'],
  'qa.comment.empty': ['请先写下评语。', 'Write the comment first.'],
  'qa.err.forbidden': ['你无权收听这通电话。', 'You may not listen to this call.'],
  'qa.err.forbidden_qa': ['你无权查看这通电话的评分和评语。', "You may not see this call's scores and comments."],
  'qa.err.forbidden_score': ['你无权为这通电话评分。', 'You may not score this call.'],
  'qa.err.forbidden_comment': ['你无权为这通电话写评语。', 'You may not comment on this call.'],
  'qa.err.no_call': ['找不到这通电话。', 'There is no such call.'],
  'qa.err.no_recording': ['这通电话没有录音文件。', 'There is no recording of this call.'],
  'qa.err.range': ['无法从该位置读取录音（416）。', 'The recording cannot be read from that point (416).'],
  'qa.err.play': ['录音无法播放：{msg}', 'The recording cannot be played: {msg}'],
  'qa.err.wav': ['录音文件无法读取：{msg}', 'The recording file cannot be read: {msg}'],
  'qa.err.dates': ['开始日期不能晚于结束日期。', 'The start date is after the end date.'],
  'qa.err.range_order': ['最小值不能大于最大值。', 'A minimum is larger than its maximum.'],
  'qa.err.whole_number': ['时长和得分请填写整数。', 'Lengths and scores are whole numbers.'],

  // The campaigns page (/campaigns, supervisors and admins).
  'cp.title': ['hotline 外呼活动', 'hotline campaigns'],
  'cp.brand': ['外呼活动', 'Outbound campaigns'],
  'cp.not_for_you': [
    '此页面供班长和管理员使用。你以 {user}（{role}）登录，无权管理外呼活动。',
    'This page is for supervisors and admins. You are signed in as {user} ({role}), who may not run campaigns.',
  ],
  'cp.refresh': ['刷新', 'Refresh'],
  'cp.range.title': ['统计区间', 'Figures for'],
  'cp.range.from': ['从', 'From'],
  'cp.range.to': ['到', 'To'],
  'cp.range.show': ['统计', 'Show'],
  'cp.range.default': ['最近 30 天', 'Last 30 days'],
  'cp.range.note': ['按服务台时区的日期，含首尾两天，最长 366 天。', "Days in the service desk's time zone, both ends included, at most 366 days."],
  'cp.range.order': ['开始日期不能晚于结束日期。', 'The first day is after the last day.'],
  'cp.range.failed': ['无法统计：{msg}', 'No figures: {msg}'],
  'cp.none': ['没有配置外呼活动（配置文件中的 [[campaigns]]）。', 'No campaigns are configured ([[campaigns]] in the configuration file).'],
  'cp.list_failed': ['无法读取外呼活动：{msg}', 'The campaigns cannot be read: {msg}'],

  'cp.kind.survey': ['满意度回访', 'Satisfaction survey'],
  'cp.kind.preview': ['预览外呼', 'Preview'],
  'cp.kind.progressive': ['渐进式外呼', 'Progressive'],
  'cp.kind.callbacks': ['客户回拨', 'Call-backs'],
  'cp.target.survey': ['回访流程', 'Survey flow'],
  'cp.target.queue': ['坐席队列', 'Agent queue'],
  'cp.caller_id': ['外显号码', 'Caller id'],
  'cp.limits': ['同时外呼 {c} 路 · 每个客户最多 {a} 次', '{c} calls at once · at most {a} attempts a contact'],

  'cp.state.running': ['运行中', 'Running'],
  'cp.state.paused': ['已暂停', 'Paused'],
  'cp.state.stopped': ['已停止', 'Stopped'],
  'cp.state.by': ['{by} 于 {at} 设置', 'set by {by} at {at}'],
  'cp.state.never': ['未曾切换，默认运行', 'never switched: running by default'],
  'cp.state.final': ['已停止的活动不再拨打任何人，也不能恢复。', 'A stopped campaign dials nobody again and cannot be resumed.'],
  'cp.pause': ['暂停', 'Pause'],
  'cp.resume': ['恢复', 'Resume'],
  'cp.stop': ['停止…', 'Stop…'],
  'cp.switch_failed': ['未能切换：{msg}', 'Not switched: {msg}'],
  'cp.switched': ['{name}：{state}', '{name}: {state}'],
  'cp.stop.title': ['停止外呼活动 {name}？', 'Stop campaign {name}?'],
  'cp.stop.text': [
    '停止后，此活动不再拨打任何客户，且无法恢复；正在进行的通话会继续。只想暂时停下请用“暂停”。',
    'Once stopped, the campaign dials nobody again and cannot be resumed; calls up now go on. To halt it for a while, pause it instead.',
  ],
  'cp.stop.confirm': ['停止，不再恢复', 'Stop for good'],
  'cp.stop.cancel': ['取消', 'Cancel'],

  'cp.contacts': ['联系人', 'Contacts'],
  'cp.contact.waiting': ['等待拨打', 'Waiting'],
  'cp.contact.dialling': ['拨打中', 'Dialling'],
  'cp.contact.reached': ['已接通', 'Reached'],
  'cp.contact.gave_up': ['已放弃', 'Gave up'],
  'cp.contact.closed': ['已关闭', 'Closed'],
  'cp.figures': ['统计', 'Figures'],
  'cp.figures.loading': ['正在统计…', 'Counting…'],
  'cp.figures.survey': ['工单回访（全服务台）', 'Ticket follow-ups (whole desk)'],
  'cp.fig.attempts': ['外呼次数', 'Attempts'],
  'cp.fig.answered': ['接通', 'Answered'],
  'cp.fig.answer_rate': ['接通率', 'Answer rate'],
  'cp.fig.contacts_dialled': ['拨打客户数', 'Contacts dialled'],
  'cp.fig.attempts_per_contact': ['人均外呼次数', 'Attempts per contact'],
  'cp.fig.tickets_completed': ['完工工单', 'Tickets completed'],
  'cp.fig.followed_up': ['已回访', 'Followed up'],
  'cp.fig.coverage': ['回访覆盖率', 'Coverage'],
  'cp.fig.scores': ['评分分布', 'Scores'],
  'cp.fig.satisfied': ['满意', 'Satisfied'],
  'cp.fig.satisfaction_rate': ['满意率', 'Satisfaction rate'],
  'cp.fig.none': ['—', '—'],

  'cp.defs.title': ['统计口径', 'What the figures mean'],
  'cp.defs.intro': [
    '所有数字均按所选区间统计（服务台时区的日期，含首尾两天）；除不尽时显示“—”。',
    "Every figure counts the days chosen (in the service desk's time zone, both ends included); “—” where there is nothing to divide by.",
  ],
  'cp.def.attempts': [
    '此活动在区间内开始的外呼通话数。跨越午夜的通话按开始时间计入。',
    'Outbound calls of the campaign that started in the range. A call spanning midnight counts on the day it started.',
  ],
  'cp.def.answered': ['其中客户接听的通话数（结果为“已接通”）。', 'Of those, the calls the customer answered (outcome answered).'],
  'cp.def.answer_rate': ['接通 ÷ 外呼次数。', 'Answered ÷ attempts.'],
  'cp.def.contacts_dialled': ['区间内至少被拨打过一次的不同联系人数。', 'Distinct contacts with at least one attempt in the range.'],
  'cp.def.attempts_per_contact': ['外呼次数 ÷ 拨打客户数。', 'Attempts ÷ contacts dialled.'],
  'cp.def.tickets_completed': [
    '仅回访活动：区间内完工的工单数（全服务台）。工单重开后再次完工，再计一次。',
    'Survey campaigns only: tickets completed in the range, across the whole desk. A ticket reopened and completed again counts again.',
  ],
  'cp.def.followed_up': [
    '其中此后已回访的（无论由回访活动还是坐席完成，也无论回访发生在何时）。',
    'Of those completions, the ones followed up since — by the survey or by an agent, whenever that was.',
  ],
  'cp.def.coverage': ['已回访 ÷ 完工工单。', 'Followed up ÷ tickets completed.'],
  'cp.def.scores': ['区间内给出的回访评分，按 1 至 5 分计数。', 'Follow-up scores given in the range, counted for each of 1 to 5.'],
  'cp.def.satisfied': ['其中不低于 {n} 分的评分数（服务台的满意线）。', "Of those, the scores of {n} or more (the desk's satisfied threshold)."],
  'cp.def.satisfaction_rate': ['满意 ÷ 区间内的评分总数。', 'Satisfied ÷ all scores given in the range.'],

  'cp.add.title': ['添加联系人', 'Add a contact'],
  'cp.add.hint': [
    '立即到期，排在已等待的联系人之后。号码须符合活动的拨打规则，且不在免打扰名单上。',
    'Due at once, in line after those already waiting. The number must fit the campaign’s dial rules and not be on the do-not-call list.',
  ],
  'cp.add.campaign': ['活动', 'Campaign'],
  'cp.add.phone': ['电话', 'Phone'],
  'cp.add.ticket': ['工单号（可选）', 'Ticket (optional)'],
  'cp.add.ticket_ph': ['例如 2611250001', 'e.g. 2611250001'],
  'cp.add.submit': ['添加', 'Add'],
  'cp.add.done': ['已将 {number} 加入 {campaign}。', '{number} added to {campaign}.'],
  'cp.add.failed': ['未添加：{msg}', 'Not added: {msg}'],
  'cp.phone_ph': ['例如 13900000001', 'e.g. 13900000001'],
  'cp.need_phone': ['请输入电话号码。', 'Enter a phone number.'],
  'cp.dnc.title': ['免打扰名单', 'Do not call'],
  'cp.dnc.hint': ['名单上的号码不会再被任何外呼活动拨打（每次拨打前都会检查）。', 'No campaign dials a number on the list again (checked at every dial).'],
  'cp.dnc.phone': ['电话', 'Phone'],
  'cp.dnc.reason': ['原因（可选）', 'Reason (optional)'],
  'cp.dnc.reason_ph': ['例如 客户要求不再来电', 'e.g. the customer asked not to be called'],
  'cp.dnc.submit': ['加入名单', 'Add to the list'],
  'cp.dnc.done': ['{number} 已加入免打扰名单。', '{number} is on the do-not-call list.'],
  'cp.dnc.failed': ['未加入：{msg}', 'Not added: {msg}'],

  // The supervisors' pages, linked from each other's top bar.
  'nav.wallboard': ['实时监控', 'Wallboard'],
  'nav.campaigns': ['外呼活动', 'Campaigns'],
  'nav.reports': ['统计报表', 'Reports'],
  'nav.qa': ['质检', 'QA'],

  // The wallboard (/wallboard, supervisors and admins).
  'wb.title': ['hotline 实时监控', 'hotline wallboard'],
  'wb.brand': ['实时监控', 'Live wallboard'],
  'wb.not_for_you': [
    '此页面供班长和管理员使用。你以 {user}（{role}）登录，无权查看实时监控。',
    'This page is for supervisors and admins. You are signed in as {user} ({role}), who may not watch the wallboard.',
  ],
  'wb.stale': ['数据未更新，正在重新连接…', 'Not updating: reconnecting…'],
  'wb.totals': ['全部队列', 'All queues'],
  'wb.fig.waiting': ['排队', 'Waiting'],
  'wb.fig.longest': ['最长等待', 'Longest wait'],
  'wb.fig.service_level': ['今日服务水平', 'Service level today'],
  'wb.fig.target': ['目标 {s} 秒内 {p}%', 'target {p}% in {s} s'],
  'wb.fig.answered': ['今日接听', 'Answered today'],
  'wb.fig.abandoned': ['今日放弃', 'Abandoned today'],
  'wb.fig.asa': ['平均应答速度', 'Avg. speed of answer'],
  'wb.fig.agents': ['就绪 / 在岗', 'Ready / staffed'],
  'wb.fig.on_call': ['{n} 人通话中', '{n} on calls'],
  'wb.fig.handled': ['今日处理', 'Handled today'],
  'wb.fig.alerts': ['告警', 'Alerts'],
  'wb.alerts': ['告警', 'Alerts'],
  'wb.alerts.none': ['一切正常', 'All clear'],
  'wb.alert.service_level': ['{queue}：今日服务水平 {sl}，低于目标 {target}', '{queue}: service level {sl} today, below the {target} target'],
  'wb.alert.long_wait': ['{caller} 在{queue}队列已等待 {t}', '{caller} has waited {t} in {queue}'],
  'wb.alert.not_ready': ['{name} 未就绪（{reason}）已 {t}', '{name} not ready ({reason}) for {t}'],
  'wb.alert.sla_breach': ['工单 {ticket} 超时（{stage}，时限 {due}）', 'Ticket {ticket} overdue ({stage}, due {due})'],
  'wb.alert.new': ['新', 'new'],
  'wb.breaches_today': ['今日工单超时共 {n} 单', '{n} SLA breaches today'],
  'wb.agents': ['坐席', 'Agents'],
  'wb.agents.none': ['本次启动后还没有坐席登录。', 'No agent has opened their screen since the server started.'],
  'wb.agent.handled': ['今日 {n} 通', '{n} today'],
  'wb.agent.offline': ['页面已关闭', 'screen closed'],
  'wb.calls': ['进行中的通话', 'Calls in progress'],
  'wb.calls.none': ['当前没有通话。', 'No calls right now.'],
  'wb.col.call': ['通话', 'Call'],
  'wb.col.caller': ['客户', 'Caller'],
  'wb.col.queue': ['队列', 'Queue'],
  'wb.col.agent': ['坐席', 'Agent'],
  'wb.col.state': ['状态', 'State'],
  'wb.col.duration': ['时长', 'Duration'],
  'wb.col.monitor': ['监听', 'Listen in'],
  'wb.fig.monitor': ['监听 / 耳语 / 强插', 'Listen / whisper / barge'],
  'wb.monitor.listen': ['监听', 'Listen'],
  'wb.monitor.whisper': ['耳语', 'Whisper'],
  'wb.monitor.barge': ['强插', 'Barge'],
  'wb.monitor.leave': ['退出', 'Leave'],
  'wb.monitor.by': ['{name}：{mode}', '{name}: {mode}'],
  'wb.monitor.ringing': ['请接听您的话机', 'answer your phone'],
  'wb.def.monitor': [
    '监听：您听到双方，无人听到您；耳语：只有坐席听到您；强插：三方通话。首次会呼叫您注册的话机，切换模式不会中断通话；每次操作记入通话时间线。',
    'Listen: you hear both sides, nobody hears you. Whisper: only the agent hears you. Barge: all three talk. Your registered phone rings the first time; switching never drops anyone; every use is on the call\'s timeline.',
  ],
  'wb.call.dialling': ['外呼中', 'Dialling'],
  'wb.call.ivr': ['语音导航', 'In the IVR'],
  'wb.call.waiting': ['排队中', 'Waiting'],
  'wb.call.ringing': ['振铃中', 'Ringing'],
  'wb.call.talking': ['通话中', 'Talking'],
  'wb.call.on_hold': ['保持中', 'On hold'],
  'wb.waited': ['已等 {t}', 'waited {t}'],
  'wb.defs.title': ['统计口径', 'What the figures mean'],
  'wb.def.waiting': ['此刻在队列中等待坐席的来电（含正在振铃的）。', 'Callers in the queue now, waiting for an agent (ringing ones included).'],
  'wb.def.longest': ['此刻排队来电中等待最久的时长。', 'The longest wait of the callers in the queue now.'],
  'wb.def.service_level': [
    '今日 {s} 秒内接听的来电 ÷（今日接听 + 今日放弃）。目标 {p}%。',
    'Calls answered within {s} s today ÷ (answered + abandoned today). The target is {p}%.',
  ],
  'wb.def.answered': [
    '今日由坐席接听的来电（按接听时间计；转接后再次接听不重复计）。',
    'Calls an agent answered today (by the time of the answer; answered again after a transfer counts once).',
  ],
  'wb.def.abandoned': [
    '今日进入队列后、未经坐席接听就结束的来电（客户挂机，或队列溢出/超时离开），按结束时间计。',
    'Calls that joined a queue and ended today without an agent answering (the caller hung up, or overflow sent them on).',
  ],
  'wb.def.asa': ['今日接听来电在队列中的平均等待时间。', 'The average wait in the queue of the calls answered today.'],
  'wb.def.agents': ['签入该队列且就绪的坐席 / 签入该队列的坐席。', 'Agents logged in to the queue and ready / logged in to it.'],
  'wb.def.handled': ['坐席今日接听（含转接接手）的来电。', 'Calls the agent answered (or took over in a transfer) today.'],
  'wb.def.alerts': [
    '服务水平低于目标；来电等待超过 {w} 秒；坐席未就绪超过 {m} 分钟（页面打开时）；今日工单超出时限。条件消失告警即撤销。',
    'Service level below target; a caller waiting over {w} s; an agent not ready over {m} min (screen open); a ticket past its SLA today. An alert goes when its cause does.',
  ],
};

HL.I18N = { zh: {}, en: {} };
for (const [key, [zh, en]] of Object.entries(TEXT)) {
  HL.I18N.zh[key] = zh;
  HL.I18N.en[key] = en;
}

const LANG_KEY = 'hotline.lang';

function initialLang() {
  const saved = localStorage.getItem(LANG_KEY);
  if (saved === 'zh' || saved === 'en') return saved;
  return /^zh\b/i.test(navigator.language || '') ? 'zh' : 'en';
}

HL.lang = initialLang();
HL.langListeners = [];

/** The text for `key` in the current language, with `{name}` filled from params. */
HL.t = function (key, params) {
  const dict = HL.I18N[HL.lang] || HL.I18N.en;
  let text = dict[key];
  if (text === undefined) text = HL.I18N.en[key];
  if (text === undefined) return key;
  if (params) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
  return text;
};

/** A translated label for a server code (state, reason, kind...), or the code itself. */
HL.label = function (prefix, code) {
  if (code === null || code === undefined || code === '') return '';
  const key = prefix + '.' + code;
  const dict = HL.I18N[HL.lang];
  return dict && key in dict ? dict[key] : String(code);
};

/** Fills every [data-i18n], [data-i18n-placeholder], [data-i18n-title] under root. */
HL.applyI18n = function (root) {
  root = root || document;
  root.querySelectorAll('[data-i18n]').forEach((el) => (el.textContent = HL.t(el.dataset.i18n)));
  root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => (el.placeholder = HL.t(el.dataset.i18nPlaceholder)));
  root.querySelectorAll('[data-i18n-title]').forEach((el) => (el.title = HL.t(el.dataset.i18nTitle)));
  document.documentElement.lang = HL.lang === 'zh' ? 'zh-CN' : 'en';
  const title = document.documentElement.dataset.title;
  if (title) document.title = HL.t(title);
};

HL.setLang = function (lang) {
  HL.lang = lang === 'zh' ? 'zh' : 'en';
  localStorage.setItem(LANG_KEY, HL.lang);
  HL.applyI18n();
  HL.langListeners.forEach((fn) => fn(HL.lang));
};

HL.toggleLang = function () {
  HL.setLang(HL.lang === 'zh' ? 'en' : 'zh');
};

// ---------------------------------------------------------------------------
// DOM and formatting helpers.
// ---------------------------------------------------------------------------

HL.$ = (id) => document.getElementById(id);

/** HL.el('div', {class: 'x', onclick: fn}, 'text', child...): a new element. */
HL.el = function (tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'class') node.className = value;
    else if (name === 'dataset') Object.assign(node.dataset, value);
    else if (name === 'text') node.textContent = value;
    else if (value === true) node.setAttribute(name, '');
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
};

/** Shows or hides an element; no-op when it already is. */
HL.show = function (el, visible) {
  if (typeof el === 'string') el = HL.$(el);
  if (el && el.hidden === !!visible) el.hidden = !visible;
};

const pad2 = (n) => String(n).padStart(2, '0');

/** 75000 -> "1:15", 3725000 -> "1:02:05". Negative counts as 0. */
HL.fmtDuration = function (ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return h ? `${h}:${pad2(m)}:${pad2(s % 60)}` : `${m}:${pad2(s % 60)}`;
};

/** Epoch ms -> "14:05" today, "11-25 14:05" this year, else "2025-11-25". */
HL.fmtTime = function (ms) {
  if (!ms) return '';
  const d = new Date(ms);
  const now = new Date();
  const hm = `${pad2(d.getHours())}:${pad2(d.getMinutes())}`;
  if (d.toDateString() === now.toDateString()) return hm;
  if (d.getFullYear() === now.getFullYear()) return `${pad2(d.getMonth() + 1)}-${pad2(d.getDate())} ${hm}`;
  return HL.isoDate(d);
};

/** A Date -> "YYYY-MM-DD" in local time. */
HL.isoDate = (d) => `${d.getFullYear()}-${pad2(d.getMonth() + 1)}-${pad2(d.getDate())}`;

// ---------------------------------------------------------------------------
// Toasts: short messages in a corner (command errors, saved tickets).
// ---------------------------------------------------------------------------

HL.toast = function (message, kind) {
  let box = HL.$('toasts');
  if (!box) {
    box = HL.el('div', { id: 'toasts', 'aria-live': 'polite' });
    document.body.append(box);
  }
  const item = HL.el('div', { class: 'toast ' + (kind || 'error'), role: kind === 'ok' ? 'status' : 'alert' }, message);
  const close = () => item.remove();
  item.addEventListener('click', close);
  box.append(item);
  setTimeout(close, kind === 'ok' ? 4000 : 7000);
  // Never let a burst of errors fill the screen.
  while (box.children.length > 4) box.firstChild.remove();
};

// ---------------------------------------------------------------------------
// REST: one fetch wrapper. Every failure becomes an HL.ApiError with a
// message fit to show (the server's own `error`, or a plain sentence).
// ---------------------------------------------------------------------------

HL.ApiError = class ApiError extends Error {
  constructor(status, message, body, retryAfter) {
    super(message);
    this.status = status;
    this.body = body || null;
    this.fields = (body && body.fields) || [];
    this.retryAfter = retryAfter || null;
  }
};

/** Called with the error when any request but sign-in gets a 401. */
HL.onUnauthorized = null;

HL.api = async function (method, path, body) {
  const init = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
  } catch (e) {
    throw new HL.ApiError(0, HL.t('err.network'));
  }
  const text = await res.text().catch(() => '');
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch (e) {
      data = null;
    }
  }
  if (!res.ok) {
    const message = (data && data.error) || HL.t('err.http', { status: res.status });
    const err = new HL.ApiError(res.status, message, data, Number(res.headers.get('retry-after')) || null);
    if (res.status === 401 && path !== '/api/login' && HL.onUnauthorized) HL.onUnauthorized(err);
    throw err;
  }
  return data;
};

/** GET /api/me: the user, or null when not signed in (other errors throw). */
HL.currentUser = async function () {
  try {
    return await HL.api('GET', '/api/me');
  } catch (e) {
    if (e.status === 401) return null;
    throw e;
  }
};

/**
 * Wires a sign-in form (#login-form, #login-user, #login-pass, #login-submit,
 * #login-error) to POST /api/login; onSignedIn(user) once it succeeds.
 */
HL.setupLogin = function (onSignedIn) {
  const form = HL.$('login-form');
  const error = HL.$('login-error');
  const submit = HL.$('login-submit');
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const username = HL.$('login-user').value.trim();
    const password = HL.$('login-pass').value;
    error.textContent = '';
    if (!username || !password) {
      error.textContent = HL.t('login.missing');
      return;
    }
    submit.disabled = true;
    submit.textContent = HL.t('login.busy');
    try {
      const res = await HL.api('POST', '/api/login', { username, password });
      HL.$('login-pass').value = '';
      onSignedIn(res.user);
    } catch (e) {
      if (e.status === 401) error.textContent = HL.t('login.wrong');
      else if (e.status === 429) error.textContent = HL.t('login.locked', { s: e.retryAfter || 900 });
      else error.textContent = e.message;
    } finally {
      submit.disabled = false;
      submit.textContent = HL.t('login.submit');
    }
  });
};

HL.signOut = async function () {
  try {
    await HL.api('POST', '/api/logout');
  } catch (e) {
    // Already signed out, or the server is gone: either way we show sign-in.
  }
};

/**
 * The frame the staff pages (QA, campaigns, wallboard, reports) share: the
 * sign-in form and the "not for you" card (added after #boot), the
 * signed-in view #app-view with #user-name and #user-role, the language
 * switches (.lang-switch, #lang-toggle) and the sign-out buttons.
 *   brand      i18n key of the page's name beside the logo
 *   allowed    (user) => whether the page is for this user
 *   deniedKey  i18n key saying it is not ({user}, {role})
 *   enter      (user) => signed in and allowed; the app view shows
 *   leave      (signedOut) => the user signed out (true) or the session
 *              ended (false): stop what runs for them
 * Returns { sessionEnded }, for a page that finds out by itself.
 */
HL.staffPage = function (opts) {
  const $ = HL.$;
  const brand = `<div class="login-brand"><span class="logo">☎</span> hotline <small data-i18n="${opts.brand}"></small></div>`;
  $('boot').insertAdjacentHTML(
    'afterend',
    `<div id="login-view" class="login-view" hidden>
  <form id="login-form" class="login-card" novalidate autocomplete="on">
    ${brand}
    <h1 data-i18n="login.title"></h1>
    <label class="field"><span data-i18n="login.user"></span>
      <input id="login-user" name="username" autocomplete="username" autocapitalize="off" spellcheck="false" required></label>
    <label class="field"><span data-i18n="login.pass"></span>
      <input id="login-pass" name="password" type="password" autocomplete="current-password" required></label>
    <p id="login-error" class="form-error" role="alert"></p>
    <button id="login-submit" type="submit" class="btn primary wide" data-i18n="login.submit"></button>
    <button type="button" class="link lang-switch" data-i18n="lang.other" data-i18n-title="lang.switch"></button>
  </form>
</div>
<div id="denied-view" class="login-view" hidden>
  <div class="login-card">
    ${brand}
    <p id="denied-text"></p>
    <button type="button" class="btn wide" id="btn-denied-signout" data-i18n="signout"></button>
  </div>
</div>`,
  );
  HL.applyI18n();
  let user = null;
  const showView = (id) => {
    ['login-view', 'denied-view', 'app-view'].forEach((v) => HL.show(v, v === id));
    if (id === 'login-view') setTimeout(() => $('login-user').focus(), 0);
  };
  const roleLabel = (u) => HL.label('qa.role', u.role);
  const enter = (u) => {
    user = u;
    if (!opts.allowed(u)) {
      $('denied-text').textContent = HL.t(opts.deniedKey, { user: u.display_name || u.username, role: roleLabel(u) });
      showView('denied-view');
      return;
    }
    $('user-name').textContent = u.display_name || u.username;
    $('user-role').textContent = roleLabel(u);
    showView('app-view');
    opts.enter(u);
  };
  const leave = (signedOut) => {
    user = null;
    opts.leave(signedOut);
    showView('login-view');
  };
  const sessionEnded = () => {
    if (!user) return;
    leave(false);
    $('login-error').textContent = HL.t('err.session');
  };
  const signOut = async () => {
    leave(true);
    await HL.signOut();
    $('login-error').textContent = '';
  };
  document.querySelectorAll('.lang-switch, #lang-toggle').forEach((b) => b.addEventListener('click', () => HL.toggleLang()));
  $('btn-signout').addEventListener('click', signOut);
  $('btn-denied-signout').addEventListener('click', signOut);
  HL.langListeners.push(() => {
    if (user && opts.allowed(user)) $('user-role').textContent = roleLabel(user);
  });
  HL.onUnauthorized = sessionEnded;
  HL.setupLogin(enter);
  (async () => {
    let u = null;
    try {
      u = await HL.currentUser();
    } catch (e) {
      // The server is unreachable: the sign-in form says so when used.
    }
    $('boot').hidden = true;
    if (u) enter(u);
    else showView('login-view');
  })();
  return { sessionEnded };
};

// ---------------------------------------------------------------------------
// Websocket: commands with ids answered by ok/error, events to a handler,
// and reconnection with exponential backoff (1, 2, 4, 8, 15, 15... s).
// ---------------------------------------------------------------------------

HL.Socket = class Socket {
  /**
   * opts.url          ws:// or wss:// address
   * opts.onEvent(ev)  every message that is not the answer of a command
   * opts.onStatus(s)  {state: 'connecting'|'open'|'waiting'|'stopped', retryAt?}
   * opts.beforeReconnect()  async; false stops reconnecting (e.g. signed out)
   */
  constructor(opts) {
    this.opts = opts;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.stopped = true;
    this.nextId = 1;
    this.pending = new Map();
    this.status = { state: 'stopped' };
  }

  start() {
    this.stopped = false;
    this.attempt = 0;
    this.open();
  }

  /** Stop for good (sign-out, `replaced`): no reconnect. */
  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = ws.onerror = ws.onmessage = null;
      try {
        ws.close(1000);
      } catch (e) {
        /* already closed */
      }
    }
    this.failPending();
    this.setStatus({ state: 'stopped' });
  }

  /** A connection works again (hello came): the next drop waits 1 s again. */
  resetBackoff() {
    this.attempt = 0;
  }

  reconnectNow() {
    if (this.stopped || this.status.state !== 'waiting') return;
    clearTimeout(this.timer);
    this.retry();
  }

  setStatus(status) {
    this.status = status;
    if (this.opts.onStatus) this.opts.onStatus(status);
  }

  open() {
    this.setStatus({ state: 'connecting' });
    let ws;
    try {
      ws = new WebSocket(this.opts.url);
    } catch (e) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    ws.onopen = () => this.setStatus({ state: 'open' });
    ws.onmessage = (m) => this.receive(m.data);
    ws.onerror = () => {
      /* onclose follows and does the work */
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.failPending();
      if (!this.stopped) this.scheduleRetry();
    };
  }

  scheduleRetry() {
    const delay = Math.min(15, 2 ** this.attempt) * 1000;
    this.attempt++;
    this.setStatus({ state: 'waiting', retryAt: Date.now() + delay });
    this.timer = setTimeout(() => this.retry(), delay);
  }

  async retry() {
    if (this.stopped) return;
    this.setStatus({ state: 'connecting' });
    let go = true;
    if (this.opts.beforeReconnect) {
      try {
        go = await this.opts.beforeReconnect();
      } catch (e) {
        go = null; // the server is unreachable: wait and try again
      }
    }
    if (this.stopped) return;
    if (go === false) return this.stop();
    if (go === null) return this.scheduleRetry();
    this.open();
  }

  receive(data) {
    let ev;
    try {
      ev = JSON.parse(data);
    } catch (e) {
      return; // not ours to understand
    }
    if (!ev || typeof ev !== 'object') return;
    this.opts.onEvent(ev);
    // Answers come after the events the command caused, so the page has
    // already shown those when the command's promise settles.
    if ((ev.type === 'ok' || ev.type === 'error') && typeof ev.id === 'string' && this.pending.has(ev.id)) {
      const p = this.pending.get(ev.id);
      this.pending.delete(ev.id);
      if (ev.type === 'ok') p.resolve(ev);
      else p.reject(Object.assign(new Error(ev.message || ev.code), { code: ev.code }));
    }
  }

  get isOpen() {
    return !!this.ws && this.ws.readyState === WebSocket.OPEN;
  }

  /** Sends a command; resolves on its `ok`, rejects with {code, message} on its `error`. */
  command(type, fields) {
    if (!this.isOpen) {
      return Promise.reject(Object.assign(new Error(HL.t('err.not_connected')), { code: 'not_connected' }));
    }
    const id = 'c' + this.nextId++;
    const msg = Object.assign({ type, id }, fields || {});
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify(msg));
    });
  }

  failPending() {
    for (const p of this.pending.values()) {
      p.reject(Object.assign(new Error(HL.t('err.not_connected')), { code: 'not_connected' }));
    }
    this.pending.clear();
  }
};

/** ws(s)://this-host/path */
HL.wsUrl = (path) => (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + path;

// ---------------------------------------------------------------------------
// Audio: one AudioContext for meters and the ring tone.
// ---------------------------------------------------------------------------

let audioCtx = null;

HL.audio = function () {
  if (!audioCtx) audioCtx = new (window.AudioContext || window.webkitAudioContext)();
  if (audioCtx.state === 'suspended') audioCtx.resume().catch(() => {});
  return audioCtx;
};

/** False while the browser holds audio back until the user clicks (autoplay rules). */
HL.audioAllowed = () => !audioCtx || audioCtx.state === 'running';

// Browsers start audio only after a gesture: resume on the first one.
['pointerdown', 'keydown'].forEach((type) =>
  window.addEventListener(type, () => audioCtx && audioCtx.state === 'suspended' && audioCtx.resume().catch(() => {}), true),
);

/**
 * A level meter on a MediaStream: an AnalyserNode (fftSize 8192) that also
 * answers the strongest frequency (for tests and diagnostics). Draws into
 * a `.meter` element's inner <i> as a width.
 */
HL.Meter = class Meter {
  constructor(barEl) {
    this.bar = barEl ? barEl.querySelector('i') || barEl : null;
    this.analyser = null;
    this.source = null;
    this.stream = null;
    HL.Meter.all.add(this);
  }

  attach(stream) {
    if (stream === this.stream) return;
    this.detach();
    if (!stream || !stream.getAudioTracks().length) return;
    const ctx = HL.audio();
    this.stream = stream;
    this.source = ctx.createMediaStreamSource(stream);
    this.analyser = ctx.createAnalyser();
    this.analyser.fftSize = 8192;
    this.analyser.smoothingTimeConstant = 0.2;
    this.source.connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    this.bins = new Float32Array(this.analyser.frequencyBinCount);
  }

  detach() {
    if (this.source) this.source.disconnect();
    this.source = this.analyser = this.stream = null;
    if (this.bar) this.bar.style.width = '0%';
  }

  /** 0..1, the RMS level mapped from -60..0 dBFS. */
  level() {
    if (!this.analyser) return 0;
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (let i = 0; i < this.samples.length; i++) sum += this.samples[i] * this.samples[i];
    const rms = Math.sqrt(sum / this.samples.length);
    const db = 20 * Math.log10(rms || 1e-9);
    return Math.min(1, Math.max(0, (db + 60) / 60));
  }

  /** The strongest frequency in Hz right now, or null (no audio, or silence). */
  peakHz() {
    if (!this.analyser) return null;
    this.analyser.getFloatFrequencyData(this.bins);
    let best = -Infinity;
    let at = -1;
    for (let i = 1; i < this.bins.length; i++) {
      if (this.bins[i] > best) {
        best = this.bins[i];
        at = i;
      }
    }
    if (at < 0 || !isFinite(best) || best < -100) return null;
    return (at * this.analyser.context.sampleRate) / this.analyser.fftSize;
  }

  draw() {
    if (this.bar) this.bar.style.width = Math.round(this.level() * 100) + '%';
  }
};
HL.Meter.all = new Set();

// One animation loop draws every meter (cheap; paused by the browser when hidden).
(function drawMeters() {
  HL.Meter.all.forEach((m) => m.analyser && m.draw());
  requestAnimationFrame(drawMeters);
})();

/**
 * The incoming-call ring: 440 + 480 Hz (the North American ring tone's
 * pair) in a double-ring cadence, 0.4 s on, 0.2 s off, 0.4 s on, 2 s off.
 */
HL.RingTone = class RingTone {
  constructor() {
    this.nodes = null;
    this.timer = null;
  }

  get playing() {
    return !!this.nodes;
  }

  start() {
    if (this.nodes) return;
    const ctx = HL.audio();
    const gain = ctx.createGain();
    gain.gain.value = 0;
    gain.connect(ctx.destination);
    const oscs = [440, 480].map((hz) => {
      const o = ctx.createOscillator();
      o.frequency.value = hz;
      o.connect(gain);
      o.start();
      return o;
    });
    this.nodes = { gain, oscs };
    const cycle = () => {
      const g = gain.gain;
      const t = ctx.currentTime + 0.02;
      const level = 0.08;
      // Short ramps, not steps, so the ring does not click.
      g.setValueAtTime(0, t);
      g.linearRampToValueAtTime(level, t + 0.01);
      g.setValueAtTime(level, t + 0.4);
      g.linearRampToValueAtTime(0, t + 0.41);
      g.setValueAtTime(0, t + 0.6);
      g.linearRampToValueAtTime(level, t + 0.61);
      g.setValueAtTime(level, t + 1.0);
      g.linearRampToValueAtTime(0, t + 1.01);
    };
    cycle();
    this.timer = setInterval(cycle, 3000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    if (!this.nodes) return;
    const { gain, oscs } = this.nodes;
    this.nodes = null;
    gain.gain.cancelScheduledValues(0);
    gain.gain.value = 0;
    oscs.forEach((o) => {
      try {
        o.stop();
      } catch (e) {
        /* already stopped */
      }
      o.disconnect();
    });
    gain.disconnect();
  }
};

// ---------------------------------------------------------------------------
// Microphone: one getUserMedia, errors in plain words.
// ---------------------------------------------------------------------------

/** A microphone failure: `key` and `params` say it in either language. */
HL.MicError = class MicError extends Error {
  constructor(key, params) {
    super(HL.t(key, params));
    this.key = key;
    this.params = params;
  }
};

/** The microphone stream; throws HL.MicError with a sentence for people. */
HL.getMic = async function () {
  if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    throw new HL.MicError(window.isSecureContext ? 'mic.missing' : 'mic.insecure');
  }
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true },
      video: false,
    });
  } catch (e) {
    const name = (e && e.name) || 'Error';
    if (name === 'NotAllowedError' || name === 'SecurityError') throw new HL.MicError('mic.blocked');
    if (name === 'NotFoundError' || name === 'OverconstrainedError') throw new HL.MicError('mic.missing');
    if (name === 'NotReadableError' || name === 'AbortError') throw new HL.MicError('mic.busy');
    throw new HL.MicError('mic.other', { name });
  }
};

/** Resolves when ICE gathering is complete, or after `ms` at most. */
HL.iceGathered = function (pc, ms) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve();
    };
    const check = () => pc.iceGatheringState === 'complete' && done();
    const timer = setTimeout(done, ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
};
