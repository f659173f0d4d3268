//! `/api/reports`: the figures supervisors and admins are judged by, over
//! a range of local days, by day or by hour, as JSON or CSV.
//!
//! Owns the reports' catalog ([`REPORTS`]): each report's name, title,
//! columns and the definition of every figure, in English and Chinese,
//! written once here. The page shows them from `GET /api/reports`;
//! docs/reports.md holds [`definitions_markdown`] (a test keeps the two
//! the same). The counting is [`crate::store::reports`]'s.
//!
//! Limits, so a response stays small and its time bounded: by hour at most
//! [`MAX_HOUR_DAYS`] days, otherwise at most [`MAX_DAYS`]; more is a 400
//! saying so. Times are the desk's (`tickets.time_zone`): a day is a local
//! calendar day, an hour a local hour.
//!
//! Reports take turns ([`ReportGate`]): a long range keeps a core busy for
//! as long as it counts (a month no server has counted before: a minute
//! or more), and the calls' audio needs the others.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;

use super::{ApiState, AppError, ErrorBody, now_ms};
use crate::store::campaign_figures::FollowUpFigures;
use crate::store::reports::{
    AgentFigures, CallFigures, ReportTerms, Span, local_days, local_hours, local_label,
};
use crate::store::ticket_reports::{Jobs, OutletJobs, TicketFigures};
use crate::validate::FieldError;

/// The most days a report grouped by hour covers (744 rows at most).
pub const MAX_HOUR_DAYS: i64 = 31;
/// The most days any other report covers (two years and a leap day).
pub const MAX_DAYS: i64 = 731;

/// Reports waiting for their turn at most; one more is a 503.
pub const MAX_WAITING_REPORTS: usize = 48;

/// How many reports count at once (half the cores, at least one), and the
/// line of those waiting for a turn, first come, first served (the page
/// asks for its twelve reports together). A line longer than
/// [`MAX_WAITING_REPORTS`] is refused rather than grown: someone is asking
/// faster than the database can count.
#[derive(Debug)]
pub struct ReportGate {
    turns: tokio::sync::Semaphore,
    waiting: AtomicUsize,
}

impl Default for ReportGate {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        ReportGate::new((cores / 2).max(1))
    }
}

impl ReportGate {
    /// `at_once` reports count at the same time.
    pub fn new(at_once: usize) -> ReportGate {
        ReportGate {
            turns: tokio::sync::Semaphore::new(at_once),
            waiting: AtomicUsize::new(0),
        }
    }

    /// Reports in line for a turn now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits for a turn to count (kept while the permit lives), or refuses
    /// with 503 when the line is full.
    pub async fn turn(&self) -> Result<tokio::sync::SemaphorePermit<'_>, AppError> {
        /// Leaves the line however the wait ends (a client that gives up
        /// drops the request's future mid-wait).
        struct InLine<'a>(&'a AtomicUsize);
        impl Drop for InLine<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::Relaxed);
            }
        }
        if self.waiting.fetch_add(1, Ordering::Relaxed) >= MAX_WAITING_REPORTS {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
            return Err(AppError::Exhausted(
                "too many reports are waiting to be counted: try again in a minute",
            ));
        }
        let _in_line = InLine(&self.waiting);
        self.turns
            .acquire()
            .await
            .map_err(|_| AppError::Exhausted("the server is shutting down"))
    }
}

/// How a column's values read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A label (a day, an agent, a stage).
    Text,
    /// A whole number.
    Count,
    /// Percent, one decimal; null when there is nothing to divide by.
    Percent,
    /// Seconds, one decimal.
    Seconds,
    /// Hours, two decimals.
    Hours,
}

/// One column of a report.
#[derive(Debug)]
pub struct Column {
    pub key: &'static str,
    /// Headings, English and Chinese.
    pub en: &'static str,
    pub zh: &'static str,
    pub unit: Unit,
    /// What it counts, English and Chinese.
    pub def_en: &'static str,
    pub def_zh: &'static str,
}

/// One report: a table.
#[derive(Debug)]
pub struct Report {
    /// As in `/api/reports/{name}`.
    pub name: &'static str,
    pub title_en: &'static str,
    pub title_zh: &'static str,
    /// What the whole table counts and the edge cases, English and Chinese.
    pub def_en: &'static str,
    pub def_zh: &'static str,
    /// One row per hour or day (`by`); otherwise one row per agent,
    /// outlet, ... over the whole range.
    pub by_time: bool,
    pub columns: &'static [Column],
}

const fn col(
    key: &'static str,
    en: &'static str,
    zh: &'static str,
    unit: Unit,
    def_en: &'static str,
    def_zh: &'static str,
) -> Column {
    Column {
        key,
        en,
        zh,
        unit,
        def_en,
        def_zh,
    }
}

use Unit::{Count, Hours, Percent, Seconds, Text};

const BUCKET: Column = col(
    "bucket",
    "Period",
    "时段",
    Text,
    "The local day (YYYY-MM-DD) or hour (YYYY-MM-DD HH:00) in the desk's time zone; the last row, `total`, is the whole range counted as one.",
    "本地日期（YYYY-MM-DD）或小时（YYYY-MM-DD HH:00），按服务台时区；最后一行 `total` 为整个范围合计。",
);
const OFFERED: Column = col(
    "offered",
    "Queued",
    "排队",
    Count,
    "Inbound calls that joined a queue: offered to agents.",
    "进入队列（分配给坐席）的呼入电话。",
);
const ANSWERED: Column = col(
    "answered",
    "Answered",
    "接听",
    Count,
    "Queued calls an agent answered.",
    "由坐席接听的排队来电。",
);
const CALLBACKS: Column = col(
    "callbacks",
    "Callbacks",
    "预约回呼",
    Count,
    "Queued calls no agent answered whose caller asked to be called back after joining the queue: not abandoned; the callback campaign calls them.",
    "排队后未被接听、来电者选择预约回呼的来电：不算放弃，由回呼活动回拨。",
);
const WAITING: Column = col(
    "waiting",
    "Waiting",
    "仍在等待",
    Count,
    "Queued calls not answered, not ended and with no callback: still waiting (or still in the IVR after the queue) when the report was made. Left out of the rates until they end.",
    "出报表时仍在排队（或离开队列后仍在语音导航中）的来电：未接听、未结束、未预约回呼。结束前不计入各比率。",
);
const ABANDONED: Column = col(
    "abandoned",
    "Abandoned",
    "放弃",
    Count,
    "Queued calls no agent answered, with no callback, whose caller hung up while still in the queue.",
    "排队中未被接听、未预约回呼、来电者在队列中挂机的来电。",
);
const AHT: Column = col(
    "aht_secs",
    "Avg. handle time",
    "平均处理时长",
    Seconds,
    "(Talk + hold + wrap-up) ÷ handled.",
    "（通话 + 保持 + 话后处理）÷ 已处理。",
);
const HANDLED: Column = col(
    "handled",
    "Handled",
    "已处理",
    Count,
    "Inbound calls an agent answered that have ended, with their talk and wrap-up recorded (their handle time is known).",
    "坐席接听、已结束且通话与话后处理已记录（处理时长已知）的呼入电话。",
);
const AGENT_ID: Column = col(
    "agent_id",
    "Agent #",
    "坐席编号",
    Count,
    "The agent's user id.",
    "坐席的用户编号。",
);
const AGENT: Column = col(
    "agent",
    "Agent",
    "坐席",
    Text,
    "The agent's name (their username when they have none).",
    "坐席姓名（无姓名时为用户名）。",
);
const LATE: Column = col(
    "late",
    "Late",
    "超时",
    Count,
    "Moves into a stage with a due time made after the SLA watcher had recorded that stage overdue (a breach; it checks every minute).",
    "进入有时限阶段时，SLA 检查已记录该阶段超时（每分钟检查一次）的次数。",
);
const ON_TIME: Column = col(
    "on_time_rate",
    "On time",
    "及时率",
    Percent,
    "(Moves − late) ÷ moves, for moves into a stage with a due time.",
    "（次数 − 超时）÷ 次数，仅限进入有时限阶段的流转。",
);
const AVG_COMPLETION: Column = col(
    "avg_completion_hours",
    "Avg. completion (h)",
    "平均完工时长（小时）",
    Hours,
    "Dispatch → completed, averaged over the completions.",
    "派工 → 完工，按完工单平均。",
);

/// Every report, in the page's order.
pub const REPORTS: &[Report] = &[
    Report {
        name: "calls",
        title_en: "Calls",
        title_zh: "来电量",
        def_en: "Every call counts once, in the local hour or day it arrived (a call that spans midnight counts on the day it arrived), under the queue it last joined. A transferred call is still one call. Outbound campaign calls are counted on their own and in no inbound figure.",
        def_zh: "每通电话只计一次，计入其到达的本地小时或日期（跨越午夜的通话计入到达当日），归入其最后进入的队列。转接后的通话仍是一通。外呼活动的通话单独计数，不计入任何呼入指标。",
        by_time: true,
        columns: &[
            BUCKET,
            col(
                "inbound",
                "Inbound",
                "呼入",
                Count,
                "Calls that reached the hotline, whether they joined a queue or stayed in the IVR.",
                "接入热线的来电，无论是否进入队列。",
            ),
            OFFERED,
            ANSWERED,
            ABANDONED,
            CALLBACKS,
            col(
                "outbound",
                "Outbound",
                "外呼",
                Count,
                "Calls the outbound campaigns made (every attempt).",
                "外呼活动拨出的电话（每次尝试）。",
            ),
            col(
                "outbound_answered",
                "Outbound answered",
                "外呼接通",
                Count,
                "Of those, the ones the customer answered.",
                "其中客户接听的。",
            ),
        ],
    },
    Report {
        name: "service-level",
        title_en: "Service level",
        title_zh: "服务水平",
        def_en: "The share of queued calls answered within {sl} s of joining the queue, counted over the queued calls whose wait is over: calls still waiting are left out until they end, and callbacks are left out because the caller stopped waiting for an agent by choice. The target is {target}%.",
        def_zh: "进入队列后 {sl} 秒内被接听的排队来电所占比例，只计等待已结束的排队来电：仍在等待的来电结束前不计，预约回呼的来电也不计（来电者主动放弃等待坐席）。目标为 {target}%。",
        by_time: true,
        columns: &[
            BUCKET,
            OFFERED,
            ANSWERED,
            col(
                "answered_in_time",
                "Answered in {sl} s",
                "{sl} 秒内接听",
                Count,
                "Answered within {sl} s of joining the queue (the wait until the first agent answered).",
                "进入队列后 {sl} 秒内接听（至第一位坐席接听的等待时间）。",
            ),
            CALLBACKS,
            WAITING,
            col(
                "service_level",
                "Service level",
                "服务水平",
                Percent,
                "Answered in {sl} s ÷ (queued − waiting − callbacks).",
                "{sl} 秒内接听 ÷（排队 − 仍在等待 − 预约回呼）。",
            ),
            col(
                "asa_secs",
                "Avg. speed of answer",
                "平均应答速度",
                Seconds,
                "The answered calls' waits in the queue ÷ answered.",
                "已接听来电的排队等待时间 ÷ 接听数。",
            ),
            col(
                "longest_wait_secs",
                "Longest answered wait",
                "最长接听等待",
                Seconds,
                "The longest wait of an answered call.",
                "已接听来电中最长的排队等待。",
            ),
        ],
    },
    Report {
        name: "abandonment",
        title_en: "Abandonment",
        title_zh: "放弃率",
        def_en: "A call is abandoned when it joined a queue, no agent answered it, and the caller hung up while still waiting in the queue. Not abandoned: a caller who asked for a callback (the callback campaign calls them), and a call the queue let go at its maximum wait (to leave a message, say) or the hotline ended: those left the queue.",
        def_zh: "进入队列、无坐席接听、来电者在队列中等待时挂机的来电算作放弃。以下不算放弃：选择预约回呼的来电（由回呼活动回拨）；达到队列最长等待时间被转出（如留言）或被热线挂断的来电，计为离开队列。",
        by_time: true,
        columns: &[
            BUCKET,
            OFFERED,
            ABANDONED,
            col(
                "abandon_rate",
                "Abandon rate",
                "放弃率",
                Percent,
                "Abandoned ÷ (queued − waiting).",
                "放弃 ÷（排队 − 仍在等待）。",
            ),
            col(
                "avg_abandon_secs",
                "Avg. time to abandon",
                "平均放弃等待",
                Seconds,
                "The abandoned calls' time from joining the queue to hanging up ÷ abandoned.",
                "放弃来电从进入队列到挂机的时间 ÷ 放弃数。",
            ),
            CALLBACKS,
            col(
                "left_queue",
                "Left the queue",
                "离开队列",
                Count,
                "Queued calls no agent answered that ended neither abandoned nor as a callback: the queue let them go at its maximum wait, or the hotline ended them.",
                "未被接听、既非放弃也非预约回呼而结束的排队来电：达到队列最长等待被转出，或被热线挂断。",
            ),
            WAITING,
        ],
    },
    Report {
        name: "handle-time",
        title_en: "Handle time",
        title_zh: "处理时长",
        def_en: "Handle time is talk + hold + wrap-up of an inbound call an agent answered, as the call record holds them: talk and hold are the call's totals over every agent it was transferred to; wrap-up is the latest wrap-up recorded for it. Only calls that have ended with their talk and wrap-up recorded count; calls in progress do not yet.",
        def_zh: "处理时长 = 坐席接听的呼入电话的通话 + 保持 + 话后处理，取自通话记录：通话与保持为该通电话经过的所有坐席的合计（含转接），话后处理为最近一次记录。只计已结束且通话与话后处理均已记录的电话，进行中的通话暂不计入。",
        by_time: true,
        columns: &[
            BUCKET,
            HANDLED,
            col(
                "avg_talk_secs",
                "Avg. talk",
                "平均通话",
                Seconds,
                "Talk ÷ handled (hold not included).",
                "通话时长 ÷ 已处理（不含保持）。",
            ),
            col(
                "avg_hold_secs",
                "Avg. hold",
                "平均保持",
                Seconds,
                "Hold ÷ handled.",
                "保持时长 ÷ 已处理。",
            ),
            col(
                "avg_wrap_up_secs",
                "Avg. wrap-up",
                "平均话后处理",
                Seconds,
                "Wrap-up ÷ handled.",
                "话后处理时长 ÷ 已处理。",
            ),
            AHT,
            col(
                "transferred",
                "Transferred",
                "转接",
                Count,
                "Inbound calls an agent answered that were transferred at least once (each still one call).",
                "坐席接听后至少转接过一次的呼入电话（每通仍计一次）。",
            ),
        ],
    },
    Report {
        name: "fcr",
        title_en: "First-call resolution",
        title_zh: "首次解决率",
        def_en: "An inbound call an agent answered is resolved first time when the same customer (from any of their numbers) — or the same number, when the caller is not a known customer — does not call again within {fcr} days after it arrived. A call is decided once its {fcr} days have passed; until then it is pending and not in the rate. Calls from withheld numbers are not counted.",
        def_zh: "坐席接听的呼入电话，若同一客户（任一号码）——或来电者非已知客户时同一号码——在该来电后 {fcr} 天内未再来电，即为首次解决。来电满 {fcr} 天后才有定论；此前为待定，不计入比率。隐藏号码的来电不计。",
        by_time: true,
        columns: &[
            BUCKET,
            col(
                "fcr_calls",
                "Calls",
                "来电",
                Count,
                "Inbound calls an agent answered from a caller with a number.",
                "坐席接听、有来电号码的呼入电话。",
            ),
            col(
                "decided",
                "Decided",
                "已定论",
                Count,
                "Of those, the ones whose {fcr} days have passed.",
                "其中已满 {fcr} 天的。",
            ),
            col(
                "repeated",
                "Called again",
                "再次来电",
                Count,
                "Decided calls followed by another inbound call from the same customer or number within {fcr} days.",
                "已定论、且 {fcr} 天内同一客户或号码再次来电的。",
            ),
            col(
                "resolved",
                "Resolved first time",
                "首次解决",
                Count,
                "Decided − called again.",
                "已定论 − 再次来电。",
            ),
            col(
                "pending",
                "Pending",
                "待定",
                Count,
                "Calls whose {fcr} days have not passed yet.",
                "未满 {fcr} 天的来电。",
            ),
            col(
                "fcr_rate",
                "FCR",
                "首次解决率",
                Percent,
                "Resolved first time ÷ decided.",
                "首次解决 ÷ 已定论。",
            ),
        ],
    },
    Report {
        name: "agents",
        title_en: "Calls per agent",
        title_zh: "坐席话务量",
        def_en: "A call is credited to the first agent who answered it (the call record's agent), once, transfers or not, on the day it arrived. Logged-in time is every state but logged out, from the agents' state changes, within the days (up to now for today). Totals over the range, not by period.",
        def_zh: "每通电话计入第一位接听的坐席（通话记录中的坐席），无论是否转接只计一次，按到达日期计。在线时长为除“已登出”外所有状态的时间，取自坐席状态变化，限于所选日期内（今日截至此刻）。按整个范围合计，不分时段。",
        by_time: false,
        columns: &[
            AGENT_ID,
            AGENT,
            col(
                "inbound",
                "Inbound answered",
                "呼入接听",
                Count,
                "Inbound calls credited to the agent.",
                "计入该坐席的呼入电话。",
            ),
            col(
                "outbound",
                "Outbound",
                "外呼",
                Count,
                "Outbound campaign calls the agent had (progressive and callback campaigns).",
                "该坐席处理的外呼活动电话（预测式与回呼活动）。",
            ),
            HANDLED,
            AHT,
            col(
                "logged_in_secs",
                "Logged in",
                "在线时长",
                Seconds,
                "Time in any state but logged out.",
                "除“已登出”外所有状态的时间。",
            ),
            col(
                "calls_per_hour",
                "Calls per hour",
                "每小时接听",
                Hours,
                "Inbound answered ÷ logged-in hours.",
                "呼入接听 ÷ 在线小时数。",
            ),
        ],
    },
    Report {
        name: "agent-states",
        title_en: "Agent time by state",
        title_zh: "坐席状态时长",
        def_en: "Time each agent spent in each state within the days, from their state changes: a state lasts until the agent's next change or the end of the day (now, for today). Not ready is split by the reason given (`missed`: set by the ACD after offers went unanswered). Logged-out time is not shown. Totals over the range.",
        def_zh: "各坐席在所选日期内处于各状态的时间，取自状态变化：一个状态持续到下一次变化或当日结束（今日截至此刻）。未就绪按原因分列（`missed`：多次振铃未接后由系统设置）。不显示已登出时间。按整个范围合计。",
        by_time: false,
        columns: &[
            AGENT_ID,
            AGENT,
            col(
                "state",
                "State",
                "状态",
                Text,
                "ready, not_ready, ringing, on_call, on_hold, wrap_up or consulted.",
                "ready（就绪）、not_ready（未就绪）、ringing（振铃）、on_call（通话）、on_hold（保持）、wrap_up（话后处理）或 consulted（被咨询）。",
            ),
            col(
                "reason",
                "Reason",
                "原因",
                Text,
                "The not-ready reason; empty for other states.",
                "未就绪原因；其他状态为空。",
            ),
            col(
                "secs",
                "Time",
                "时长",
                Seconds,
                "Time in the state (and reason).",
                "处于该状态（及原因）的时间。",
            ),
            col(
                "share",
                "Share",
                "占比",
                Percent,
                "Of the agent's logged-in time.",
                "占该坐席在线时长的比例。",
            ),
        ],
    },
    Report {
        name: "satisfaction",
        title_en: "Satisfaction and follow-up",
        title_zh: "满意度与回访",
        def_en: "From the follow-ups (by the survey campaign or an agent alike): the tickets completed in the period and whether each completion was followed up (at any time since, before any later completion of the ticket), and the satisfaction scores (1–5) given in the period. Satisfied: a score of {sat} or more.",
        def_zh: "取自回访（满意度调查活动或坐席回访均计）：本时段完工的工单及每次完工是否已回访（此后任何时间、且在该工单下次完工之前），以及本时段给出的满意度评分（1–5）。{sat} 分及以上为满意。",
        by_time: true,
        columns: &[
            BUCKET,
            col(
                "completed",
                "Completed",
                "完工",
                Count,
                "Completions stamped in the period (a ticket completed again after a reopening counts again).",
                "本时段的完工记录（重开后再次完工的工单再计一次）。",
            ),
            col(
                "followed_up",
                "Followed up",
                "已回访",
                Count,
                "Of those, the ones followed up since.",
                "其中已回访的。",
            ),
            col(
                "coverage",
                "Follow-up coverage",
                "回访率",
                Percent,
                "Followed up ÷ completed (the trade's standard is 100%).",
                "已回访 ÷ 完工（行业标准为 100%）。",
            ),
            col(
                "scored",
                "Scores",
                "评分数",
                Count,
                "Satisfaction scores given in the period.",
                "本时段给出的满意度评分。",
            ),
            col(
                "satisfied",
                "Satisfied",
                "满意",
                Count,
                "Scores of {sat} or more.",
                "{sat} 分及以上的评分。",
            ),
            col(
                "satisfaction_rate",
                "Satisfaction",
                "满意度",
                Percent,
                "Satisfied ÷ scores.",
                "满意 ÷ 评分数。",
            ),
            col(
                "score_1",
                "1",
                "1 分",
                Count,
                "Scores of 1.",
                "1 分的评分。",
            ),
            col(
                "score_2",
                "2",
                "2 分",
                Count,
                "Scores of 2.",
                "2 分的评分。",
            ),
            col(
                "score_3",
                "3",
                "3 分",
                Count,
                "Scores of 3.",
                "3 分的评分。",
            ),
            col(
                "score_4",
                "4",
                "4 分",
                Count,
                "Scores of 4.",
                "4 分的评分。",
            ),
            col(
                "score_5",
                "5",
                "5 分",
                Count,
                "Scores of 5.",
                "5 分的评分。",
            ),
        ],
    },
    Report {
        name: "stages",
        title_en: "Ticket stage times",
        title_zh: "工单各阶段时长",
        def_en: "Every move of a ticket from one stage to the next stamped in the range, with the time since the stamp before it. A move into a stage that has a due time (dispatched, completed, followed up, closed) is late when the SLA watcher had already recorded that stage overdue.",
        def_zh: "所选范围内工单从一个阶段到下一阶段的每次流转，及距上一阶段的时间。进入有时限阶段（派工、完工、回访、关闭）时，若 SLA 检查已记录该阶段超时，则为超时。",
        by_time: false,
        columns: &[
            col(
                "from_stage",
                "From",
                "从",
                Text,
                "The stage the ticket left.",
                "工单离开的阶段。",
            ),
            col(
                "to_stage",
                "To",
                "到",
                Text,
                "The stage it entered.",
                "工单进入的阶段。",
            ),
            col(
                "moves",
                "Moves",
                "次数",
                Count,
                "Moves stamped in the range.",
                "范围内的流转次数。",
            ),
            col(
                "avg_hours",
                "Avg. time (h)",
                "平均时长（小时）",
                Hours,
                "The time since the stamp before, averaged.",
                "距上一阶段的平均时间。",
            ),
            LATE,
            ON_TIME,
        ],
    },
    Report {
        name: "outlets",
        title_en: "Outlet ranking",
        title_zh: "网点时效排名",
        def_en: "Each outlet's jobs in the range, under the tier it had when the job was dispatched. A completion is the outlet's whose latest dispatch before it was to that outlet; its times run from that dispatch. Ranked by on-time rate, then average completion time.",
        def_zh: "所选范围内各网点的工单，按派工时网点的等级计。完工单归属于其之前最近一次派工的网点，时长自该次派工起算。按及时率排名，其次按平均完工时长。",
        by_time: false,
        columns: &[
            col(
                "rank",
                "Rank",
                "排名",
                Count,
                "By on-time rate (highest first), then average completion time (shortest first); outlets with no completion last.",
                "按及时率（高者在前），其次按平均完工时长（短者在前）；无完工单的网点排在最后。",
            ),
            col(
                "outlet",
                "Outlet",
                "网点",
                Text,
                "The outlet's code.",
                "网点代码。",
            ),
            col(
                "outlet_name",
                "Name",
                "名称",
                Text,
                "The outlet's name.",
                "网点名称。",
            ),
            col(
                "tier",
                "Tier",
                "等级",
                Text,
                "city, county or town, as at dispatch.",
                "派工时的等级：city（市级）、county（县级）或 town（乡镇）。",
            ),
            col(
                "dispatched",
                "Dispatched",
                "派工",
                Count,
                "Jobs dispatched to it in the range.",
                "范围内派给该网点的工单。",
            ),
            col(
                "completed",
                "Completed",
                "完工",
                Count,
                "Completions in the range.",
                "范围内的完工单。",
            ),
            col(
                "avg_arrival_hours",
                "Avg. to on site (h)",
                "平均上门时长（小时）",
                Hours,
                "Dispatch → in service, over the completions with an in-service stamp.",
                "派工 → 处置（上门），按有处置记录的完工单计。",
            ),
            col(
                "avg_repair_hours",
                "Avg. repair (h)",
                "平均处置时长（小时）",
                Hours,
                "In service → completed, over the same.",
                "处置 → 完工，同上。",
            ),
            AVG_COMPLETION,
            col(
                "late",
                "Late",
                "超时",
                Count,
                "Completions made after the completion was recorded overdue.",
                "完工时已被记录为完工超时的单数。",
            ),
            col(
                "on_time_rate",
                "On time",
                "及时率",
                Percent,
                "(Completed − late) ÷ completed.",
                "（完工 − 超时）÷ 完工。",
            ),
        ],
    },
    Report {
        name: "tiers",
        title_en: "Outlets by tier",
        title_zh: "各等级网点",
        def_en: "The outlet ranking's figures summed by tier (city, county, town): each tier has its own completion target.",
        def_zh: "网点排名各项按等级（市级、县级、乡镇）合计：各等级的完工时限不同。",
        by_time: false,
        columns: &[
            col(
                "tier",
                "Tier",
                "等级",
                Text,
                "city, county or town.",
                "city（市级）、county（县级）或 town（乡镇）。",
            ),
            col(
                "outlets",
                "Outlets",
                "网点数",
                Count,
                "Outlets of the tier with a dispatch or completion in the range.",
                "范围内有派工或完工的该等级网点数。",
            ),
            col(
                "dispatched",
                "Dispatched",
                "派工",
                Count,
                "Jobs dispatched in the range.",
                "范围内的派工。",
            ),
            col(
                "completed",
                "Completed",
                "完工",
                Count,
                "Completions in the range.",
                "范围内的完工单。",
            ),
            AVG_COMPLETION,
            col(
                "late",
                "Late",
                "超时",
                Count,
                "Completions made after the completion was recorded overdue.",
                "完工时已被记录为完工超时的单数。",
            ),
            col(
                "on_time_rate",
                "On time",
                "及时率",
                Percent,
                "(Completed − late) ÷ completed.",
                "（完工 − 超时）÷ 完工。",
            ),
        ],
    },
    Report {
        name: "complaints",
        title_en: "Complaints by category",
        title_zh: "投诉分类",
        def_en: "Complaints in the range: tickets opened as complaints (by their subject, which picks the owning team) and tickets reopened as complaints after a dissatisfied follow-up (by the ticket's fault category). The complaint rate is complaints ÷ tickets of every kind accepted in the range.",
        def_zh: "所选范围内的投诉：以投诉受理的工单（按投诉事由，决定负责团队），以及回访不满意后重开为投诉的工单（按工单故障类别）。投诉率 = 投诉 ÷ 范围内受理的各类工单。",
        by_time: false,
        columns: &[
            col(
                "source",
                "Source",
                "来源",
                Text,
                "accepted (opened as a complaint) or reopened (after a dissatisfied follow-up).",
                "accepted（受理为投诉）或 reopened（回访不满意后重开）。",
            ),
            col(
                "category",
                "Category",
                "类别",
                Text,
                "The complaint's subject, or the reopened ticket's fault category.",
                "投诉事由，或重开工单的故障类别。",
            ),
            col(
                "team",
                "Team",
                "负责团队",
                Text,
                "The team that owns complaints of that subject (accepted complaints).",
                "负责该事由投诉的团队（受理的投诉）。",
            ),
            col(
                "complaints",
                "Complaints",
                "投诉",
                Count,
                "Complaints of the category in the range.",
                "范围内该类别的投诉数。",
            ),
            col(
                "share",
                "Share",
                "占比",
                Percent,
                "Of all complaints in the range.",
                "占范围内全部投诉的比例。",
            ),
            col(
                "rate",
                "Complaint rate",
                "投诉率",
                Percent,
                "Complaints ÷ tickets accepted in the range.",
                "投诉 ÷ 范围内受理的工单数。",
            ),
        ],
    },
];

/// The report `name`.
pub fn report_named(name: &str) -> Option<&'static Report> {
    REPORTS.iter().find(|r| r.name == name)
}

/// The configured values a definition names.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Terms {
    /// The desk's time zone (IANA).
    time_zone: String,
    /// `monitoring.service_level_secs`.
    service_level_secs: u32,
    /// `monitoring.service_level_target`, percent.
    service_level_target: u32,
    /// `monitoring.fcr_days`.
    fcr_days: u32,
    /// `tickets.satisfied_from`.
    satisfied_from: u8,
}

impl Terms {
    fn of(state: &ApiState) -> Terms {
        let m = &state.monitoring;
        Terms {
            time_zone: state.desk.time_zone.iana_name().unwrap_or("UTC").to_owned(),
            service_level_secs: m.service_level_secs,
            service_level_target: m.service_level_target,
            fcr_days: m.fcr_days,
            satisfied_from: state.desk.sla.satisfied_from,
        }
    }

    /// `text` with `{sl}`, `{target}`, `{fcr}` and `{sat}` filled in.
    fn fill(&self, text: &str) -> String {
        text.replace("{sl}", &self.service_level_secs.to_string())
            .replace("{target}", &self.service_level_target.to_string())
            .replace("{fcr}", &self.fcr_days.to_string())
            .replace("{sat}", &self.satisfied_from.to_string())
    }
}

/// What the store counts with.
fn report_terms(state: &ApiState) -> ReportTerms {
    ReportTerms {
        time_zone: state.desk.time_zone.clone(),
        service_level_ms: i64::from(state.monitoring.service_level_secs) * 1000,
        fcr_days: state.monitoring.fcr_days,
    }
}

/// Text in both languages.
#[derive(Debug, Serialize, ToSchema)]
pub struct Text2 {
    en: String,
    zh: String,
}

/// A column as the page shows it, the terms filled in.
#[derive(Debug, Serialize, ToSchema)]
pub struct ColumnView {
    key: &'static str,
    title: Text2,
    unit: Unit,
    definition: Text2,
}

/// A report as the catalog lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportView {
    name: &'static str,
    title: Text2,
    definition: Text2,
    /// One row per hour or day (`by`) when true; per agent, stage, outlet
    /// ... over the whole range otherwise.
    by_time: bool,
    columns: Vec<ColumnView>,
}

fn view(report: &Report, terms: &Terms) -> ReportView {
    ReportView {
        name: report.name,
        title: Text2 {
            en: report.title_en.to_owned(),
            zh: report.title_zh.to_owned(),
        },
        definition: Text2 {
            en: terms.fill(report.def_en),
            zh: terms.fill(report.def_zh),
        },
        by_time: report.by_time,
        columns: report
            .columns
            .iter()
            .map(|c| ColumnView {
                key: c.key,
                title: Text2 {
                    en: terms.fill(c.en),
                    zh: terms.fill(c.zh),
                },
                unit: c.unit,
                definition: Text2 {
                    en: terms.fill(c.def_en),
                    zh: terms.fill(c.def_zh),
                },
            })
            .collect(),
    }
}

/// `GET /api/reports`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Catalog {
    terms: Terms,
    /// The most days by hour, and otherwise.
    max_hour_days: i64,
    max_days: i64,
    /// The configured queues (`queue=` takes one); empty when not known.
    queues: Vec<String>,
    reports: Vec<ReportView>,
}

/// Every report with its columns and the definition of each figure, the
/// configured terms filled in.
#[utoipa::path(get, path = "/api/reports", tag = "reports",
    responses((status = 200, body = Catalog)))]
pub async fn catalog(State(state): State<ApiState>) -> Json<Catalog> {
    let terms = Terms::of(&state);
    Json(Catalog {
        reports: REPORTS.iter().map(|r| view(r, &terms)).collect(),
        terms,
        max_hour_days: MAX_HOUR_DAYS,
        max_days: MAX_DAYS,
        queues: state
            .queues
            .as_deref()
            .map(<[String]>::to_vec)
            .unwrap_or_default(),
    })
}

/// `GET /api/reports/{name}` query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// The first day, YYYY-MM-DD (the desk's calendar); default `to`.
    from: Option<String>,
    /// The last day, inclusive; default today.
    to: Option<String>,
    /// `day` (default) or `hour`.
    by: Option<String>,
    /// Only the calls of this queue (the call reports); default all.
    queue: Option<String>,
    /// `json` (default) or `csv` (as is `Accept: text/csv`).
    format: Option<String>,
}

/// A report's table.
#[derive(Debug, Serialize, ToSchema)]
pub struct Table {
    report: &'static str,
    title: Text2,
    definition: Text2,
    from: String,
    to: String,
    /// `day` or `hour` (time reports); the others are over the range.
    by: &'static str,
    /// The queue asked for; null: all.
    queue: Option<String>,
    terms: Terms,
    /// When it was counted, epoch ms: figures of the current hour and day
    /// (calls waiting, FCR pending) are as of then.
    generated_at: i64,
    columns: Vec<ColumnView>,
    /// One object per row, keyed by the columns' keys.
    #[schema(value_type = Vec<Object>)]
    rows: Vec<Map<String, Value>>,
    /// The whole range as one row (time reports, agents, tiers); null
    /// where a sum means nothing.
    #[schema(value_type = Option<Object>)]
    total: Option<Map<String, Value>>,
}

/// The checked request.
struct Asked {
    from: Date,
    to: Date,
    hourly: bool,
    queue: Option<String>,
    csv: bool,
    /// The local days of the range.
    days: Vec<Span>,
}

fn date_field(field: &str, text: Option<&str>) -> Result<Option<Date>, FieldError> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    match text.parse::<Date>() {
        Ok(d) if d.tomorrow().is_ok() && d.yesterday().is_ok() => Ok(Some(d)),
        _ => Err(FieldError::new(
            field,
            format!("`{text}` is not a date: write YYYY-MM-DD"),
        )),
    }
}

fn check(state: &ApiState, q: &ReportQuery, headers: &HeaderMap) -> Result<Asked, AppError> {
    let mut errors = Vec::new();
    let from = date_field("from", q.from.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let to = date_field("to", q.to.as_deref()).unwrap_or_else(|e| {
        errors.push(e);
        None
    });
    let hourly = match q.by.as_deref().map(str::trim) {
        None | Some("" | "day") => false,
        Some("hour") => true,
        Some(other) => {
            errors.push(FieldError::new(
                "by",
                format!("`{other}` is not a grouping: day or hour"),
            ));
            false
        }
    };
    let csv = match q.format.as_deref().map(str::trim) {
        Some("csv") => true,
        Some("json") => false,
        None | Some("") => headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/csv")),
        Some(other) => {
            errors.push(FieldError::new(
                "format",
                format!("`{other}` is not a format: json or csv"),
            ));
            false
        }
    };
    let queue = q
        .queue
        .as_deref()
        .map(str::trim)
        .filter(|q| !q.is_empty())
        .map(str::to_owned);
    if let (Some(name), Some(known)) = (&queue, &state.queues)
        && !known.iter().any(|k| k == name)
    {
        errors.push(FieldError::new(
            "queue",
            format!("no queue `{name}`: the queues are {}", known.join(", ")),
        ));
    }
    if !errors.is_empty() {
        return Err(AppError::Invalid(errors));
    }
    let tz = &state.desk.time_zone;
    let today = jiff::Timestamp::from_millisecond(now_ms())
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH)
        .to_zoned(tz.clone())
        .date();
    let to = to.unwrap_or(today);
    let from = from.unwrap_or(to);
    if to < from {
        return Err(AppError::field(
            "to",
            format!("{to} is before `from` ({from}): the range must run forwards"),
        ));
    }
    let days = crate::store::reports::days_between(from, to)
        .ok_or_else(|| AppError::field("to", "the range is outside the calendar"))?;
    let (limit, grouping) = if hourly {
        (MAX_HOUR_DAYS, "by hour")
    } else {
        (MAX_DAYS, "by day")
    };
    if days > limit {
        return Err(AppError::field(
            "to",
            format!(
                "{from} to {to} is {days} days: {grouping} a report covers at most {limit} days \
                 (pick fewer days{})",
                if hourly { ", or group by day" } else { "" }
            ),
        ));
    }
    let spans = local_days(tz, from, to)
        .ok_or_else(|| AppError::field("to", "the range is outside the calendar"))?;
    Ok(Asked {
        from,
        to,
        hourly,
        queue,
        csv,
        days: spans,
    })
}

/// A report over a range of days, by day or hour, as JSON or CSV (with a
/// header row of the columns' keys, the total last). 400 for a report
/// that does not exist, a bad date, `to` before `from`, an unknown
/// grouping, format or queue, or a range longer than the limits (31 days
/// by hour, 731 by day).
#[utoipa::path(get, path = "/api/reports/{name}", tag = "reports",
    params(("name" = String, Path, description = "calls, service-level, abandonment, handle-time, fcr, agents, agent-states, satisfaction, stages, outlets, tiers or complaints"),
        ReportQuery),
    responses(
        (status = 200, description = "the table", content((Table = "application/json"), (String = "text/csv"))),
        (status = 400, body = ErrorBody),
        (status = 503, description = "too many reports waiting to be counted", body = ErrorBody)))]
pub async fn report(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<ReportQuery>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let Some(report) = report_named(&name) else {
        let names: Vec<&str> = REPORTS.iter().map(|r| r.name).collect();
        return Err(AppError::field(
            "name",
            format!("no report `{name}`: the reports are {}", names.join(", ")),
        ));
    };
    let asked = check(&state, &q, &headers)?;
    let table = {
        let _turn = state.reports.turn().await?;
        build(&state, report, &asked).await?
    };
    if asked.csv {
        return csv_response(&table, asked.hourly);
    }
    Ok(Json(table).into_response())
}

/// The periods of the range: each day, or each hour of each day.
fn buckets(asked: &Asked) -> Vec<(Span, Vec<Span>)> {
    asked
        .days
        .iter()
        .flat_map(|day| {
            let hours = local_hours(*day);
            if asked.hourly {
                hours.into_iter().map(|h| (h, vec![h])).collect::<Vec<_>>()
            } else {
                vec![(*day, hours)]
            }
        })
        .collect()
}

async fn build(
    state: &ApiState,
    report: &'static Report,
    asked: &Asked,
) -> Result<Table, AppError> {
    let terms = Terms::of(state);
    let now = now_ms();
    let tz = &state.desk.time_zone;
    let label = |span: Span| {
        let text = local_label(tz, span.start);
        if asked.hourly {
            text
        } else {
            text[..10.min(text.len())].to_owned()
        }
    };
    let (rows, total) = match report.name {
        "calls" | "service-level" | "abandonment" | "handle-time" | "fcr" => {
            let buckets = buckets(asked);
            let hours: Vec<Span> = buckets
                .iter()
                .flat_map(|(_, h)| h.iter().copied())
                .collect();
            let figures = state
                .store
                .call_figures(&hours, asked.queue.as_deref(), &report_terms(state), now)
                .await?;
            let mut it = figures.into_iter();
            let mut total = CallFigures::default();
            let mut rows = Vec::with_capacity(buckets.len());
            for (bucket, hours) in &buckets {
                let mut f = CallFigures::default();
                for _ in hours {
                    f.add(&it.next().unwrap_or_default());
                }
                total.add(&f);
                rows.push(call_row(report.name, &label(*bucket), &f));
            }
            (rows, Some(call_row(report.name, "total", &total)))
        }
        "satisfaction" => {
            let satisfied_from = state.desk.sla.satisfied_from;
            let buckets = buckets(asked);
            // Days from the kept days; hours (a month at most) counted.
            let mut figures = if asked.hourly {
                let mut hours = Vec::with_capacity(buckets.len());
                for (hour, _) in &buckets {
                    hours.push(
                        state
                            .store
                            .follow_up_figures(hour.start, hour.end, satisfied_from)
                            .await?,
                    );
                }
                hours
            } else {
                state
                    .store
                    .follow_ups_by_day(&asked.days, &report_terms(state), now)
                    .await?
            };
            let mut total = FollowUpFigures::default();
            let mut rows = Vec::with_capacity(buckets.len());
            for ((bucket, _), f) in buckets.iter().zip(&mut figures) {
                f.count_satisfied(satisfied_from);
                total.add(f);
                rows.push(satisfaction_row(&label(*bucket), f));
            }
            (rows, Some(satisfaction_row("total", &total)))
        }
        "agents" | "agent-states" => {
            let figures = state
                .store
                .agent_figures(&asked.days, &report_terms(state), now)
                .await?;
            agent_rows(state, report.name, &figures).await?
        }
        "stages" => {
            let mut moves = tickets(state, asked, now).await?.stage_moves();
            moves.sort_by_key(|m| (stage_order(&m.from), stage_order(&m.to)));
            let rows = moves
                .iter()
                .map(|m| {
                    let timed = matches!(
                        m.to.as_str(),
                        "dispatched" | "completed" | "followed_up" | "closed"
                    );
                    obj([
                        ("from_stage", json!(m.from)),
                        ("to_stage", json!(m.to)),
                        ("moves", json!(m.moves)),
                        ("avg_hours", hours(m.total_ms, m.moves)),
                        ("late", if timed { json!(m.late) } else { Value::Null }),
                        (
                            "on_time_rate",
                            if timed {
                                pct(m.moves - m.late, m.moves)
                            } else {
                                Value::Null
                            },
                        ),
                    ])
                })
                .collect();
            (rows, None)
        }
        "outlets" | "tiers" => {
            outlet_rows(state, report.name, &tickets(state, asked, now).await?).await?
        }
        "complaints" => {
            let f = tickets(state, asked, now).await?;
            let (by_category, all) = f.complaints();
            let rows = by_category
                .iter()
                .map(|c| {
                    obj([
                        ("source", json!(c.source)),
                        ("category", json!(c.category)),
                        (
                            "team",
                            if c.source == "accepted" {
                                json!(state.desk.team_for(&c.category))
                            } else {
                                json!("")
                            },
                        ),
                        ("complaints", json!(c.complaints)),
                        ("share", pct(c.complaints, all)),
                        ("rate", pct(c.complaints, f.tickets_accepted)),
                    ])
                })
                .collect();
            let total = obj([
                ("source", json!("total")),
                ("category", json!("")),
                ("team", json!("")),
                ("complaints", json!(all)),
                ("share", pct(all, all)),
                ("rate", pct(all, f.tickets_accepted)),
            ]);
            (rows, Some(total))
        }
        other => unreachable!("report {other} has no builder"),
    };
    let shown = view(report, &terms);
    Ok(Table {
        report: report.name,
        title: shown.title,
        definition: shown.definition,
        from: asked.from.to_string(),
        to: asked.to.to_string(),
        by: if !report.by_time {
            "range"
        } else if asked.hourly {
            "hour"
        } else {
            "day"
        },
        queue: asked.queue.clone(),
        terms,
        generated_at: now,
        columns: shown.columns,
        rows,
        total,
    })
}

fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Map<String, Value> {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// `part / whole` in percent, one decimal; null when `whole` is 0.
#[allow(clippy::cast_precision_loss)] // counts far below 2^52
fn pct(part: i64, whole: i64) -> Value {
    if whole <= 0 {
        return Value::Null;
    }
    json!((part as f64 * 1000.0 / whole as f64).round() / 10.0)
}

/// `ms / n` in seconds, one decimal; null when `n` is 0.
#[allow(clippy::cast_precision_loss)]
fn secs(ms: i64, n: i64) -> Value {
    if n <= 0 {
        return Value::Null;
    }
    json!((ms as f64 / n as f64 / 100.0).round() / 10.0)
}

/// `ms / n` in hours, two decimals; null when `n` is 0.
#[allow(clippy::cast_precision_loss)]
fn hours(ms: i64, n: i64) -> Value {
    if n <= 0 {
        return Value::Null;
    }
    json!((ms as f64 / n as f64 / 36_000.0).round() / 100.0)
}

/// One row of the call reports.
fn call_row(report: &str, bucket: &str, f: &CallFigures) -> Map<String, Value> {
    let mut row = obj([("bucket", json!(bucket))]);
    let done = f.offered - f.waiting;
    let decided = f.fcr_calls - f.fcr_pending;
    let cells: Vec<(&str, Value)> = match report {
        "calls" => vec![
            ("inbound", json!(f.inbound)),
            ("offered", json!(f.offered)),
            ("answered", json!(f.answered)),
            ("abandoned", json!(f.abandoned)),
            ("callbacks", json!(f.callbacks)),
            ("outbound", json!(f.outbound)),
            ("outbound_answered", json!(f.outbound_answered)),
        ],
        "service-level" => vec![
            ("offered", json!(f.offered)),
            ("answered", json!(f.answered)),
            ("answered_in_time", json!(f.answered_in_time)),
            ("callbacks", json!(f.callbacks)),
            ("waiting", json!(f.waiting)),
            ("service_level", pct(f.answered_in_time, done - f.callbacks)),
            ("asa_secs", secs(f.answer_wait_ms, f.answered)),
            (
                "longest_wait_secs",
                secs(f.longest_wait_ms, i64::from(f.answered > 0)),
            ),
        ],
        "abandonment" => vec![
            ("offered", json!(f.offered)),
            ("abandoned", json!(f.abandoned)),
            ("abandon_rate", pct(f.abandoned, done)),
            ("avg_abandon_secs", secs(f.abandon_wait_ms, f.abandoned)),
            ("callbacks", json!(f.callbacks)),
            ("left_queue", json!(f.left_queue)),
            ("waiting", json!(f.waiting)),
        ],
        "handle-time" => vec![
            ("handled", json!(f.handled)),
            ("avg_talk_secs", secs(f.talk_ms, f.handled)),
            ("avg_hold_secs", secs(f.hold_ms, f.handled)),
            ("avg_wrap_up_secs", secs(f.wrap_up_ms, f.handled)),
            (
                "aht_secs",
                secs(f.talk_ms + f.hold_ms + f.wrap_up_ms, f.handled),
            ),
            ("transferred", json!(f.transferred)),
        ],
        _ => vec![
            ("fcr_calls", json!(f.fcr_calls)),
            ("decided", json!(decided)),
            ("repeated", json!(f.fcr_repeated)),
            ("resolved", json!(decided - f.fcr_repeated)),
            ("pending", json!(f.fcr_pending)),
            ("fcr_rate", pct(decided - f.fcr_repeated, decided)),
        ],
    };
    row.extend(cells.into_iter().map(|(k, v)| (k.to_owned(), v)));
    row
}

fn satisfaction_row(bucket: &str, f: &FollowUpFigures) -> Map<String, Value> {
    let scored: i64 = f.scores.iter().sum();
    let mut row = obj([
        ("bucket", json!(bucket)),
        ("completed", json!(f.tickets_completed)),
        ("followed_up", json!(f.followed_up)),
        ("coverage", pct(f.followed_up, f.tickets_completed)),
        ("scored", json!(scored)),
        ("satisfied", json!(f.satisfied)),
        ("satisfaction_rate", pct(f.satisfied, scored)),
    ]);
    for (i, n) in f.scores.iter().enumerate() {
        row.insert(format!("score_{}", i + 1), json!(n));
    }
    row
}

/// The agents' names, for the agent reports.
async fn names(
    state: &ApiState,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, AppError> {
    Ok(state
        .store
        .user_names(ids)
        .await?
        .into_iter()
        .map(|(id, (user, name))| (id, if name.trim().is_empty() { user } else { name }))
        .collect())
}

async fn agent_rows(
    state: &ApiState,
    report: &str,
    f: &AgentFigures,
) -> Result<(Vec<Map<String, Value>>, Option<Map<String, Value>>), AppError> {
    let mut logged_in: BTreeMap<i64, i64> = BTreeMap::new();
    for ((agent, _, _), ms) in &f.states {
        *logged_in.entry(*agent).or_default() += ms;
    }
    let mut ids: Vec<i64> = logged_in.keys().chain(f.calls.keys()).copied().collect();
    ids.sort_unstable();
    ids.dedup();
    let names = names(state, &ids).await?;
    let name = |id: &i64| json!(names.get(id).cloned().unwrap_or_else(|| format!("#{id}")));
    if report == "agent-states" {
        let rows = f
            .states
            .iter()
            .map(|((agent, state_name, reason), ms)| {
                obj([
                    ("agent_id", json!(agent)),
                    ("agent", name(agent)),
                    ("state", json!(state_name)),
                    ("reason", json!(reason)),
                    ("secs", secs(*ms, 1)),
                    (
                        "share",
                        pct(*ms, logged_in.get(agent).copied().unwrap_or(0)),
                    ),
                ])
            })
            .collect();
        return Ok((rows, None));
    }
    let row = |id: Value, who: Value, c: &crate::store::reports::AgentCalls, on_ms: i64| {
        obj([
            ("agent_id", id),
            ("agent", who),
            ("inbound", json!(c.inbound)),
            ("outbound", json!(c.outbound)),
            ("handled", json!(c.handled)),
            (
                "aht_secs",
                secs(c.talk_ms + c.hold_ms + c.wrap_up_ms, c.handled),
            ),
            ("logged_in_secs", secs(on_ms, 1)),
            ("calls_per_hour", per_hour(c.inbound, on_ms)),
        ])
    };
    let mut total = crate::store::reports::AgentCalls::default();
    let mut rows = Vec::with_capacity(ids.len());
    for id in &ids {
        let c = f.calls.get(id).copied().unwrap_or_default();
        let on = logged_in.get(id).copied().unwrap_or(0);
        total.inbound += c.inbound;
        total.outbound += c.outbound;
        total.handled += c.handled;
        total.talk_ms += c.talk_ms;
        total.hold_ms += c.hold_ms;
        total.wrap_up_ms += c.wrap_up_ms;
        rows.push(row(json!(id), name(id), &c, on));
    }
    let on_all: i64 = logged_in.values().sum();
    Ok((rows, Some(row(Value::Null, json!("total"), &total, on_all))))
}

/// `calls` per hour of `ms`, two decimals; null without time.
#[allow(clippy::cast_precision_loss)]
fn per_hour(calls: i64, ms: i64) -> Value {
    if ms <= 0 {
        return Value::Null;
    }
    json!((calls as f64 * 3_600_000.0 / ms as f64 * 100.0).round() / 100.0)
}

/// The stages in their life order, for sorting the moves.
fn stage_order(stage: &str) -> usize {
    [
        "accepted",
        "dispatched",
        "in_service",
        "completed",
        "followed_up",
        "closed",
        "reopened",
    ]
    .iter()
    .position(|s| *s == stage)
    .unwrap_or(usize::MAX)
}

/// The ticket figures of the asked days, summed.
async fn tickets(state: &ApiState, asked: &Asked, now: i64) -> Result<TicketFigures, AppError> {
    Ok(state
        .store
        .ticket_figures(&asked.days, &report_terms(state), now)
        .await?)
}

async fn outlet_rows(
    state: &ApiState,
    report: &str,
    figures: &TicketFigures,
) -> Result<(Vec<Map<String, Value>>, Option<Map<String, Value>>), AppError> {
    let mut jobs = figures.outlet_jobs(&state.store.outlet_names().await?);
    if report == "tiers" {
        let mut tiers: BTreeMap<usize, (String, i64, Jobs)> = BTreeMap::new();
        for j in &jobs {
            let order = ["city", "county", "town"]
                .iter()
                .position(|t| *t == j.tier)
                .unwrap_or(3);
            let e = tiers
                .entry(order)
                .or_insert_with(|| (j.tier.clone(), 0, Jobs::default()));
            e.1 += 1;
            e.2.add(&j.jobs);
        }
        let row = |tier: &str, outlets: i64, j: &Jobs| {
            obj([
                ("tier", json!(tier)),
                ("outlets", json!(outlets)),
                ("dispatched", json!(j.dispatched)),
                ("completed", json!(j.completed)),
                ("avg_completion_hours", hours(j.completion_ms, j.completed)),
                ("late", json!(j.late)),
                ("on_time_rate", pct(j.completed - j.late, j.completed)),
            ])
        };
        let (mut all, mut outlets) = (Jobs::default(), 0);
        let rows = tiers
            .values()
            .map(|(tier, n, j)| {
                outlets += n;
                all.add(j);
                row(tier, *n, j)
            })
            .collect();
        return Ok((rows, Some(row("total", outlets, &all))));
    }
    // The ranking: on time first, then quick, then those with nothing
    // completed; the code breaks ties.
    #[allow(clippy::cast_precision_loss)]
    let key = |o: &OutletJobs| {
        let j = &o.jobs;
        if j.completed == 0 {
            (1, 0.0, 0.0, o.code.clone())
        } else {
            let on_time = (j.completed - j.late) as f64 / j.completed as f64;
            let avg = j.completion_ms as f64 / j.completed as f64;
            (0, -on_time, avg, o.code.clone())
        }
    };
    jobs.sort_by(|a, b| {
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0)
            .then(ka.1.total_cmp(&kb.1))
            .then(ka.2.total_cmp(&kb.2))
            .then(ka.3.cmp(&kb.3))
    });
    let rows = jobs
        .iter()
        .zip(1_i64..)
        .map(|(o, rank)| {
            let j = &o.jobs;
            obj([
                ("rank", json!(rank)),
                ("outlet", json!(o.code)),
                ("outlet_name", json!(o.name)),
                ("tier", json!(o.tier)),
                ("dispatched", json!(j.dispatched)),
                ("completed", json!(j.completed)),
                ("avg_arrival_hours", hours(j.arrival_ms, j.started)),
                ("avg_repair_hours", hours(j.repair_ms, j.started)),
                ("avg_completion_hours", hours(j.completion_ms, j.completed)),
                ("late", json!(j.late)),
                ("on_time_rate", pct(j.completed - j.late, j.completed)),
            ])
        })
        .collect();
    Ok((rows, None))
}

/// The table as CSV: a header row of the columns' keys, the rows, the
/// total last; a UTF-8 byte order mark first, so spreadsheet programs
/// read the Chinese right.
fn csv_response(table: &Table, hourly: bool) -> Result<Response, AppError> {
    let mut out = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let keys: Vec<&str> = table.columns.iter().map(|c| c.key).collect();
    let failed = |e: csv::Error| AppError::BadRequest(format!("cannot write the CSV: {e}"));
    out.write_record(&keys).map_err(failed)?;
    for row in table.rows.iter().chain(table.total.as_ref()) {
        let cells: Vec<String> = keys
            .iter()
            .map(|k| match row.get(*k) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
            })
            .collect();
        out.write_record(&cells).map_err(failed)?;
    }
    let body = out
        .into_inner()
        .map_err(|e| AppError::BadRequest(format!("cannot write the CSV: {e}")))?;
    let by = match (table.by, hourly) {
        ("range", _) => String::new(),
        (_, true) => "-by-hour".to_owned(),
        _ => "-by-day".to_owned(),
    };
    let filename = format!(
        "hotline-{}-{}-to-{}{}.csv",
        table.report, table.from, table.to, by
    );
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Every report's definition and columns as Markdown, with the terms'
/// configuration keys in place of their values: the section of
/// docs/reports.md between its `definitions` markers.
pub fn definitions_markdown() -> String {
    let keys = |text: &str| {
        text.replace("{sl}", "`service_level_secs`")
            .replace("{target}", "`service_level_target`")
            .replace("{fcr}", "`fcr_days`")
            .replace("{sat}", "`satisfied_from`")
    };
    let mut md = String::new();
    for r in REPORTS {
        md.push_str(&format!(
            "### {} — {} (`{}`)\n\n{}\n\n{}\n\n| Column | | Meaning |\n|---|---|---|\n",
            r.title_en,
            r.title_zh,
            r.name,
            keys(r.def_en),
            keys(r.def_zh)
        ));
        for c in r.columns {
            md.push_str(&format!(
                "| `{}` | {} / {} | {} {} |\n",
                c.key,
                keys(c.en),
                keys(c.zh),
                keys(c.def_en),
                keys(c.def_zh)
            ));
        }
        md.push('\n');
    }
    md
}
