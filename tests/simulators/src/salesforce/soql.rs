//! A SOQL subset: plain fields, parent paths, one level of child subquery, WHERE, ORDER BY,
//! LIMIT/OFFSET, COUNT(); results shaped exactly like the REST query resource (salesforce-api.md §2 [32]).

use super::error::ApiError;
use super::ids;
use super::schema::{schema, FieldType, ObjectDef};
use super::store::{Record, Store};
use crate::common::timefmt::{parse_date, parse_datetime};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    /// A number or date/datetime literal, kept as written.
    Num(String),
    Comma,
    LParen,
    RParen,
    Op(String),
}

fn lex(q: &str) -> Result<Vec<Tok>, ApiError> {
    let chars: Vec<char> = q.chars().collect();
    let mut i = 0;
    let mut out = Vec::new();
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == '\'' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(ApiError::malformed_query("unterminated string literal")),
                    Some('\\') => {
                        let next = chars.get(i + 1).copied().unwrap_or('\\');
                        s.push(match next {
                            'n' => '\n',
                            't' => '\t',
                            other => other,
                        });
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        s.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(s));
        } else if c == '=' {
            out.push(Tok::Op("=".into()));
            i += 1;
        } else if c == '!' || c == '<' || c == '>' {
            let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
            if two == "!=" || two == "<>" || two == "<=" || two == ">=" {
                out.push(Tok::Op(if two == "<>" { "!=".into() } else { two }));
                i += 2;
            } else if c == '!' {
                return Err(ApiError::malformed_query("unexpected token: '!'"));
            } else {
                out.push(Tok::Op(c.to_string()));
                i += 1;
            }
        } else if c.is_ascii_digit() || (c == '-' && chars.get(i + 1).is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            i += 1;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '.' | ':' | '-' | '+')) {
                i += 1;
            }
            out.push(Tok::Num(chars[start..i].iter().collect()));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.') {
                i += 1;
            }
            out.push(Tok::Ident(chars[start..i].iter().collect()));
        } else {
            return Err(ApiError::malformed_query(format!("unexpected token: '{c}'")));
        }
    }
    Ok(out)
}

#[derive(Debug, Clone)]
enum SelectItem {
    Field(Vec<String>),
    Sub(Box<Query>),
    Count,
}

#[derive(Debug, Clone)]
enum Literal {
    Str(String),
    Num(f64),
    Bool(bool),
    Null,
    /// Date or datetime literal, kept as text and compared by parsing.
    Temporal(String),
}

#[derive(Debug, Clone)]
enum Cond {
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
    Cmp(Vec<String>, String, Literal),
    In(Vec<String>, Vec<Literal>, bool),
    Like(Vec<String>, String),
}

#[derive(Debug, Clone)]
struct OrderItem {
    path: Vec<String>,
    desc: bool,
    nulls_first: bool,
}

#[derive(Debug, Clone)]
struct Query {
    items: Vec<SelectItem>,
    from: String,
    cond: Option<Cond>,
    order: Vec<OrderItem>,
    limit: Option<usize>,
    offset: Option<usize>,
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn unexpected(&self) -> ApiError {
        match self.peek() {
            Some(t) => ApiError::malformed_query(format!("unexpected token: '{}'", tok_text(t))),
            None => ApiError::malformed_query("unexpected end of query"),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_kw(&mut self, kw: &str) -> Result<(), ApiError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn expect(&mut self, t: Tok) -> Result<(), ApiError> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn ident(&mut self) -> Result<String, ApiError> {
        match self.peek() {
            Some(Tok::Ident(s)) => {
                let s = s.clone();
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn path(&mut self) -> Result<Vec<String>, ApiError> {
        let s = self.ident()?;
        if s.split('.').any(str::is_empty) {
            return Err(ApiError::malformed_query(format!("unexpected token: '{s}'")));
        }
        Ok(s.split('.').map(str::to_string).collect())
    }

    fn query(&mut self, nested: bool) -> Result<Query, ApiError> {
        self.expect_kw("SELECT")?;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(&Tok::LParen) {
                if nested {
                    return Err(ApiError::malformed_query(
                        "Nesting of semi join sub-selects is not supported",
                    ));
                }
                self.pos += 1;
                let sub = self.query(true)?;
                self.expect(Tok::RParen)?;
                items.push(SelectItem::Sub(Box::new(sub)));
            } else if self.is_kw("COUNT") && self.toks.get(self.pos + 1) == Some(&Tok::LParen) {
                self.pos += 2;
                self.expect(Tok::RParen)?;
                items.push(SelectItem::Count);
            } else {
                if self.is_kw("FROM") {
                    return Err(self.unexpected());
                }
                items.push(SelectItem::Field(self.path()?));
            }
            if self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                continue;
            }
            break;
        }
        self.expect_kw("FROM")?;
        let from = self.ident()?;
        let cond = if self.eat_kw("WHERE") {
            Some(self.or_cond()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let path = self.path()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                let mut nulls_first = !desc;
                if self.eat_kw("NULLS") {
                    if self.eat_kw("FIRST") {
                        nulls_first = true;
                    } else {
                        self.expect_kw("LAST")?;
                        nulls_first = false;
                    }
                }
                order.push(OrderItem {
                    path,
                    desc,
                    nulls_first,
                });
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    continue;
                }
                break;
            }
        }
        let mut limit = None;
        let mut offset = None;
        if self.eat_kw("LIMIT") {
            limit = Some(self.usize_lit()?);
        }
        if self.eat_kw("OFFSET") {
            offset = Some(self.usize_lit()?);
        }
        Ok(Query {
            items,
            from,
            cond,
            order,
            limit,
            offset,
        })
    }

    fn usize_lit(&mut self) -> Result<usize, ApiError> {
        match self.next() {
            Some(Tok::Num(n)) => n
                .parse()
                .map_err(|_| ApiError::malformed_query(format!("unexpected token: '{n}'"))),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn or_cond(&mut self) -> Result<Cond, ApiError> {
        let mut left = self.and_cond()?;
        while self.eat_kw("OR") {
            let right = self.and_cond()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_cond(&mut self) -> Result<Cond, ApiError> {
        let mut left = self.unary()?;
        while self.eat_kw("AND") {
            let right = self.unary()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Cond, ApiError> {
        if self.eat_kw("NOT") {
            return Ok(Cond::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let c = self.or_cond()?;
            self.expect(Tok::RParen)?;
            return Ok(c);
        }
        let path = self.path()?;
        if self.eat_kw("IN") {
            return Ok(Cond::In(path, self.list()?, false));
        }
        if self.eat_kw("NOT") {
            self.expect_kw("IN")?;
            return Ok(Cond::In(path, self.list()?, true));
        }
        if self.eat_kw("LIKE") {
            return match self.next() {
                Some(Tok::Str(s)) => Ok(Cond::Like(path, s)),
                _ => {
                    self.pos -= 1;
                    Err(self.unexpected())
                }
            };
        }
        match self.next() {
            Some(Tok::Op(op)) => {
                let lit = self.literal()?;
                Ok(Cond::Cmp(path, op, lit))
            }
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }

    fn list(&mut self) -> Result<Vec<Literal>, ApiError> {
        self.expect(Tok::LParen)?;
        let mut out = Vec::new();
        loop {
            out.push(self.literal()?);
            match self.next() {
                Some(Tok::Comma) => continue,
                Some(Tok::RParen) => break,
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            }
        }
        Ok(out)
    }

    fn literal(&mut self) -> Result<Literal, ApiError> {
        match self.next() {
            Some(Tok::Str(s)) => Ok(Literal::Str(s)),
            Some(Tok::Num(n)) => {
                if n[1..].contains('-') || n.contains('T') {
                    if parse_date(&n).is_some() || parse_datetime(&n).is_some() {
                        Ok(Literal::Temporal(n))
                    } else {
                        Err(ApiError::malformed_query(format!(
                            "line 1:0 no viable alternative at character '{n}'"
                        )))
                    }
                } else {
                    n.parse::<f64>()
                        .map(Literal::Num)
                        .map_err(|_| ApiError::malformed_query(format!("unexpected token: '{n}'")))
                }
            }
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            _ => {
                self.pos -= 1;
                Err(self.unexpected())
            }
        }
    }
}

fn tok_text(t: &Tok) -> String {
    match t {
        Tok::Ident(s) | Tok::Num(s) | Tok::Op(s) => s.clone(),
        Tok::Str(s) => format!("'{s}'"),
        Tok::Comma => ",".into(),
        Tok::LParen => "(".into(),
        Tok::RParen => ")".into(),
    }
}

fn invalid_type(name: &str) -> ApiError {
    ApiError::bad(
        "INVALID_TYPE",
        format!(
            "sObject type '{name}' is not supported. If you are attempting to use a custom object, be sure to append the '__c' after the entity name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

fn no_such_column(field: &str, obj: &str) -> ApiError {
    ApiError::bad(
        "INVALID_FIELD",
        format!(
            "No such column '{field}' on entity '{obj}'. If you are attempting to use a custom field, be sure to append the '__c' after the custom field name. Please reference your WSDL or the describe call for the appropriate names."
        ),
    )
}

/// A path resolved against the schema: the relationship hops and the final field.
#[derive(Debug, Clone)]
struct Resolved {
    /// (relationship name, reference field name, target object) per hop.
    hops: Vec<(&'static str, &'static str, &'static ObjectDef)>,
    field: &'static str,
    field_ty: FieldType,
}

fn resolve(obj: &'static ObjectDef, path: &[String]) -> Result<Resolved, ApiError> {
    let mut cur = obj;
    let mut hops = Vec::new();
    let (last, rels) = path
        .split_last()
        .ok_or_else(|| ApiError::malformed_query("empty field"))?;
    // A leading object name qualifier (`FulfillmentOrder.Id`) is allowed, as in SOQL.
    let rels = match rels.first() {
        Some(first) if first.eq_ignore_ascii_case(obj.name) && obj.relationship(first).is_none() => &rels[1..],
        _ => rels,
    };
    for rel in rels {
        let f = cur.relationship(rel).ok_or_else(|| {
            ApiError::bad(
                "INVALID_FIELD",
                format!(
                    "Didn't understand relationship '{rel}' in field path. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names."
                ),
            )
        })?;
        let FieldType::Reference(target) = f.ty else {
            return Err(no_such_column(rel, cur.name));
        };
        let target_obj = schema().object(target).ok_or_else(|| invalid_type(target))?;
        hops.push((f.relationship.unwrap_or(f.name), f.name, target_obj));
        cur = target_obj;
    }
    let field = cur.field(last).ok_or_else(|| no_such_column(last, cur.name))?;
    Ok(Resolved {
        hops,
        field: field.name,
        field_ty: field.ty,
    })
}

fn value_of<'a>(store: &'a Store, rec: &'a Record, r: &Resolved) -> Value {
    let mut cur = rec;
    for (_, ref_field, target) in &r.hops {
        let Some(id) = cur.get(*ref_field).and_then(Value::as_str) else {
            return Value::Null;
        };
        match store.get(target.name, id) {
            Some(next) => cur = next,
            None => return Value::Null,
        }
    }
    cur.get(r.field).cloned().unwrap_or(Value::Null)
}

fn is_id_type(t: FieldType) -> bool {
    matches!(t, FieldType::Id | FieldType::Reference(_))
}

/// Compares a stored value with a literal; `None` = not comparable.
fn compare(v: &Value, lit: &Literal, ty: FieldType) -> Option<Ordering> {
    match (v, lit) {
        (Value::Null, _) | (_, Literal::Null) => None,
        (Value::Number(n), Literal::Num(l)) => n.as_f64().and_then(|a| a.partial_cmp(l)),
        (Value::Bool(b), Literal::Bool(l)) => Some(b.cmp(l)),
        (Value::String(s), Literal::Temporal(t)) => {
            if let (Some(a), Some(b)) = (parse_datetime(s), parse_datetime(t)) {
                return Some(a.cmp(&b));
            }
            let a = parse_date(s).or_else(|| parse_datetime(s).map(|d| d.date()))?;
            let b = parse_date(t).or_else(|| parse_datetime(t).map(|d| d.date()))?;
            Some(a.cmp(&b))
        }
        (Value::String(s), Literal::Str(l)) => {
            if is_id_type(ty) {
                let a = ids::to18(s)?;
                let b = ids::to18(l)?;
                Some(a.cmp(&b))
            } else {
                Some(s.to_lowercase().cmp(&l.to_lowercase()))
            }
        }
        _ => None,
    }
}

fn like(v: &Value, pattern: &str) -> bool {
    let Some(s) = v.as_str() else { return false };
    fn m(s: &[char], p: &[char]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some(('%', rest)) => (0..=s.len()).any(|i| m(&s[i..], rest)),
            Some(('_', rest)) => !s.is_empty() && m(&s[1..], rest),
            Some((c, rest)) => s.first().is_some_and(|x| x.to_lowercase().eq(c.to_lowercase())) && m(&s[1..], rest),
        }
    }
    let s: Vec<char> = s.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    m(&s, &p)
}

/// A WHERE clause with its paths already checked against the schema.
enum Checked {
    And(Box<Checked>, Box<Checked>),
    Or(Box<Checked>, Box<Checked>),
    Not(Box<Checked>),
    Cmp(Resolved, String, Literal),
    In(Resolved, Vec<Literal>, bool),
    Like(Resolved, String),
}

fn check_id_literal(r: &Resolved, lit: &Literal) -> Result<(), ApiError> {
    if let (true, Literal::Str(s)) = (is_id_type(r.field_ty), lit) {
        if ids::to18(s).is_none() {
            return Err(ApiError::bad(
                "INVALID_QUERY_FILTER_OPERATOR",
                format!("\ninvalid ID field: {s}"),
            ));
        }
    }
    Ok(())
}

fn check(obj: &'static ObjectDef, c: &Cond) -> Result<Checked, ApiError> {
    Ok(match c {
        Cond::And(a, b) => Checked::And(Box::new(check(obj, a)?), Box::new(check(obj, b)?)),
        Cond::Or(a, b) => Checked::Or(Box::new(check(obj, a)?), Box::new(check(obj, b)?)),
        Cond::Not(a) => Checked::Not(Box::new(check(obj, a)?)),
        Cond::Cmp(p, op, lit) => {
            let r = resolve(obj, p)?;
            check_id_literal(&r, lit)?;
            Checked::Cmp(r, op.clone(), lit.clone())
        }
        Cond::In(p, lits, neg) => {
            let r = resolve(obj, p)?;
            for l in lits {
                check_id_literal(&r, l)?;
            }
            Checked::In(r, lits.clone(), *neg)
        }
        Cond::Like(p, s) => Checked::Like(resolve(obj, p)?, s.clone()),
    })
}

fn eval(store: &Store, rec: &Record, c: &Checked) -> bool {
    match c {
        Checked::And(a, b) => eval(store, rec, a) && eval(store, rec, b),
        Checked::Or(a, b) => eval(store, rec, a) || eval(store, rec, b),
        Checked::Not(a) => !eval(store, rec, a),
        Checked::Cmp(r, op, lit) => {
            let v = value_of(store, rec, r);
            if matches!(lit, Literal::Null) {
                return match op.as_str() {
                    "=" => v.is_null(),
                    "!=" => !v.is_null(),
                    _ => false,
                };
            }
            let ord = compare(&v, lit, r.field_ty);
            match op.as_str() {
                "=" => ord == Some(Ordering::Equal),
                // SOQL: `!=` is true for nulls too.
                "!=" => ord != Some(Ordering::Equal),
                "<" => ord == Some(Ordering::Less),
                "<=" => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
                ">" => ord == Some(Ordering::Greater),
                ">=" => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
                _ => false,
            }
        }
        Checked::In(r, lits, neg) => {
            let v = value_of(store, rec, r);
            let hit = lits.iter().any(|l| match l {
                Literal::Null => v.is_null(),
                _ => compare(&v, l, r.field_ty) == Some(Ordering::Equal),
            });
            hit != *neg
        }
        Checked::Like(r, p) => like(&value_of(store, rec, r), p),
    }
}

fn cmp_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64().partial_cmp(&y.as_f64()).unwrap_or(Ordering::Equal),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::String(x), Value::String(y)) => match (parse_datetime(x), parse_datetime(y)) {
            (Some(p), Some(q)) => p.cmp(&q),
            _ => x.to_lowercase().cmp(&y.to_lowercase()),
        },
        _ => Ordering::Equal,
    }
}

/// Runs one (sub)query over `candidates` and returns the projected records.
fn run(
    store: &Store,
    version: &str,
    obj: &'static ObjectDef,
    q: &Query,
    candidates: Vec<&Record>,
) -> Result<(Vec<Value>, usize), ApiError> {
    let cond = q.cond.as_ref().map(|c| check(obj, c)).transpose()?;
    let order: Vec<(Resolved, &OrderItem)> = q
        .order
        .iter()
        .map(|o| resolve(obj, &o.path).map(|r| (r, o)))
        .collect::<Result<_, _>>()?;
    enum Proj {
        Field(Resolved),
        Sub(&'static ObjectDef, &'static str, Box<Query>),
    }
    let mut projections = Vec::new();
    let mut count_only = false;
    for item in &q.items {
        match item {
            SelectItem::Field(p) => projections.push(Proj::Field(resolve(obj, p)?)),
            SelectItem::Count => count_only = true,
            SelectItem::Sub(sub) => {
                let rel = obj.child(&sub.from).ok_or_else(|| {
                    ApiError::bad(
                        "INVALID_TYPE",
                        format!(
                            "Didn't understand relationship '{}' in FROM part of query call. If you are attempting to use a custom relationship, be sure to append the '__r' after the custom relationship name. Please reference your WSDL or the describe call for the appropriate names.",
                            sub.from
                        ),
                    )
                })?;
                let child_obj = schema()
                    .object(rel.child_type)
                    .ok_or_else(|| invalid_type(rel.child_type))?;
                projections.push(Proj::Sub(child_obj, rel.field, sub.clone()));
            }
        }
    }
    if count_only && !projections.is_empty() {
        return Err(ApiError::malformed_query(
            "COUNT() cannot be combined with other fields",
        ));
    }

    let mut rows: Vec<&Record> = candidates
        .into_iter()
        .filter(|r| cond.as_ref().is_none_or(|c| eval(store, r, c)))
        .collect();
    if !order.is_empty() {
        rows.sort_by(|a, b| {
            for (r, o) in &order {
                let (va, vb) = (value_of(store, a, r), value_of(store, b, r));
                let ord = match (va.is_null(), vb.is_null()) {
                    (true, true) => Ordering::Equal,
                    (true, false) => {
                        if o.nulls_first {
                            Ordering::Less
                        } else {
                            Ordering::Greater
                        }
                    }
                    (false, true) => {
                        if o.nulls_first {
                            Ordering::Greater
                        } else {
                            Ordering::Less
                        }
                    }
                    (false, false) => {
                        let c = cmp_values(&va, &vb);
                        if o.desc {
                            c.reverse()
                        } else {
                            c
                        }
                    }
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
            Ordering::Equal
        });
    }
    let rows: Vec<&Record> = rows
        .into_iter()
        .skip(q.offset.unwrap_or(0))
        .take(q.limit.unwrap_or(usize::MAX))
        .collect();
    if count_only {
        return Ok((Vec::new(), rows.len()));
    }

    // Each child relationship's records grouped by parent once per query, not scanned once per row.
    let mut children_of: HashMap<(&str, &str), HashMap<&str, Vec<&Record>>> = HashMap::new();
    for p in &projections {
        if let Proj::Sub(child_obj, field, _) = p {
            children_of.entry((child_obj.name, field)).or_insert_with(|| {
                let mut by_parent: HashMap<&str, Vec<&Record>> = HashMap::new();
                for c in store.all(child_obj.name) {
                    if let Some(parent) = c.get(*field).and_then(Value::as_str) {
                        by_parent.entry(parent).or_default().push(c);
                    }
                }
                by_parent
            });
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for rec in rows {
        let mut json_rec = Map::new();
        json_rec.insert("attributes".into(), attributes(version, obj.name, rec));
        for p in &projections {
            match p {
                Proj::Field(r) => put_path(store, version, &mut json_rec, rec, r, 0),
                Proj::Sub(child_obj, field, sub) => {
                    let parent_id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
                    let children: Vec<&Record> = children_of
                        .get(&(child_obj.name, *field))
                        .and_then(|m| m.get(parent_id))
                        .cloned()
                        .unwrap_or_default();
                    let (records, _) = run(store, version, child_obj, sub, children)?;
                    let rel_name = obj.child(&sub.from).map(|c| c.name).unwrap_or(child_obj.name);
                    // Salesforce answers null, not an empty list, for a child relationship with no rows.
                    let v = if records.is_empty() {
                        Value::Null
                    } else {
                        json!({"totalSize": records.len(), "done": true, "records": records})
                    };
                    json_rec.insert(rel_name.to_string(), v);
                }
            }
        }
        out.push(Value::Object(json_rec));
    }
    let n = out.len();
    Ok((out, n))
}

fn attributes(version: &str, sobject: &str, rec: &Record) -> Value {
    let id = rec.get("Id").and_then(Value::as_str).unwrap_or_default();
    json!({"type": sobject, "url": format!("/services/data/{version}/sobjects/{sobject}/{id}")})
}

/// Writes one resolved path into the output record, nesting parent objects as Salesforce does.
fn put_path(store: &Store, version: &str, out: &mut Map<String, Value>, rec: &Record, r: &Resolved, hop: usize) {
    if hop == r.hops.len() {
        out.insert(r.field.to_string(), rec.get(r.field).cloned().unwrap_or(Value::Null));
        return;
    }
    let (rel, ref_field, target) = r.hops[hop];
    let parent = rec
        .get(ref_field)
        .and_then(Value::as_str)
        .and_then(|id| store.get(target.name, id));
    match parent {
        None => {
            if !out.contains_key(rel) {
                out.insert(rel.to_string(), Value::Null);
            }
        }
        Some(p) => {
            let entry = out
                .entry(rel.to_string())
                .or_insert_with(|| json!({"attributes": attributes(version, target.name, p)}));
            if entry.is_null() {
                *entry = json!({"attributes": attributes(version, target.name, p)});
            }
            if let Value::Object(m) = entry {
                put_path(store, version, m, p, r, hop + 1);
            }
        }
    }
}

/// The ids a WHERE clause confines the rows to (`Id = 'x'`, `Id IN (...)`, or either ANDed with more),
/// canonical and in store order, so the query reads those records instead of scanning the table. The
/// full condition still runs on them; None (scan everything) when any literal is not a valid id, so the
/// scan reports the error exactly as before.
fn id_filter(c: &Cond) -> Option<BTreeSet<String>> {
    let is_id = |p: &[String]| p.len() == 1 && p[0].eq_ignore_ascii_case("Id");
    let canonical = |lits: &[Literal]| -> Option<BTreeSet<String>> {
        lits.iter()
            .map(|l| match l {
                Literal::Str(s) => ids::to18(s),
                _ => None,
            })
            .collect()
    };
    match c {
        Cond::Cmp(p, op, lit) if is_id(p) && op == "=" => canonical(std::slice::from_ref(lit)),
        Cond::In(p, lits, false) if is_id(p) => canonical(lits),
        Cond::And(a, b) => id_filter(a).or_else(|| id_filter(b)),
        _ => None,
    }
}

/// The outcome of a query before batching.
#[derive(Debug)]
pub struct QueryResult {
    pub total_size: usize,
    pub records: Vec<Value>,
}

/// Parses and runs a SOQL statement.
pub fn execute(store: &Store, version: &str, soql: &str) -> Result<QueryResult, ApiError> {
    let toks = lex(soql)?;
    let mut p = Parser { toks, pos: 0 };
    let q = p.query(false)?;
    if p.pos < p.toks.len() {
        return Err(p.unexpected());
    }
    let obj = schema().object(&q.from).ok_or_else(|| invalid_type(&q.from))?;
    let candidates = match q.cond.as_ref().and_then(id_filter) {
        Some(ids) => ids.iter().filter_map(|id| store.get(obj.name, id)).collect(),
        None => store.all(obj.name),
    };
    let (records, n) = run(store, version, obj, &q, candidates)?;
    Ok(QueryResult { total_size: n, records })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::salesforce::store::WriteMode;
    use time::OffsetDateTime;

    fn seed(store: &mut Store, ty: &str, v: Value) -> String {
        let obj = schema().object(ty).expect("type");
        store
            .create(
                obj,
                v.as_object().expect("object"),
                WriteMode::Api,
                OffsetDateTime::now_utc(),
            )
            .expect("seeded")
    }

    fn fixture() -> (Store, String) {
        let mut s = Store::default();
        let dm = seed(&mut s, "OrderDeliveryMethod", json!({"Name":"Ground","Carrier":"UPS"}));
        let p = seed(&mut s, "Product2", json!({"Name":"Widget","StockKeepingUnit":"SKU-1"}));
        let fo = seed(
            &mut s,
            "FulfillmentOrder",
            json!({"Status":"Allocated","FulfilledToName":"Ann","DeliveryMethodId":dm}),
        );
        seed(
            &mut s,
            "FulfillmentOrder",
            json!({"Status":"Draft","FulfilledToName":"Bob"}),
        );
        seed(
            &mut s,
            "FulfillmentOrderLineItem",
            json!({"FulfillmentOrderId":fo,"Product2Id":p,"Quantity":2,"Type":"Order Product","TypeCode":"Product"}),
        );
        (s, fo)
    }

    #[test]
    fn parent_paths_nest_objects_and_null_parents_are_null() {
        let (s, _) = fixture();
        let r = execute(
            &s,
            "v62.0",
            "SELECT Id, FulfilledToName, DeliveryMethod.Carrier, DeliveryMethod.Name FROM FulfillmentOrder ORDER BY FulfilledToName",
        )
        .expect("query runs");
        assert_eq!(r.total_size, 2);
        assert_eq!(r.records[0]["DeliveryMethod"]["Carrier"], json!("UPS"));
        assert_eq!(r.records[0]["DeliveryMethod"]["Name"], json!("Ground"));
        assert_eq!(
            r.records[0]["DeliveryMethod"]["attributes"]["type"],
            json!("OrderDeliveryMethod")
        );
        assert_eq!(r.records[1]["DeliveryMethod"], Value::Null);
    }

    #[test]
    fn child_subqueries_return_a_nested_query_result_or_null() {
        let (s, fo) = fixture();
        let r = execute(
            &s,
            "v62.0",
            "SELECT Id, (SELECT Quantity, Product2.StockKeepingUnit FROM FulfillmentOrderLineItems) FROM FulfillmentOrder ORDER BY FulfilledToName ASC",
        )
        .expect("query runs");
        assert_eq!(r.records[0]["Id"], json!(fo));
        let kids = &r.records[0]["FulfillmentOrderLineItems"];
        assert_eq!(kids["totalSize"], json!(1));
        assert_eq!(kids["records"][0]["Quantity"], json!(2.0));
        assert_eq!(kids["records"][0]["Product2"]["StockKeepingUnit"], json!("SKU-1"));
        assert_eq!(r.records[1]["FulfillmentOrderLineItems"], Value::Null);
    }

    #[test]
    fn where_supports_in_and_not_equal_and_case_insensitive_strings() {
        let (s, fo) = fixture();
        let fo15 = &fo[..15];
        let r = execute(
            &s,
            "v62.0",
            &format!("SELECT Id FROM FulfillmentOrder WHERE Id IN ('{fo15}') AND Status != 'draft' AND FulfilledToName = 'ANN'"),
        )
        .expect("query runs");
        assert_eq!(r.total_size, 1);
        let none = execute(
            &s,
            "v62.0",
            "SELECT Id FROM FulfillmentOrder WHERE DeliveryMethodId = null AND Status IN ('Draft')",
        )
        .expect("query runs");
        assert_eq!(none.total_size, 1);
    }

    #[test]
    fn unknown_fields_objects_and_bad_syntax_get_salesforce_error_codes() {
        let (s, _) = fixture();
        let e = execute(&s, "v62.0", "SELECT Nope FROM FulfillmentOrder").expect_err("bad field");
        assert_eq!(e.code, "INVALID_FIELD");
        let e = execute(&s, "v62.0", "SELECT Id FROM Nope__c").expect_err("bad type");
        assert_eq!(e.code, "INVALID_TYPE");
        let e = execute(&s, "v62.0", "SELECT Id FROM FulfillmentOrder WHERE").expect_err("bad syntax");
        assert_eq!(e.code, "MALFORMED_QUERY");
        let e = execute(&s, "v62.0", "SELECT Id FROM FulfillmentOrder WHERE Id = 'abc'").expect_err("bad id");
        assert_eq!(e.code, "INVALID_QUERY_FILTER_OPERATOR");
    }

    #[test]
    fn count_limit_and_offset_work() {
        let (s, _) = fixture();
        let c = execute(&s, "v62.0", "SELECT COUNT() FROM FulfillmentOrder").expect("count");
        assert_eq!(c.total_size, 2);
        assert!(c.records.is_empty());
        let l = execute(
            &s,
            "v62.0",
            "SELECT Id FROM FulfillmentOrder ORDER BY FulfilledToName DESC LIMIT 1 OFFSET 1",
        )
        .expect("limit");
        assert_eq!(l.total_size, 1);
    }
}
