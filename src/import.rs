//! CSV files of customers and of products, parsed and checked row by row
//! for `hotline import` ([`customers`], [`products`]). Pure: takes any
//! [`Read`], does no other I/O; the store writes the good rows
//! ([`crate::store::Store::import_customers`],
//! [`crate::store::Store::import_products`]).
//!
//! The files, as Excel or WPS save "CSV UTF-8": a UTF-8 byte order mark is
//! skipped, CRLF and LF line ends both work, fields may be quoted (with
//! commas and line breaks inside). Blank lines and rows with every field
//! empty are skipped silently.
//!
//! - Customers: header `name,phones,region,address,vip`; `name` and
//!   `phones` are required columns, the others optional. Phones are
//!   separated by `;`, `；`, `/`, `,`, `，` or `、`; vip is `1/0`,
//!   `yes/no`, `y/n`, `true/false`, `是/否` or empty (no).
//! - Products: header `phone,model,serial,purchase_date,warranty_end`;
//!   `phone` and `model` are required columns. The phone finds the
//!   customer. Dates are `YYYY-MM-DD`, and `YYYY/M/D` or `YYYY-M-D` (what
//!   Excel writes) are read as that date; empty means not known.
//!
//! Column names are matched ignoring case and surrounding spaces, in any
//! order. A header with a column missing, unknown or twice refuses the
//! whole file (reported on the header's line): a misspelt column would
//! otherwise be silently dropped from every row.
//!
//! Every bad row is reported by the line it starts on (a quoted line break
//! makes a row span lines, and the rows after it start further down), with
//! why; the good rows are returned with their lines, so the store's refusals
//! can be reported the same way.

use std::io::Read;

use serde::Serialize;

use crate::phone;
use crate::store::customers::{
    NewCustomer, NewProduct, validate_new_customer, validate_new_product,
};
use crate::validate::{FieldError, join};

/// A good row and the line of the file it starts on (1 is the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line<T> {
    pub line: u64,
    pub value: T,
}

/// A row not imported, by the line it starts on, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// A parsed file: the good rows, and the bad ones with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    pub rows: Vec<Line<T>>,
    pub errors: Vec<RowError>,
    /// Data rows not returned in `rows`: one per row error, or every data
    /// row when the header refused the file.
    pub skipped: usize,
}

/// A product row: the customer's phone (normalised) and the product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRow {
    pub phone: String,
    pub product: NewProduct,
}

const CUSTOMER_COLUMNS: &[&str] = &["name", "phones", "region", "address", "vip"];
const CUSTOMER_REQUIRED: &[&str] = &["name", "phones"];
const PRODUCT_COLUMNS: &[&str] = &["phone", "model", "serial", "purchase_date", "warranty_end"];
const PRODUCT_REQUIRED: &[&str] = &["phone", "model"];

/// The customers of a CSV file (see the module docs for its form).
pub fn customers(reader: impl Read) -> Parsed<NewCustomer> {
    parse(reader, CUSTOMER_COLUMNS, CUSTOMER_REQUIRED, |row| {
        let customer = NewCustomer {
            name: row.get("name").to_owned(),
            phones: split_phones(row.get("phones")),
            region: row.get("region").to_owned(),
            address: row.get("address").to_owned(),
            vip: false,
        };
        let mut errors = validate_new_customer(&customer);
        let vip = parse_vip(row.get("vip"));
        if vip.is_none() {
            errors.push(FieldError::new(
                "vip",
                format!(
                    "`{}` is not one of 1/0, yes/no, 是/否",
                    row.get("vip").trim()
                ),
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(NewCustomer {
            vip: vip.unwrap_or(false),
            ..customer
        })
    })
}

/// The products of a CSV file (see the module docs for its form).
pub fn products(reader: impl Read) -> Parsed<ProductRow> {
    parse(reader, PRODUCT_COLUMNS, PRODUCT_REQUIRED, |row| {
        let product = NewProduct {
            model: row.get("model").to_owned(),
            serial: row.get("serial").to_owned(),
            purchase_date: excel_date(row.get("purchase_date")),
            warranty_end: excel_date(row.get("warranty_end")),
        };
        let mut errors = Vec::new();
        let raw_phone = row.get("phone").trim();
        let phone = phone::normalise(raw_phone);
        if raw_phone.is_empty() {
            errors.push(FieldError::new("phone", "is required"));
        } else if phone.is_none() {
            errors.push(FieldError::new(
                "phone",
                format!("`{raw_phone}` is not a phone number"),
            ));
        }
        errors.extend(validate_new_product(&product));
        match phone {
            Some(phone) if errors.is_empty() => Ok(ProductRow { phone, product }),
            _ => Err(errors),
        }
    })
}

/// A campaign contact row: the number (normalised) and what the call is
/// about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactRow {
    pub number: String,
    pub customer_id: Option<i64>,
    pub ticket: Option<String>,
}

const CONTACT_COLUMNS: &[&str] = &["phone", "customer_id", "ticket"];
const CONTACT_REQUIRED: &[&str] = &["phone"];

/// The contacts of a CSV file for a campaign (header
/// `phone,customer_id,ticket`; `phone` required): a number that is not
/// one, one outside the campaign's dial rules, or a row naming the same
/// contact as an earlier one (the same ticket, or the same number without
/// a ticket) is reported by its line, and the good rows come back.
pub fn contacts(reader: impl Read, rules: &crate::campaign::Rules) -> Parsed<ContactRow> {
    let mut parsed = parse(reader, CONTACT_COLUMNS, CONTACT_REQUIRED, |row| {
        let raw = row.get("phone").trim();
        let mut errors = Vec::new();
        let number = phone::normalise(raw);
        match &number {
            None if raw.is_empty() => errors.push(FieldError::new("phone", "is required")),
            None => errors.push(FieldError::new(
                "phone",
                format!("`{raw}` is not a phone number"),
            )),
            Some(n) if !rules.number_allowed(n) => errors.push(FieldError::new(
                "phone",
                format!("`{raw}` is outside the campaign's dial rules"),
            )),
            Some(_) => {}
        }
        let customer = row.get("customer_id").trim();
        let customer_id = if customer.is_empty() {
            None
        } else {
            match customer.parse::<i64>() {
                Ok(id) if id > 0 => Some(id),
                _ => {
                    errors.push(FieldError::new(
                        "customer_id",
                        format!("`{customer}` is not a customer id"),
                    ));
                    None
                }
            }
        };
        let ticket = Some(row.get("ticket").trim().to_owned()).filter(|t| !t.is_empty());
        match number {
            Some(number) if errors.is_empty() => Ok(ContactRow {
                number,
                customer_id,
                ticket,
            }),
            _ => Err(errors),
        }
    });
    // The same contact twice: the first row stands.
    let mut first: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut rows = Vec::new();
    for row in parsed.rows {
        let key = row.value.ticket.as_ref().map_or_else(
            || format!("number {}", row.value.number),
            |t| format!("ticket {t}"),
        );
        match first.get(&key) {
            Some(line) => {
                parsed.errors.push(RowError {
                    line: row.line,
                    message: format!("the same {key} as line {line}"),
                });
                parsed.skipped += 1;
            }
            None => {
                first.insert(key, row.line);
                rows.push(row);
            }
        }
    }
    parsed.rows = rows;
    parsed.errors.sort_by_key(|e| e.line);
    parsed
}

/// One data row's fields by column name.
struct Fields<'a> {
    columns: &'a [Option<&'static str>],
    values: Vec<String>,
}

impl Fields<'_> {
    /// The field of `column`; empty if the file has no such column.
    fn get(&self, column: &str) -> &str {
        self.columns
            .iter()
            .position(|c| *c == Some(column))
            .and_then(|i| self.values.get(i))
            .map_or("", String::as_str)
    }
}

fn parse<T>(
    mut reader: impl Read,
    known: &[&'static str],
    required: &[&'static str],
    row: impl Fn(&Fields) -> Result<T, Vec<FieldError>>,
) -> Parsed<T> {
    let mut parsed = Parsed {
        rows: Vec::new(),
        errors: Vec::new(),
        skipped: 0,
    };
    // Whole, to count lines ourselves (see `Lines`); files are small.
    let mut input = Vec::new();
    if let Err(e) = reader.read_to_end(&mut input) {
        parsed.errors.push(RowError {
            line: 1,
            message: format!("cannot read the file: {e}"),
        });
        return parsed;
    }
    let mut lines = Lines {
        input: &input,
        at: 0,
        line: 1,
    };
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        // Rows with the wrong number of fields are reported, not fatal.
        .flexible(true)
        .from_reader(&input[..]);
    let mut columns: Option<Vec<Option<&'static str>>> = None;
    let mut header_refused = false;
    let mut record = csv::ByteRecord::new();
    loop {
        match csv.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => {
                // Reading bytes from memory with `flexible`, nothing is
                // expected to fail; if it does, say where and stop.
                let byte = e.position().map_or(u64::MAX, csv::Position::byte);
                parsed.errors.push(RowError {
                    line: lines.line_at(byte),
                    message: format!("cannot read the rest of the file: {e}"),
                });
                break;
            }
        }
        let line = lines.line_at(record.position().map_or(0, csv::Position::byte));
        let values = match utf8_fields(&record) {
            Ok(values) => values,
            Err(()) => {
                parsed.errors.push(RowError {
                    line,
                    message: "is not UTF-8 text (save the file as \"CSV UTF-8\")".to_owned(),
                });
                if columns.is_some() {
                    parsed.skipped += 1;
                } else {
                    header_refused = true;
                    columns = Some(Vec::new());
                }
                continue;
            }
        };
        if values.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let Some(columns) = &columns else {
            match header(&values, known, required) {
                Ok(c) => columns = Some(c),
                Err(message) => {
                    parsed.errors.push(RowError { line, message });
                    header_refused = true;
                    columns = Some(Vec::new());
                }
            }
            continue;
        };
        if header_refused {
            parsed.skipped += 1;
            continue;
        }
        if values.len() != columns.len() {
            parsed.errors.push(RowError {
                line,
                message: format!(
                    "wrong column count: {} fields, the header has {}",
                    values.len(),
                    columns.len()
                ),
            });
            parsed.skipped += 1;
            continue;
        }
        let fields = Fields { columns, values };
        match row(&fields) {
            Ok(value) => parsed.rows.push(Line { line, value }),
            Err(errors) => {
                parsed.errors.push(RowError {
                    line,
                    message: join(&errors),
                });
                parsed.skipped += 1;
            }
        }
    }
    if columns.is_none() && parsed.errors.is_empty() {
        parsed.errors.push(RowError {
            line: 1,
            message: format!("the file is empty: no header `{}`", known.join(",")),
        });
    }
    parsed
}

/// Line numbers of records, from their byte offsets. The csv crate's own
/// `Position::line` runs one short after a CRLF and does not count blank
/// lines it skips; its byte offset is right, but may point at the line
/// break(s) before the record, which are skipped here.
struct Lines<'a> {
    input: &'a [u8],
    /// Bytes before `at` are counted in `line`.
    at: usize,
    line: u64,
}

impl Lines<'_> {
    /// The line a record found at `byte` starts on; offsets must not go
    /// backwards.
    fn line_at(&mut self, byte: u64) -> u64 {
        let mut start = usize::try_from(byte).map_or(self.input.len(), |b| b.min(self.input.len()));
        while self
            .input
            .get(start)
            .is_some_and(|b| matches!(b, b'\r' | b'\n'))
        {
            start += 1;
        }
        if start > self.at {
            let newlines = self.input[self.at..start]
                .iter()
                .filter(|b| **b == b'\n')
                .count();
            self.line += newlines as u64;
            self.at = start;
        }
        self.line
    }
}

fn utf8_fields(record: &csv::ByteRecord) -> Result<Vec<String>, ()> {
    record
        .iter()
        .enumerate()
        .map(|(i, field)| {
            let text = std::str::from_utf8(field).map_err(|_| ())?;
            // The byte order mark Excel puts before the first column name.
            let text = if i == 0 {
                text.strip_prefix('\u{feff}').unwrap_or(text)
            } else {
                text
            };
            Ok(text.to_owned())
        })
        .collect()
}

/// The known column each header field names, or why the header is refused.
fn header(
    values: &[String],
    known: &[&'static str],
    required: &[&'static str],
) -> Result<Vec<Option<&'static str>>, String> {
    let expected = known.join(",");
    let mut columns = Vec::with_capacity(values.len());
    let mut problems = Vec::new();
    for v in values {
        let name = v.trim().to_lowercase();
        match known.iter().find(|k| **k == name) {
            Some(k) if columns.contains(&Some(*k)) => {
                problems.push(format!("column `{k}` twice"));
            }
            Some(k) => columns.push(Some(*k)),
            None => {
                problems.push(format!("unknown column `{}`", v.trim()));
                columns.push(None);
            }
        }
    }
    for r in required {
        if !columns.contains(&Some(*r)) {
            problems.push(format!("missing header column `{r}`"));
        }
    }
    if problems.is_empty() {
        Ok(columns)
    } else {
        Err(format!(
            "header: {} (expected {expected}); no row was imported",
            problems.join(", ")
        ))
    }
}

/// The numbers of a phones field, split on the separators people use.
fn split_phones(field: &str) -> Vec<String> {
    field
        .split([';', '；', '/', ',', '，', '、'])
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_vip(field: &str) -> Option<bool> {
    match field.trim().to_lowercase().as_str() {
        "" | "0" | "no" | "n" | "false" | "否" => Some(false),
        "1" | "yes" | "y" | "true" | "是" => Some(true),
        _ => None,
    }
}

/// A date as Excel writes it (`2024/1/5`, `2024-1-5`) in the stored form
/// `2024-01-05`; anything else as given, for the check to refuse; `None`
/// when empty.
fn excel_date(field: &str) -> Option<String> {
    let field = field.trim();
    if field.is_empty() {
        return None;
    }
    let parts: Vec<&str> = field.split(['/', '-']).collect();
    let digits = |s: &str, lens: std::ops::RangeInclusive<usize>| {
        lens.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    };
    let mixed = field.contains('/') && field.contains('-');
    if let [y, m, d] = parts[..]
        && !mixed
        && digits(y, 4..=4)
        && digits(m, 1..=2)
        && digits(d, 1..=2)
    {
        return Some(format!("{y}-{m:0>2}-{d:0>2}"));
    }
    Some(field.to_owned())
}

#[cfg(test)]
mod tests {
    use super::{RowError, customers, excel_date, products, split_phones};

    fn lines<T>(rows: &[super::Line<T>]) -> Vec<u64> {
        rows.iter().map(|r| r.line).collect()
    }

    #[test]
    fn customers_with_bom_crlf_and_a_quoted_line_break() {
        let csv = "\u{feff}name,phones,region,address,vip\r\n\
                   王建国,13800138000;0571-86541234,浙江省杭州市西湖区,\"文一西路522号\r\n7幢301室\",否\r\n\
                   ,13900000001,,,\r\n\
                   李秀英,139 0013 9000 / 12,,,是\r\n\
                   \r\n\
                   张伟,18662345678,江苏省苏州市,全福路36号,1,extra\r\n\
                   赵丽华,17751234567,,,maybe\r\n\
                   ,,,,\r\n\
                   陈静,+86 137 5846 1234,,,yes\r\n";
        let parsed = customers(csv.as_bytes());
        assert_eq!(lines(&parsed.rows), [2, 10], "{parsed:?}");
        let wang = &parsed.rows[0].value;
        assert_eq!(wang.name, "王建国");
        assert_eq!(wang.phones, ["13800138000", "0571-86541234"]);
        assert_eq!(wang.address, "文一西路522号\r\n7幢301室");
        assert!(!wang.vip);
        assert!(parsed.rows[1].value.vip);
        let errors: Vec<(u64, &str)> = parsed
            .errors
            .iter()
            .map(|e| (e.line, e.message.as_str()))
            .collect();
        assert_eq!(errors.len(), 4, "{errors:?}");
        assert_eq!(errors[0].0, 4);
        assert!(errors[0].1.starts_with("name: is required"), "{errors:?}");
        assert_eq!(errors[1].0, 5);
        assert!(
            errors[1]
                .1
                .contains("phones[1]: `12` is not a phone number")
        );
        assert_eq!(
            errors[2],
            (7, "wrong column count: 6 fields, the header has 5")
        );
        assert_eq!(errors[3].0, 8);
        assert!(errors[3].1.contains("vip: `maybe`"));
        assert_eq!(parsed.skipped, 4);
    }

    #[test]
    fn line_numbers_count_blank_lines_and_crlf() {
        let csv = "\r\nname,phones\r\n\r\n\r\n王,13800138000\r\n\n李,13900139000\n\"张\n\n\",12";
        let parsed = customers(csv.as_bytes());
        assert_eq!(lines(&parsed.rows), [5, 7], "{parsed:?}");
        let errors: Vec<u64> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(errors, [8], "{parsed:?}");
    }

    #[test]
    fn a_bad_header_refuses_the_file() {
        let parsed = customers("name,phone,adress\nx,13800138000,y\nz,13900139000,w\n".as_bytes());
        assert!(parsed.rows.is_empty());
        assert_eq!(parsed.skipped, 2);
        assert_eq!(parsed.errors.len(), 1);
        let RowError { line, message } = &parsed.errors[0];
        assert_eq!(*line, 1);
        assert!(
            message.contains("unknown column `phone`")
                && message.contains("unknown column `adress`")
                && message.contains("missing header column `phones`"),
            "{message}"
        );
        let empty = customers("".as_bytes());
        assert_eq!(empty.errors.len(), 1);
        assert!(empty.errors[0].message.contains("empty"));
    }

    #[test]
    fn columns_in_any_order_and_optional_ones_absent() {
        let parsed = customers(" Phones , NAME \n13800138000,王建国\n".as_bytes());
        assert_eq!(parsed.errors, []);
        assert_eq!(parsed.rows[0].value.name, "王建国");
        assert_eq!(parsed.rows[0].value.region, "");
    }

    #[test]
    fn not_utf8_is_reported_by_line() {
        let mut bytes = b"name,phones\n".to_vec();
        bytes.extend_from_slice(b"\xcd\xf5,13800138000\n"); // GBK
        bytes.extend_from_slice("王,13900139000\n".as_bytes());
        let parsed = customers(&bytes[..]);
        assert_eq!(lines(&parsed.rows), [3]);
        assert_eq!(parsed.errors[0].line, 2);
        assert!(parsed.errors[0].message.contains("UTF-8"));
    }

    #[test]
    fn products_rows() {
        let csv = "phone,model,serial,purchase_date,warranty_end\n\
                   +86 138 0013 8000,LED65-E7 65英寸液晶电视,E765K2410120318,2024/10/5,2027-10-05\n\
                   13800138000,XQB80-M1 波轮洗衣机,,,\n\
                   abc,LED65-E7,S1,,\n\
                   13800138000,,S2,2024-02-30,2023-01-01\n";
        let parsed = products(csv.as_bytes());
        assert_eq!(lines(&parsed.rows), [2, 3], "{parsed:?}");
        let tv = &parsed.rows[0].value;
        assert_eq!(tv.phone, "13800138000");
        assert_eq!(tv.product.purchase_date.as_deref(), Some("2024-10-05"));
        assert_eq!(parsed.rows[1].value.product.purchase_date, None);
        assert_eq!(parsed.errors[0].line, 4);
        assert!(parsed.errors[0].message.contains("phone: `abc`"));
        assert_eq!(parsed.errors[1].line, 5);
        assert!(
            parsed.errors[1].message.contains("model:")
                && parsed.errors[1].message.contains("purchase_date:"),
            "{:?}",
            parsed.errors
        );
    }

    #[test]
    fn helpers() {
        assert_eq!(
            split_phones(" 13800138000 ；0571-1234567/、13900139000 "),
            ["13800138000", "0571-1234567", "13900139000"]
        );
        assert_eq!(excel_date("2024/1/5").as_deref(), Some("2024-01-05"));
        assert_eq!(excel_date("2024-12-31").as_deref(), Some("2024-12-31"));
        assert_eq!(excel_date("5/1/2024").as_deref(), Some("5/1/2024"));
        assert_eq!(excel_date("2024/1-5").as_deref(), Some("2024/1-5"));
        assert_eq!(excel_date(" "), None);
    }
}
