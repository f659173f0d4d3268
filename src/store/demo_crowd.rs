//! The demo crowd: 300 generated customers around the fixed demo world
//! (src/store/demo.rs), so lists, searches and pages have something to
//! show, and 7 more outlets, 12 in all, whose areas cover where the crowd
//! lives. Added by [`super::Store::seed_demo_with_crowd`] in the same
//! transaction as the fixed world.
//!
//! Deterministic: one seeded [`fastrand::Rng`] draws everything, so the
//! crowd is the same on every database and every run (only its dates move
//! with the `now_ms` given, as the fixed world's do). Realistic enough to
//! read: common surnames and given names, regions in Zhejiang, Jiangsu and
//! Shanghai that are exactly the outlets' areas, street addresses of those
//! places, mobiles `1[3-9]x` and local landlines with the region's area
//! code, 1 to 3 products each of the fixed world's models with serials in
//! its format (model prefix, `K`, a build date `YYMMDD`, a sequence).
//!
//! Invariants (checked by the tests below): no phone and no model/serial
//! pair repeats or collides with the fixed world's; every phone is
//! normalised; every region is an outlet's area and every area has
//! customers. About 45 % of the crowd have a ticket ([`Tickets`]), written
//! with the stamps the ticket core gives, as the API would have.

use std::collections::HashSet;

use jiff::ToSpan;
use jiff::civil::Date;
use sqlx::AnyConnection;

use super::demo::{self, DAY_MS, Outlet};

/// How many customers the crowd has.
pub(super) const CROWD_SIZE: usize = 300;

/// The seed of the crowd's generator; change it and the crowd changes.
const SEED: u64 = 0x0068_6f74_6c69_6e65; // "hotline" in ASCII

/// Outlets added with the crowd: with the fixed world's five, 6 city, 4
/// county and 2 town outlets.
pub(super) const OUTLETS: &[Outlet] = &[
    Outlet {
        code: "SH-XUHUI",
        name: "上海徐汇服务中心",
        tier: "city",
        phone: "02164381234",
        areas: "上海市徐汇区,上海市长宁区",
    },
    Outlet {
        code: "SH-PUDONG",
        name: "上海浦东服务中心",
        tier: "city",
        phone: "02158881234",
        areas: "上海市浦东新区",
    },
    Outlet {
        code: "SZ-GUSU",
        name: "苏州姑苏服务中心",
        tier: "city",
        phone: "051265201234",
        areas: "江苏省苏州市姑苏区,江苏省苏州市吴中区",
    },
    Outlet {
        code: "NB-HAISHU",
        name: "宁波海曙服务中心",
        tier: "city",
        phone: "057487301234",
        areas: "浙江省宁波市海曙区,浙江省宁波市鄞州区",
    },
    Outlet {
        code: "WX-JIANGYIN",
        name: "江阴服务网点",
        tier: "county",
        phone: "051086801234",
        areas: "江苏省无锡市江阴市",
    },
    Outlet {
        code: "JX-HAINING",
        name: "海宁服务网点",
        tier: "county",
        phone: "057387201234",
        areas: "浙江省嘉兴市海宁市",
    },
    Outlet {
        code: "HZ-QIANDAOHU",
        name: "千岛湖镇服务站",
        tier: "town",
        phone: "057165011234",
        areas: "浙江省杭州市淳安县千岛湖镇",
    },
];

/// Where the crowd lives: each region is one outlet area, with its
/// landline area code, a few real streets, and how many live there
/// relative to the others.
struct Region {
    region: &'static str,
    area_code: &'static str,
    roads: &'static [&'static str],
    weight: u32,
    /// Flats (幢/单元/室) rather than houses (号 only).
    flats: bool,
}

const REGIONS: &[Region] = &[
    Region {
        region: "浙江省杭州市西湖区",
        area_code: "0571",
        roads: &["文三路", "天目山路", "古墩路", "文一西路", "学院路"],
        weight: 30,
        flats: true,
    },
    Region {
        region: "浙江省杭州市拱墅区",
        area_code: "0571",
        roads: &["莫干山路", "湖墅南路", "大关路", "上塘路"],
        weight: 20,
        flats: true,
    },
    Region {
        region: "浙江省杭州市上城区",
        area_code: "0571",
        roads: &["解放路", "延安路", "清泰街", "望江路"],
        weight: 20,
        flats: true,
    },
    Region {
        region: "江苏省南京市鼓楼区",
        area_code: "025",
        roads: &["中山北路", "北京西路", "广州路", "湖南路"],
        weight: 25,
        flats: true,
    },
    Region {
        region: "江苏省南京市玄武区",
        area_code: "025",
        roads: &["珠江路", "北京东路", "龙蟠路", "太平北路"],
        weight: 20,
        flats: true,
    },
    Region {
        region: "浙江省杭州市桐庐县",
        area_code: "0571",
        roads: &["迎春南路", "白云源路", "开元路"],
        weight: 10,
        flats: false,
    },
    Region {
        region: "浙江省宁波市余姚市",
        area_code: "0574",
        roads: &["新建北路", "阳明西路", "南雷南街"],
        weight: 12,
        flats: true,
    },
    Region {
        region: "江苏省苏州市昆山市周庄镇",
        area_code: "0512",
        roads: &["全福路", "蚬江街", "大渔港路"],
        weight: 5,
        flats: false,
    },
    Region {
        region: "上海市徐汇区",
        area_code: "021",
        roads: &["漕溪北路", "衡山路", "肇嘉浜路", "天钥桥路"],
        weight: 25,
        flats: true,
    },
    Region {
        region: "上海市长宁区",
        area_code: "021",
        roads: &["延安西路", "天山路", "仙霞路"],
        weight: 15,
        flats: true,
    },
    Region {
        region: "上海市浦东新区",
        area_code: "021",
        roads: &["张杨路", "世纪大道", "东方路", "浦东南路"],
        weight: 30,
        flats: true,
    },
    Region {
        region: "江苏省苏州市姑苏区",
        area_code: "0512",
        roads: &["人民路", "干将西路", "十全街"],
        weight: 15,
        flats: true,
    },
    Region {
        region: "江苏省苏州市吴中区",
        area_code: "0512",
        roads: &["东吴北路", "宝带西路", "越溪路"],
        weight: 10,
        flats: true,
    },
    Region {
        region: "浙江省宁波市海曙区",
        area_code: "0574",
        roads: &["中山西路", "药行街", "柳汀街"],
        weight: 12,
        flats: true,
    },
    Region {
        region: "浙江省宁波市鄞州区",
        area_code: "0574",
        roads: &["天童南路", "四明中路", "钱湖北路"],
        weight: 12,
        flats: true,
    },
    Region {
        region: "江苏省无锡市江阴市",
        area_code: "0510",
        roads: &["澄江中路", "虹桥北路", "人民东路"],
        weight: 10,
        flats: true,
    },
    Region {
        region: "浙江省嘉兴市海宁市",
        area_code: "0573",
        roads: &["海洲路", "文苑路", "水月亭路"],
        weight: 10,
        flats: true,
    },
    Region {
        region: "浙江省杭州市淳安县千岛湖镇",
        area_code: "0571",
        roads: &["新安大街", "环湖北路", "开元路"],
        weight: 5,
        flats: false,
    },
];

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "肖", "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁",
    "任", "沈", "姚", "卢", "姜", "崔", "钟", "谭", "陆", "汪", "范", "金", "石", "廖", "贾", "夏",
    "韦", "方", "邵", "孟", "钱", "顾", "诸葛", "欧阳",
];

const GIVEN_NAMES: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞", "平", "刚", "桂英", "建华", "志强", "海燕", "晓东", "丽娟",
    "国平", "玉兰", "春梅", "建军", "文华", "红梅", "卫东", "淑珍", "子轩", "梓涵", "浩然", "欣怡",
    "雨桐", "宇航", "思远", "佳怡", "俊杰", "婷婷", "文博", "一诺", "家豪", "晨曦", "永明", "德华",
    "美玲", "雪梅", "国庆", "建平", "小红", "立新", "振华", "慧敏", "嘉伟", "云", "斌", "鹏", "辉",
    "琳", "颖", "萍", "瑶", "鑫", "宁", "浩", "倩", "彬", "凯",
];

/// Mobile prefixes in use (China Mobile, Unicom, Telecom, virtual).
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152",
    "153", "155", "156", "157", "158", "159", "166", "173", "177", "180", "181", "182", "183",
    "185", "186", "187", "188", "189", "191", "198", "199",
];

/// The fixed world's models, with their serial prefix and years of
/// warranty.
const MODELS: &[(&str, &str, i8)] = &[
    ("LED65-E7 65英寸液晶电视", "E765", 3),
    ("LED55-A5 55英寸液晶电视", "A555", 3),
    ("LED42-K1 42英寸液晶电视", "K142", 3),
    ("XQG100-B14 滚筒洗衣机", "B14", 1),
    ("XQB80-M1 波轮洗衣机", "M1", 3),
    ("DSZF-60J5 60升电热水器", "J560", 3),
    ("JSQ24-16 燃气热水器", "Q16", 3),
    ("TDR-48V20 电动自行车", "V20", 1),
];

/// The day the serials' build dates count back from (the fixed world's
/// ticket numbers are as if seeded then too), so serials do not depend on
/// `now_ms`.
const SERIAL_EPOCH: (i16, i8, i8) = (2026, 11, 25);

pub(super) struct CrowdCustomer {
    pub(super) name: String,
    pub(super) region: &'static str,
    pub(super) address: String,
    pub(super) vip: bool,
    /// Normalised.
    pub(super) phones: Vec<String>,
    pub(super) since_days: i64,
    pub(super) products: Vec<CrowdProduct>,
}

pub(super) struct CrowdProduct {
    pub(super) model: &'static str,
    /// Empty for a few: the label is gone.
    pub(super) serial: String,
    /// Days before now it was bought (never before the customer's
    /// registration).
    pub(super) bought_days: i64,
    pub(super) warranty_years: i8,
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

fn pick_region(rng: &mut fastrand::Rng) -> &'static Region {
    let total: u32 = REGIONS.iter().map(|r| r.weight).sum();
    let mut n = rng.u32(..total);
    for r in REGIONS {
        if n < r.weight {
            return r;
        }
        n -= r.weight;
    }
    &REGIONS[0]
}

fn digits(rng: &mut fastrand::Rng, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.u8(..10))).collect()
}

/// A phone nobody has yet, by `make`, recorded in `taken`.
fn fresh(
    rng: &mut fastrand::Rng,
    taken: &mut HashSet<String>,
    make: impl Fn(&mut fastrand::Rng) -> String,
) -> String {
    loop {
        let phone = make(rng);
        if taken.insert(phone.clone()) {
            return phone;
        }
    }
}

/// The crowd, the same on every call.
pub(super) fn crowd() -> Vec<CrowdCustomer> {
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut phones_taken: HashSet<String> = demo::fixed_phones().map(str::to_owned).collect();
    let mut serials_taken: HashSet<(&str, String)> = demo::fixed_serials()
        .map(|(m, s)| (m, s.to_owned()))
        .collect();
    let epoch = Date::new(SERIAL_EPOCH.0, SERIAL_EPOCH.1, SERIAL_EPOCH.2).unwrap_or_default();
    let mut crowd = Vec::with_capacity(CROWD_SIZE);
    for _ in 0..CROWD_SIZE {
        let name = format!(
            "{}{}",
            pick(&mut rng, SURNAMES),
            pick(&mut rng, GIVEN_NAMES)
        );
        let region = pick_region(&mut rng);
        let road = pick(&mut rng, region.roads);
        let address = if region.flats {
            format!(
                "{road}{}号{}幢{}单元{}{:02}室",
                rng.u32(1..=800),
                rng.u32(1..=20),
                rng.u32(1..=4),
                rng.u32(1..=18),
                rng.u32(1..=4)
            )
        } else {
            format!("{road}{}号", rng.u32(1..=300))
        };
        let mobile =
            |rng: &mut fastrand::Rng| format!("{}{}", pick(rng, MOBILE_PREFIXES), digits(rng, 8));
        let landline = |rng: &mut fastrand::Rng| {
            // Subscriber numbers start 2-8 (0 and 1 are prefixes).
            format!("{}{}{}", region.area_code, rng.u8(2..=8), digits(rng, 7))
        };
        let mut phones = vec![fresh(&mut rng, &mut phones_taken, mobile)];
        if rng.u8(..100) < 35 {
            phones.push(fresh(&mut rng, &mut phones_taken, landline));
        }
        if rng.u8(..100) < 10 {
            phones.push(fresh(&mut rng, &mut phones_taken, mobile));
        }
        phones.sort();

        let since_days = rng.i64(1..=1_800);
        let count = match rng.u8(..100) {
            0..55 => 1,
            55..90 => 2,
            _ => 3,
        };
        let mut models: Vec<usize> = Vec::new();
        while models.len() < count {
            let m = rng.usize(..MODELS.len());
            if !models.contains(&m) {
                models.push(m);
            }
        }
        let products = models
            .into_iter()
            .map(|m| {
                let (model, prefix, warranty_years) = MODELS[m];
                let bought_days = rng.i64(0..=since_days);
                let built = epoch
                    .checked_sub((bought_days + rng.i64(20..=90)).days())
                    .unwrap_or(epoch);
                let serial = if rng.u8(..100) < 4 {
                    String::new()
                } else {
                    loop {
                        let serial = format!(
                            "{prefix}K{:02}{:02}{:02}{}",
                            built.year() % 100,
                            built.month(),
                            built.day(),
                            digits(&mut rng, 4)
                        );
                        if serials_taken.insert((model, serial.clone())) {
                            break serial;
                        }
                    }
                };
                CrowdProduct {
                    model,
                    serial,
                    bought_days,
                    warranty_years,
                }
            })
            .collect();

        crowd.push(CrowdCustomer {
            name,
            region: region.region,
            address,
            vip: rng.u8(..100) < 8,
            phones,
            since_days,
            products,
        });
    }
    crowd
}

/// Inserts the crowd's outlets and customers on `conn` (inside the seeding
/// transaction), with dates relative to `now_ms` on the China calendar.
pub(super) async fn insert(conn: &mut AnyConnection, now_ms: i64) -> Result<(), sqlx::Error> {
    for o in OUTLETS {
        sqlx::query(
            "INSERT INTO outlets (code, name, tier, phone, areas) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(o.code)
        .bind(o.name)
        .bind(o.tier)
        .bind(o.phone)
        .bind(o.areas)
        .execute(&mut *conn)
        .await?;
    }
    let outlets = sqlx::query_as::<_, super::OutletRecord>(
        "SELECT id, code, name, tier, phone, areas FROM outlets",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut tickets = Tickets::new(now_ms);
    let today = demo::china_date(now_ms);
    let days_ago = |days: i64| today.checked_sub(days.days()).unwrap_or(today);
    for c in crowd() {
        let customer_id: i64 = sqlx::query_scalar(
            "INSERT INTO customers (name, region, address, vip, created_at) \
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(&c.name)
        .bind(c.region)
        .bind(&c.address)
        .bind(i64::from(c.vip))
        .bind(now_ms - c.since_days * DAY_MS)
        .fetch_one(&mut *conn)
        .await?;
        for phone in &c.phones {
            sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
                .bind(phone)
                .bind(customer_id)
                .execute(&mut *conn)
                .await?;
        }
        let mut product_ids = Vec::with_capacity(c.products.len());
        for p in &c.products {
            let bought = days_ago(p.bought_days);
            let end = bought
                .checked_add(p.warranty_years.years())
                .unwrap_or(bought);
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO products \
                 (customer_id, model, serial, purchase_date, warranty_end) \
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(customer_id)
            .bind(p.model)
            .bind(&p.serial)
            .bind(bought.to_string())
            .bind(end.to_string())
            .fetch_one(&mut *conn)
            .await?;
            product_ids.push(id);
        }
        let outlet = super::outlets::suggest(&outlets, c.region)
            .first()
            .map(|o| crate::ticket::Outlet {
                id: o.id,
                tier: o.tier,
            });
        if let Some(ticket) = tickets.maybe(customer_id, &product_ids, outlet) {
            demo::insert_ticket(conn, &ticket).await?;
        }
    }
    Ok(())
}

/// The crowd's tickets: about 45 % of its customers have one, of every
/// kind and in every stage, open ones from the last day and a half, finished ones
/// from the last six weeks, dispatched to the outlet serving the
/// customer's region. Numbered from 5001 of their day, clear of the fixed
/// world's numbers; drawn from their own seeded generator, so they do not
/// change the crowd.
struct Tickets {
    rng: fastrand::Rng,
    now_ms: i64,
    /// The last number used per `YYMMDD`.
    last: std::collections::HashMap<String, u32>,
}

impl Tickets {
    fn new(now_ms: i64) -> Tickets {
        Tickets {
            rng: fastrand::Rng::with_seed(SEED ^ 0x7469_636b),
            now_ms,
            last: Default::default(),
        }
    }

    fn maybe(
        &mut self,
        customer_id: i64,
        products: &[i64],
        outlet: Option<crate::ticket::Outlet>,
    ) -> Option<demo::DemoTicket> {
        use crate::ticket::{TicketKind as K, TicketStage as S};
        let rng = &mut self.rng;
        if rng.u8(..100) >= 45 {
            return None;
        }
        let (kind, categories): (K, &[(&'static str, &str)]) = match rng.u8(..100) {
            0..55 => (K::Repair, REPAIRS),
            55..80 => (K::Installation, INSTALLS),
            80..90 => (K::Consultation, CONSULTATIONS),
            _ => (K::Complaint, COMPLAINTS),
        };
        let (category, description) = *pick(rng, categories);
        let stage = *pick(
            rng,
            &[
                S::Accepted,
                S::Dispatched,
                S::Dispatched,
                S::InService,
                S::InService,
                S::Completed,
                S::Completed,
                S::FollowedUp,
                S::Closed,
                S::Closed,
                S::Closed,
                S::Closed,
                S::Reopened,
            ],
        );
        // Consultations and complaints are settled by the call center;
        // repairs and installations need an outlet to get past accepted.
        let settled_here = matches!(kind, K::Consultation | K::Complaint);
        let stage = match (stage, settled_here) {
            (S::Dispatched | S::InService, true) => S::Accepted,
            (stage, _) => stage,
        };
        let outlet = if settled_here { None } else { outlet };
        if outlet.is_none() && !settled_here && stage != S::Accepted {
            return None;
        }
        let hour = 3_600_000;
        let (created_ms, updated_ms) = if stage.is_open() {
            // Open work is recent, so most of it is still within its SLA.
            let created = self.now_ms - rng.i64(1..36) * hour;
            (
                created,
                created + (self.now_ms - created) * rng.i64(1..10) / 10,
            )
        } else {
            let created = self.now_ms - rng.i64(24 * 7..24 * 42) * hour;
            (created, created + rng.i64(24..24 * 6) * hour)
        };
        let day = crate::ticket::ServiceDesk::default().number_day(created_ms);
        let n = self.last.entry(day.clone()).or_insert(5000);
        *n += 1;
        Some(demo::DemoTicket {
            number: format!("{day}{n:04}"),
            customer_id,
            product_id: (!settled_here && !products.is_empty())
                .then(|| products[rng.usize(..products.len())]),
            kind,
            stage,
            category,
            description: description.to_owned(),
            outlet,
            created_ms,
            updated_ms,
        })
    }
}

const REPAIRS: &[(&str, &str)] = &[
    ("不开机", "按电源键无反应，指示灯不亮"),
    ("漏水", "机器底部漏水，地面有积水"),
    ("异响", "运行时有明显异响，像金属摩擦声"),
    ("不脱水", "洗衣完成后衣服很湿，脱水时报警"),
    ("无图像", "有声音没有图像，屏幕黑屏"),
    ("不加热", "热水器通电后不加热，水一直是凉的"),
    ("遥控失灵", "遥控器按键没有反应，已换过电池"),
];
const INSTALLS: &[(&str, &str)] = &[
    ("新机安装", "新买的机器需要上门安装"),
    ("挂架安装", "电视需要壁挂安装，用户已买好挂架"),
    ("移机", "搬家后需要拆装移机"),
];
const CONSULTATIONS: &[(&str, &str)] = &[
    ("保修政策", "询问保修期多久，发票丢了还能不能保修"),
    ("使用咨询", "询问节能模式怎么设置"),
    ("配件购买", "询问排水管加长件在哪里买"),
];
const COMPLAINTS: &[(&str, &str)] = &[
    ("服务态度", "师傅上门态度差，没有穿鞋套"),
    ("上门超时", "约好上午上门，下午才到"),
    ("收费争议", "保修期内被收取上门费"),
    ("维修质量", "修过一次又坏了，同样的问题"),
];

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::{CROWD_SIZE, MODELS, OUTLETS, REGIONS, crowd};
    use crate::phone::normalise;
    use crate::store::demo;

    #[test]
    fn the_crowd_is_the_same_every_time() {
        let (a, b) = (crowd(), crowd());
        assert_eq!(a.len(), CROWD_SIZE);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(
                (&x.name, &x.address, &x.phones),
                (&y.name, &y.address, &y.phones)
            );
            let serials = |c: &super::CrowdCustomer| {
                c.products
                    .iter()
                    .map(|p| p.serial.clone())
                    .collect::<Vec<_>>()
            };
            assert_eq!(serials(x), serials(y));
        }
    }

    #[test]
    fn phones_and_serials_are_unique_and_well_formed() {
        let mut phones: HashSet<String> = demo::fixed_phones().map(str::to_owned).collect();
        let mut serials: HashSet<(&str, String)> = demo::fixed_serials()
            .map(|(m, s)| (m, s.to_owned()))
            .collect();
        for c in crowd() {
            assert!((1..=3).contains(&c.phones.len()), "{}", c.name);
            assert!(c.phones.is_sorted());
            assert!(
                c.phones.iter().any(|p| p.starts_with('1')),
                "{}: no mobile",
                c.name
            );
            for p in &c.phones {
                assert_eq!(normalise(p).as_deref(), Some(p.as_str()), "{p}");
                assert!(phones.insert(p.clone()), "{p} twice");
            }
            assert!((1..=3).contains(&c.products.len()));
            for p in &c.products {
                assert!(MODELS.iter().any(|(m, ..)| *m == p.model));
                assert!(p.bought_days <= c.since_days);
                if !p.serial.is_empty() {
                    assert!(serials.insert((p.model, p.serial.clone())), "{}", p.serial);
                }
            }
            let chars = c.name.chars().count();
            assert!((2..=4).contains(&chars), "{}", c.name);
        }
    }

    #[test]
    fn twelve_outlets_cover_every_region_and_every_area_has_customers() {
        let all: Vec<&demo::Outlet> = demo::OUTLETS.iter().chain(OUTLETS).collect();
        assert_eq!(all.len(), 12);
        let codes: HashSet<&str> = all.iter().map(|o| o.code).collect();
        assert_eq!(codes.len(), 12);
        let tiers: HashSet<&str> = all.iter().map(|o| o.tier).collect();
        assert_eq!(tiers.len(), 3);
        let areas: Vec<&str> = all.iter().flat_map(|o| o.areas.split(',')).collect();
        for o in OUTLETS {
            assert_eq!(normalise(o.phone).as_deref(), Some(o.phone), "{}", o.code);
        }
        for r in REGIONS {
            assert!(areas.contains(&r.region), "{} has no outlet", r.region);
        }
        let mut living: HashMap<&str, usize> = HashMap::new();
        for c in crowd() {
            *living.entry(c.region).or_default() += 1;
        }
        for area in areas {
            assert!(living.get(area).is_some_and(|n| *n > 0), "nobody in {area}");
        }
    }
}
