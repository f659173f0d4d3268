//! What a ticket is for and where it stands, with their stored names.

use std::fmt;

use serde::Serialize;

/// What a ticket is for.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    /// 报修
    Repair,
    /// 安装
    Installation,
    /// 咨询
    Consultation,
    /// 投诉
    Complaint,
}

impl TicketKind {
    pub const ALL: [TicketKind; 4] = [
        TicketKind::Repair,
        TicketKind::Installation,
        TicketKind::Consultation,
        TicketKind::Complaint,
    ];

    /// The stored (and serialised) name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketKind::Repair => "repair",
            TicketKind::Installation => "installation",
            TicketKind::Consultation => "consultation",
            TicketKind::Complaint => "complaint",
        }
    }

    /// The kind a stored name names.
    pub fn parse(s: &str) -> Option<TicketKind> {
        TicketKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for TicketKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a ticket stands (see /work/shared/domain.md: each stage is timed,
/// outlets are ranked by those times).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TicketStage {
    /// 受理: recorded during the call.
    Accepted,
    /// 派工: assigned to a service outlet.
    Dispatched,
    /// 处置: the outlet's technician is on it.
    InService,
    /// 完工回单: the outlet reported the job done; awaits the follow-up call.
    Completed,
    /// 回访: the customer was called back and is satisfied.
    FollowedUp,
    /// 结案
    Closed,
    /// Opened again (an unsatisfied follow-up, the fault came back).
    Reopened,
}

impl TicketStage {
    pub const ALL: [TicketStage; 7] = [
        TicketStage::Accepted,
        TicketStage::Dispatched,
        TicketStage::InService,
        TicketStage::Completed,
        TicketStage::FollowedUp,
        TicketStage::Closed,
        TicketStage::Reopened,
    ];

    /// The stored (and serialised) name.
    pub fn as_str(self) -> &'static str {
        match self {
            TicketStage::Accepted => "accepted",
            TicketStage::Dispatched => "dispatched",
            TicketStage::InService => "in_service",
            TicketStage::Completed => "completed",
            TicketStage::FollowedUp => "followed_up",
            TicketStage::Closed => "closed",
            TicketStage::Reopened => "reopened",
        }
    }

    /// The stage a stored name names.
    pub fn parse(s: &str) -> Option<TicketStage> {
        TicketStage::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Position in the ticket's life, for "back to" in messages: reopened
    /// comes after closed.
    pub(crate) fn order(self) -> usize {
        self as usize
    }

    /// The stage in words: "in service", "followed up".
    pub fn phrase(self) -> &'static str {
        match self {
            TicketStage::InService => "in service",
            TicketStage::FollowedUp => "followed up",
            other => other.as_str(),
        }
    }

    /// Still needs something from us: every stage but `followed_up` and
    /// `closed` (a completed job still awaits its follow-up call).
    pub fn is_open(self) -> bool {
        !matches!(self, TicketStage::FollowedUp | TicketStage::Closed)
    }
}

impl fmt::Display for TicketStage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
