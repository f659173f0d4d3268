//! The IVR's data dips: runs a lookup node's question against the store
//! and turns the answer into the variables the flow (and later the agent's
//! screen pop) reads. Each lookup runs in its own task, so a slow database
//! never holds up the driver; the interpreter gives up after
//! [`crate::ivr::interp::LOOKUP_TIMEOUT`] and takes the `failed` edge.

use crate::ivr::{LookupAnswer, LookupKind};
use crate::store::{Store, TicketSummary};

/// Asks the store; never fails: errors become [`LookupAnswer::Failed`].
pub async fn run(store: &Store, what: LookupKind, key: &str) -> LookupAnswer {
    // A caller's user part may carry parameters (`13800138000;cpc=ordinary`).
    let key = key.split(';').next().unwrap_or_default().trim();
    let result = match what {
        LookupKind::Customer => store.customer_by_phone(key).await.map(|c| {
            c.map(|c| {
                vec![
                    ("customer.id".to_owned(), c.id.to_string()),
                    ("customer.name".to_owned(), c.name),
                    ("customer.region".to_owned(), c.region),
                    ("customer.vip".to_owned(), yes_no(c.vip)),
                    (
                        "customer.open_tickets".to_owned(),
                        c.open_tickets.to_string(),
                    ),
                ]
            })
        }),
        LookupKind::OpenTickets => store.open_tickets_by_phone(key).await.map(|tickets| {
            let count = tickets.len();
            tickets.into_iter().next().map(|newest| {
                let mut vars = vec![("tickets.count".to_owned(), count.to_string())];
                vars.extend(ticket_vars(newest));
                vars
            })
        }),
        // The store refuses anything but a ticket number's ten digits
        // without a query.
        LookupKind::Ticket => store
            .ticket_by_number(key)
            .await
            .map(|t| t.map(ticket_vars)),
    };
    match result {
        Ok(Some(vars)) => LookupAnswer::Found(vars),
        Ok(None) => LookupAnswer::NotFound,
        Err(e) => LookupAnswer::Failed(e.to_string()),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.to_owned()
}

fn ticket_vars(t: TicketSummary) -> Vec<(String, String)> {
    vec![
        ("ticket.number".to_owned(), t.number),
        ("ticket.kind".to_owned(), t.kind.as_str().to_owned()),
        ("ticket.stage".to_owned(), t.stage.as_str().to_owned()),
        (
            "ticket.outlet".to_owned(),
            t.outlet_name.unwrap_or_default(),
        ),
        (
            "ticket.outlet_phone".to_owned(),
            t.outlet_phone.unwrap_or_default(),
        ),
        (
            "ticket.product".to_owned(),
            t.product_model.unwrap_or_default(),
        ),
    ]
}
