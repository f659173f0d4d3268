//! Demo data: a small after-sales world in Zhejiang and Jiangsu, for trying
//! the IVR and the API on a fresh database ([`Store::seed_demo`]), and
//! optionally a crowd of generated customers around it
//! ([`Store::seed_demo_with_crowd`], src/store/demo_crowd.rs).
//!
//! Tests and the IVR demo depend on these facts; keep them exact:
//! - `13800138000` is 王建国 (not VIP, also `057186541234`): one open
//!   repair ticket `2611250001` (his TV), stage `dispatched` to outlet
//!   `HZ-XIHU` (杭州西湖服务中心, `057188881234`), and one closed
//!   installation ticket `2412250008`.
//! - `13900139000` is 李秀英, VIP (also `15951234567`, `02583456789`): one
//!   open complaint `2611200003` (stage `accepted`, no outlet) and a
//!   followed-up repair `2611130012`.
//! - 6 customers, 14 phones, 8 products (TVs, washing machines, water
//!   heaters, an e-bike; one with unknown dates), 5 outlets (HZ-XIHU,
//!   NJ-GULOU city; HZ-TONGLU, NB-YUYAO county; SZ-ZHOUZHUANG town), 11
//!   tickets covering every kind and every stage.
//!
//! With the crowd ([`Store::seed_demo_with_crowd`], what `hotline serve`
//! seeds): 300 more customers, about 140 more tickets in every stage
//! (numbered from 5001 of their day), 12 outlets in all (6 city, 4
//! county, 2 town, adding SH-XUHUI, SH-PUDONG, SZ-GUSU, NB-HAISHU,
//! WX-JIANGYIN, JX-HAINING and HZ-QIANDAOHU); every fact above stays true.
//!
//! The fixed world's ticket numbers are fixed (`YYMMDD` + a 4-digit daily
//! sequence, as if seeded on 2026-11-25); times and dates are relative to
//! the `now_ms` given, with dates on the China calendar (UTC+8). Every
//! ticket carries the stamps the ticket core gives for the usual path to
//! its stage ([`insert_ticket`]).

use std::collections::HashMap;

use jiff::tz::{self, TimeZone};
use jiff::{Timestamp, ToSpan};
use sqlx::AnyConnection;

use super::{Backend, Store, StoreError};
use crate::ticket as core;

const HOUR_MS: i64 = 3_600_000;
pub(super) const DAY_MS: i64 = 24 * HOUR_MS;

pub(super) struct Outlet {
    pub(super) code: &'static str,
    pub(super) name: &'static str,
    pub(super) tier: &'static str,
    /// Normalised.
    pub(super) phone: &'static str,
    /// The regions it serves, comma-separated.
    pub(super) areas: &'static str,
}

struct Customer {
    name: &'static str,
    region: &'static str,
    address: &'static str,
    vip: bool,
    /// Normalised.
    phones: &'static [&'static str],
    since_days: i64,
    products: &'static [Product],
    tickets: &'static [Ticket],
}

struct Product {
    model: &'static str,
    serial: &'static str,
    /// Days before now it was bought and years of warranty from then;
    /// `None`: both dates unknown.
    bought: Option<(i64, i8)>,
}

struct Ticket {
    number: &'static str,
    kind: &'static str,
    category: &'static str,
    description: &'static str,
    stage: &'static str,
    /// Index into the customer's products.
    product: Option<usize>,
    outlet: Option<&'static str>,
    created_hours_ago: i64,
    updated_hours_ago: i64,
}

pub(super) const OUTLETS: &[Outlet] = &[
    Outlet {
        code: "HZ-XIHU",
        name: "杭州西湖服务中心",
        tier: "city",
        phone: "057188881234",
        areas: "浙江省杭州市西湖区,浙江省杭州市拱墅区,浙江省杭州市上城区",
    },
    Outlet {
        code: "NJ-GULOU",
        name: "南京鼓楼服务中心",
        tier: "city",
        phone: "02583331234",
        areas: "江苏省南京市鼓楼区,江苏省南京市玄武区",
    },
    Outlet {
        code: "HZ-TONGLU",
        name: "桐庐县服务网点",
        tier: "county",
        phone: "057164301234",
        areas: "浙江省杭州市桐庐县",
    },
    Outlet {
        code: "NB-YUYAO",
        name: "余姚服务网点",
        tier: "county",
        phone: "057462701234",
        areas: "浙江省宁波市余姚市",
    },
    Outlet {
        code: "SZ-ZHOUZHUANG",
        name: "周庄镇服务站",
        tier: "town",
        phone: "051257211234",
        areas: "江苏省苏州市昆山市周庄镇",
    },
];

const CUSTOMERS: &[Customer] = &[
    Customer {
        name: "王建国",
        region: "浙江省杭州市西湖区",
        address: "文一西路522号西溪花园7幢2单元301室",
        vip: false,
        phones: &["13800138000", "057186541234"],
        since_days: 700,
        products: &[
            Product {
                model: "LED65-E7 65英寸液晶电视",
                serial: "E765K2410120318",
                bought: Some((400, 3)),
            },
            Product {
                model: "XQG100-B14 滚筒洗衣机",
                serial: "B14K24122501577",
                bought: Some((700, 1)),
            },
        ],
        tickets: &[
            Ticket {
                number: "2611250001",
                kind: "repair",
                category: "无图像有声音",
                description: "开机有声音无图像，背光不亮，约三天前开始",
                stage: "dispatched",
                product: Some(0),
                outlet: Some("HZ-XIHU"),
                created_hours_ago: 3,
                updated_hours_ago: 2,
            },
            Ticket {
                number: "2412250008",
                kind: "installation",
                category: "上门安装",
                description: "新购滚筒洗衣机安装，需拆旧机",
                stage: "closed",
                product: Some(1),
                outlet: Some("HZ-XIHU"),
                created_hours_ago: 700 * 24,
                updated_hours_ago: 690 * 24,
            },
        ],
    },
    Customer {
        name: "李秀英",
        region: "江苏省南京市鼓楼区",
        address: "中山北路105号2幢801室",
        vip: true,
        phones: &["13900139000", "15951234567", "02583456789"],
        since_days: 900,
        products: &[Product {
            model: "DSZF-60J5 60升电热水器",
            serial: "J560K2505080211",
            bought: Some((200, 3)),
        }],
        tickets: &[
            Ticket {
                number: "2611200003",
                kind: "complaint",
                category: "网点服务态度",
                description: "维修师傅两次未按约定时间上门，回访时表示不满意",
                stage: "accepted",
                product: Some(0),
                outlet: None,
                created_hours_ago: 5 * 24,
                updated_hours_ago: 24,
            },
            Ticket {
                number: "2611130012",
                kind: "repair",
                category: "不加热",
                description: "热水器通电后不加热，指示灯正常",
                stage: "followed_up",
                product: Some(0),
                outlet: Some("NJ-GULOU"),
                created_hours_ago: 12 * 24,
                updated_hours_ago: 5 * 24,
            },
        ],
    },
    Customer {
        name: "张伟",
        region: "江苏省苏州市昆山市周庄镇",
        address: "全福路36号",
        vip: false,
        phones: &["18662345678", "051257223456"],
        since_days: 100,
        products: &[Product {
            model: "TDR-48V20 电动自行车",
            serial: "V20K2508170093",
            bought: Some((100, 1)),
        }],
        tickets: &[Ticket {
            number: "2611230021",
            kind: "repair",
            category: "电池不充电",
            description: "充电器指示灯一直绿灯，电池充不进电",
            stage: "in_service",
            product: Some(0),
            outlet: Some("SZ-ZHOUZHUANG"),
            created_hours_ago: 2 * 24,
            updated_hours_ago: 6,
        }],
    },
    Customer {
        name: "陈静",
        region: "浙江省宁波市余姚市",
        address: "新建北路88号5幢602室",
        vip: false,
        phones: &["13758461234", "057462669876"],
        since_days: 10,
        products: &[Product {
            model: "XQB80-M1 波轮洗衣机",
            serial: "M1K2611150442",
            bought: Some((10, 3)),
        }],
        tickets: &[Ticket {
            number: "2611160007",
            kind: "installation",
            category: "上门安装",
            description: "新机安装，含进水管加长",
            stage: "completed",
            product: Some(0),
            outlet: Some("NB-YUYAO"),
            created_hours_ago: 9 * 24,
            updated_hours_ago: 24,
        }],
    },
    Customer {
        name: "刘洋",
        region: "浙江省杭州市桐庐县",
        address: "迎春南路215号",
        vip: false,
        phones: &["15067891234", "057164612345", "13305718899"],
        since_days: 500,
        products: &[Product {
            model: "JSQ24-16 燃气热水器",
            serial: "Q16K2407130885",
            bought: Some((500, 3)),
        }],
        tickets: &[
            Ticket {
                number: "2611250003",
                kind: "consultation",
                category: "配件购买",
                description: "询问热水器排烟管配件价格",
                stage: "accepted",
                product: None,
                outlet: None,
                created_hours_ago: 1,
                updated_hours_ago: 1,
            },
            Ticket {
                number: "2611050015",
                kind: "repair",
                category: "点火失败",
                description: "打开热水阀后多次点火不着，维修后再次出现",
                stage: "reopened",
                product: Some(0),
                outlet: Some("HZ-TONGLU"),
                created_hours_ago: 20 * 24,
                updated_hours_ago: 2 * 24,
            },
            Ticket {
                number: "2508020004",
                kind: "consultation",
                category: "使用咨询",
                description: "冬季防冻如何设置",
                stage: "closed",
                product: Some(0),
                outlet: None,
                created_hours_ago: 480 * 24,
                updated_hours_ago: 480 * 24,
            },
        ],
    },
    Customer {
        name: "赵丽华",
        region: "浙江省杭州市拱墅区",
        address: "莫干山路1418号3幢1101室",
        vip: false,
        phones: &["17751234567", "057185671234"],
        since_days: 1_500,
        products: &[
            Product {
                model: "LED55-A5 55英寸液晶电视",
                serial: "A555K2609260127",
                bought: Some((60, 3)),
            },
            Product {
                model: "LED42-K1 42英寸液晶电视",
                serial: "",
                bought: None,
            },
        ],
        tickets: &[
            Ticket {
                number: "2611250002",
                kind: "consultation",
                category: "延保咨询",
                description: "询问电视延保价格和范围",
                stage: "accepted",
                product: Some(0),
                outlet: None,
                created_hours_ago: 2,
                updated_hours_ago: 2,
            },
            Ticket {
                number: "2609280006",
                kind: "installation",
                category: "挂架安装",
                description: "电视壁挂安装",
                stage: "followed_up",
                product: Some(0),
                outlet: Some("HZ-XIHU"),
                created_hours_ago: 58 * 24,
                updated_hours_ago: 50 * 24,
            },
        ],
    },
];

/// The fixed world's phones, for the crowd to stay clear of.
pub(super) fn fixed_phones() -> impl Iterator<Item = &'static str> {
    CUSTOMERS.iter().flat_map(|c| c.phones.iter().copied())
}

/// The fixed world's (model, serial) pairs with a serial.
pub(super) fn fixed_serials() -> impl Iterator<Item = (&'static str, &'static str)> {
    CUSTOMERS
        .iter()
        .flat_map(|c| c.products.iter())
        .filter(|p| !p.serial.is_empty())
        .map(|p| (p.model, p.serial))
}

impl Store {
    /// Insert the demo data (described in `src/store/demo.rs`: customers
    /// with phones, products, outlets and tickets) in one transaction if
    /// there are no customers yet, then the demo knowledge base if it is
    /// empty (`src/store/kb.rs`); `false` if there were, and then nothing
    /// is written. Two processes seeding at once insert it once. Times and
    /// dates are relative to `now_ms`.
    pub async fn seed_demo(&self, now_ms: i64) -> Result<bool, StoreError> {
        self.seed(now_ms, false).await
    }

    /// [`Store::seed_demo`] plus the demo crowd (src/store/demo_crowd.rs:
    /// 300 generated customers with phones, products and tickets, 7 more
    /// outlets),
    /// all in the one transaction and under the same rule: only into a
    /// database without customers, else `false` and nothing written.
    pub async fn seed_demo_with_crowd(&self, now_ms: i64) -> Result<bool, StoreError> {
        self.seed(now_ms, true).await
    }

    async fn seed(&self, now_ms: i64, crowd: bool) -> Result<bool, StoreError> {
        // Takes the write lock before the count, like the migrator.
        let mut tx = self.begin_write().await?;
        if self.backend == Backend::Postgres {
            // Conflicts with itself and with inserts: a second seeder waits
            // here, then counts what the first committed.
            sqlx::raw_sql("LOCK TABLE customers IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        let customers: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM customers")
            .fetch_one(&mut *tx)
            .await
            .map_err(StoreError::from_sqlx)?;
        if customers > 0 {
            tx.rollback().await.map_err(StoreError::from_sqlx)?;
            return Ok(false);
        }
        insert(&mut tx, now_ms)
            .await
            .map_err(StoreError::from_sqlx)?;
        if crowd {
            super::demo_crowd::insert(&mut tx, now_ms)
                .await
                .map_err(StoreError::from_sqlx)?;
        }
        tx.commit().await.map_err(StoreError::from_sqlx)?;
        super::kb::seed_kb_demo(self, now_ms).await?;
        Ok(true)
    }
}

async fn insert(conn: &mut AnyConnection, now_ms: i64) -> Result<(), sqlx::Error> {
    let mut outlet_ids = HashMap::new();
    for o in OUTLETS {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO outlets (code, name, tier, phone, areas) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(o.code)
        .bind(o.name)
        .bind(o.tier)
        .bind(o.phone)
        .bind(o.areas)
        .fetch_one(&mut *conn)
        .await?;
        outlet_ids.insert(o.code, id);
    }

    let today = china_date(now_ms);
    let days_ago = |days: i64| today.checked_sub(days.days()).unwrap_or(today);
    for c in CUSTOMERS {
        let customer_id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, region, address, vip, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(c.name)
        .bind(c.region)
        .bind(c.address)
        .bind(i64::from(c.vip))
        .bind(now_ms - c.since_days * DAY_MS)
        .fetch_one(&mut *conn)
        .await?;
        for phone in c.phones {
            sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
                .bind(*phone)
                .bind(customer_id)
                .execute(&mut *conn)
                .await?;
        }
        let mut product_ids = Vec::with_capacity(c.products.len());
        for p in c.products {
            let (purchase, warranty_end) = match p.bought {
                Some((days, years)) => {
                    let bought = days_ago(days);
                    let end = bought.checked_add(years.years()).unwrap_or(bought);
                    (Some(bought.to_string()), Some(end.to_string()))
                }
                None => (None, None),
            };
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO products \
                 (customer_id, model, serial, purchase_date, warranty_end) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(customer_id)
            .bind(p.model)
            .bind(p.serial)
            .bind(purchase)
            .bind(warranty_end)
            .fetch_one(&mut *conn)
            .await?;
            product_ids.push(id);
        }
        for t in c.tickets {
            let outlet = t.outlet.map(|code| {
                let o = OUTLETS
                    .iter()
                    .find(|o| o.code == code)
                    .expect("a demo outlet");
                core::Outlet {
                    id: outlet_ids[code],
                    tier: core::OutletTier::parse(o.tier).expect("a demo tier"),
                }
            });
            let spec = DemoTicket {
                number: t.number.to_owned(),
                customer_id,
                product_id: t.product.map(|i| product_ids[i]),
                kind: core::TicketKind::parse(t.kind).expect("a demo kind"),
                stage: core::TicketStage::parse(t.stage).expect("a demo stage"),
                category: t.category,
                description: t.description.to_owned(),
                outlet,
                created_ms: now_ms - t.created_hours_ago * HOUR_MS,
                updated_ms: now_ms - t.updated_hours_ago * HOUR_MS,
            };
            insert_ticket(conn, &spec).await?;
        }
    }
    Ok(())
}

/// A demo ticket, fixed or generated for the crowd.
pub(super) struct DemoTicket {
    pub(super) number: String,
    pub(super) customer_id: i64,
    pub(super) product_id: Option<i64>,
    pub(super) kind: core::TicketKind,
    /// Where it stands now; reached along the usual path.
    pub(super) stage: core::TicketStage,
    pub(super) category: &'static str,
    pub(super) description: String,
    /// Dispatched to (and worked by) this outlet; `None`: settled by the
    /// call center (consultations, complaints).
    pub(super) outlet: Option<core::Outlet>,
    pub(super) created_ms: i64,
    pub(super) updated_ms: i64,
}

/// Writes a demo ticket with the stamps and derived columns its core
/// gives ([`demo_ticket`]), as the API would have.
pub(super) async fn insert_ticket(
    conn: &mut AnyConnection,
    t: &DemoTicket,
) -> Result<(), sqlx::Error> {
    let ticket = demo_ticket(t);
    let (due_stage, due_at) = super::tickets::due_columns(&ticket);
    let team = (ticket.kind() == core::TicketKind::Complaint)
        .then(|| core::ServiceDesk::default().team_for(t.category).to_owned());
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO tickets \
         (number, customer_id, product_id, kind, accepted_kind, category, description, \
          stage, outlet_id, team, version, due_stage, due_at, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         RETURNING id",
    )
    .bind(&t.number)
    .bind(t.customer_id)
    .bind(t.product_id)
    .bind(ticket.kind().as_str())
    .bind(t.kind.as_str())
    .bind(t.category)
    .bind(&t.description)
    .bind(ticket.stage().as_str())
    .bind(ticket.outlet().map(|o| o.id))
    .bind(team)
    .bind(ticket.version() as i64)
    .bind(due_stage)
    .bind(due_at)
    .bind(t.created_ms)
    .bind(t.updated_ms)
    .fetch_one(&mut *conn)
    .await?;
    for (seq, stamp) in ticket.stamps().iter().enumerate() {
        super::tickets::insert_stamp(conn, id, seq as i64, stamp).await?;
    }
    Ok(())
}

/// A demo ticket's core: accepted at `created_ms` and moved by the system
/// along the usual path to its stage, the moves spread evenly up to
/// `updated_ms`, so its stamps, due time and version are what the API
/// would have left.
fn demo_ticket(t: &DemoTicket) -> core::Ticket {
    use core::TicketStage::*;
    let policy = core::SlaPolicy::default();
    let (kind, target, outlet) = (t.kind, t.stage, t.outlet);
    let (created_ms, updated_ms) = (t.created_ms, t.updated_ms);
    let mut path = Vec::new();
    if target != Accepted {
        if outlet.is_some() {
            path.push(Dispatched);
            if target != Dispatched {
                path.push(InService);
            }
        }
        if target != Dispatched && target != InService {
            path.push(Completed);
            if target != Completed {
                path.push(FollowedUp);
                if target != FollowedUp {
                    path.push(target);
                }
            }
        }
    }
    let mut ticket = core::Ticket::accept(kind, created_ms, core::Actor::System, &policy);
    let step = (updated_ms - created_ms) / (path.len() as i64).max(1);
    for (i, to) in path.iter().enumerate() {
        let mut request = core::Transition::to(
            *to,
            ticket.version(),
            created_ms + step * (i as i64 + 1),
            core::Actor::System,
        );
        match to {
            Dispatched => request.outlet = outlet,
            // Reopened after a poor score, closed after a good one.
            FollowedUp => request.score = Some(if target == Reopened { 2 } else { 5 }),
            _ => {}
        }
        ticket
            .transition(request, &policy)
            .expect("the demo path is legal");
    }
    ticket
}

/// The calendar date in China (UTC+8, no daylight saving) at `now_ms`;
/// 1970-01-01 for a time outside what a date can hold.
pub(super) fn china_date(now_ms: i64) -> jiff::civil::Date {
    let china = TimeZone::fixed(tz::offset(8));
    Timestamp::from_millisecond(now_ms)
        .unwrap_or(Timestamp::UNIX_EPOCH)
        .to_zoned(china)
        .date()
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{CUSTOMERS, OUTLETS, china_date};
    use crate::phone::normalise;
    use crate::store::lookups::{TicketKind, TicketStage};

    #[test]
    fn demo_data_is_consistent() {
        let mut phones = HashSet::new();
        let mut numbers = HashSet::new();
        let (mut kinds, mut stages) = (HashSet::new(), HashSet::new());
        let codes: HashSet<_> = OUTLETS.iter().map(|o| o.code).collect();
        assert_eq!(codes.len(), OUTLETS.len());
        for o in OUTLETS {
            assert_eq!(normalise(o.phone).as_deref(), Some(o.phone), "{}", o.code);
            assert!(["city", "county", "town"].contains(&o.tier));
        }
        for c in CUSTOMERS {
            assert!(!c.phones.is_empty(), "{}", c.name);
            for p in c.phones {
                assert_eq!(normalise(p).as_deref(), Some(*p), "{}", c.name);
                assert!(phones.insert(*p), "{p} twice");
            }
            for t in c.tickets {
                assert!(numbers.insert(t.number), "{} twice", t.number);
                assert!(t.number.len() == 10 && t.number.bytes().all(|b| b.is_ascii_digit()));
                kinds.insert(TicketKind::parse(t.kind).expect(t.kind));
                stages.insert(TicketStage::parse(t.stage).expect(t.stage));
                assert!(t.product.is_none_or(|i| i < c.products.len()));
                assert!(t.outlet.is_none_or(|o| codes.contains(o)));
                assert!(t.updated_hours_ago <= t.created_hours_ago, "{}", t.number);
            }
        }
        assert_eq!(kinds.len(), TicketKind::ALL.len());
        assert_eq!(stages.len(), TicketStage::ALL.len());
    }

    #[test]
    fn dates_are_on_the_china_calendar() {
        // 2026-11-25 18:00 UTC is already the 26th in China.
        let t = 1_795_629_600_000;
        assert_eq!(china_date(t).to_string(), "2026-11-26");
        assert_eq!(china_date(t - 3 * 3_600_000).to_string(), "2026-11-25");
        assert_eq!(china_date(i64::MAX).to_string(), "1970-01-01");
    }
}
