//! Chunks: many request records in one compact blob, the unit the request log is written in,
//! kept in and pruned by.
//!
//! A chunk is one row of the key store's `request_log_chunks`: its record count and time range,
//! its `names` (every route, method, key id, tenant and code its records name, once), a Bloom
//! filter of its request ids (`ids`: a lookup by id reads these and opens only the chunks whose
//! filter says yes) and its `data`: a version byte, the first record's time (the base; 8 bytes,
//! little-endian), the records one after another,
//!
//! ```text
//! id_len id  time-base  method  path_len path  route  key+1  tenant+1  status  code+1
//! latency  upstream_status+1  upstream_id_len+1 upstream_id  trace
//! ```
//!
//! where `trace` (the W3C trace id) is 0 for none, 1 and 16 bytes for the usual 32 hex digits,
//! or its length + 2 and its text for anything else. Chunks of version 1, written before the
//! trace id was kept, have no `trace` and read as records without one: an existing database
//! needs no migration.
//!
//! then where each record starts (4 bytes each, little-endian: a lookup by id compares ids
//! without reading the rest) and the record count (4 bytes). Every number in a record is a
//! LEB128 varint (the time and the latency zigzagged), every name an index into `names`, 0 for
//! none where a field is optional. Writing a record costs a few copies into a buffer that is
//! reused; no allocation per record. (A SQLite file store keeps a big chunk's `data` in a file
//! beside the database: see `db/spill.rs`.)

use std::collections::HashMap;

use super::{Entry, Record};
use crate::db::StoreError;

/// Bits of the id filter per record: about 1% of the chunks a lookup reads are false hits.
const BLOOM_BITS_PER_RECORD: usize = 10;
/// Probes per id in the filter.
const BLOOM_PROBES: u32 = 4;
/// The layout of `data` described above.
const VERSION: u8 = 2;
/// The layout before records had a trace id, still read.
const VERSION_1: u8 = 1;
/// Bytes before the first record: the version and the base time.
const HEADER: usize = 9;

/// The records of one chunk, encoded, with what the store indexes them by.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Chunk {
    pub rows: usize,
    /// The oldest record's time, Unix milliseconds.
    pub min_time_ms: i64,
    /// The newest record's time, Unix milliseconds.
    pub max_time_ms: i64,
    /// The names the records refer to, encoded (see [`Names`]).
    pub names: Vec<u8>,
    /// A Bloom filter of the records' request ids.
    pub ids: Vec<u8>,
    /// The records.
    pub data: Vec<u8>,
}

impl Chunk {
    /// Encodes `records` as one chunk.
    pub fn from_records<'a>(records: impl IntoIterator<Item = &'a Record>) -> Chunk {
        let mut b = Builder::default();
        for r in records {
            b.push(&r.entry());
        }
        b.finish(Vec::new())
    }

    /// Every record of the chunk, decoded.
    pub fn records(&self) -> Result<Vec<Record>, StoreError> {
        decode_all(&self.names, &self.data)
    }

    /// Whether the chunk may hold a record with this request id (never false when it does).
    pub fn may_hold(&self, request_id: &str) -> bool {
        may_hold(&self.ids, request_id)
    }
}

/// Whether the id filter `ids` may hold `request_id`; true for a filter that cannot be read.
pub fn may_hold(ids: &[u8], request_id: &str) -> bool {
    may_hold_hash(ids, id_hash(request_id.as_bytes()))
}

/// [`may_hold`] for an id hashed already.
pub(crate) fn may_hold_hash(ids: &[u8], h: u64) -> bool {
    let bits = ids.len() * 8;
    if bits == 0 || !bits.is_power_of_two() {
        return true;
    }
    let mask = bits - 1;
    probes(h).all(|p| {
        let bit = p as usize & mask;
        ids[bit / 8] & (1 << (bit % 8)) != 0
    })
}

/// The filter's bit positions for an id hash (double hashing), before masking.
fn probes(h: u64) -> impl Iterator<Item = u32> {
    let (a, b) = (h as u32, ((h >> 32) as u32) | 1);
    (0..BLOOM_PROBES).map(move |i| a.wrapping_add(i.wrapping_mul(b)))
}

/// The id filter of records whose id hashes are `hashes`.
fn bloom(hashes: &[u64]) -> Vec<u8> {
    let bits = (hashes.len() * BLOOM_BITS_PER_RECORD)
        .next_power_of_two()
        .max(64);
    let mut f = vec![0u8; bits / 8];
    let mask = bits - 1;
    for &h in hashes {
        for p in probes(h) {
            let bit = p as usize & mask;
            f[bit / 8] |= 1 << (bit % 8);
        }
    }
    f
}

/// A stable 64-bit hash of a request id (it is stored: never change it), a word at a time.
pub(crate) fn id_hash(id: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut h = (id.len() as u64).wrapping_mul(K);
    let mut words = id.chunks_exact(8);
    for w in &mut words {
        let mut b = [0u8; 8];
        b.copy_from_slice(w);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut b = [0u8; 8];
        b[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
    }
    // MurmurHash3's finalizer: every input bit reaches every output bit.
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A chunk's fields that name something, to keep one recent name per field at hand.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    Method,
    Route,
    Key,
    Tenant,
    Code,
}

const FIELDS: usize = 5;

/// What the name fields of one record are, as indexes into the chunk's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Named {
    pub(crate) method: u32,
    pub(crate) route: u32,
    /// Index + 1; 0 for none.
    pub(crate) key: u32,
    pub(crate) tenant: u32,
    pub(crate) code: u32,
}

/// Writes records into a chunk, one at a time.
#[derive(Default)]
pub(crate) struct Builder {
    names: Vec<Box<str>>,
    index: HashMap<Box<str>, u32>,
    /// The name each field had last (index + 1), compared before any hashing: most requests
    /// name what the previous one did.
    last: [u32; FIELDS],
    data: Vec<u8>,
    hashes: Vec<u64>,
    offsets: Vec<u32>,
    rows: usize,
    min_time_ms: i64,
    max_time_ms: i64,
    base_time_ms: i64,
}

impl Builder {
    /// Writes into `data` from now on (cleared; its capacity kept), when empty.
    pub(crate) fn use_buffer(&mut self, mut data: Vec<u8>) {
        if self.rows == 0 {
            data.clear();
            self.data = data;
        }
    }

    /// The capacity of its record buffer.
    pub(crate) fn capacity(&self) -> usize {
        self.data.capacity()
    }

    pub(crate) fn rows(&self) -> usize {
        self.rows
    }

    /// The index of a name, added when new.
    pub(crate) fn intern(&mut self, field: Field, s: &str) -> u32 {
        let last = self.last[field as usize];
        if last != 0 && *self.names[last as usize - 1] == *s {
            return last - 1;
        }
        let i = match self.index.get(s) {
            Some(&i) => i,
            None => {
                let i = u32::try_from(self.names.len()).unwrap_or(u32::MAX);
                let name: Box<str> = s.into();
                self.names.push(name.clone());
                self.index.insert(name, i);
                i
            }
        };
        self.last[field as usize] = i + 1;
        i
    }

    /// The index of a name if the chunk has it.
    pub(crate) fn find(&self, s: &str) -> Option<u32> {
        self.index.get(s).copied()
    }

    pub(crate) fn name(&self, i: u32) -> &str {
        &self.names[i as usize]
    }

    /// The name fields of `e`, interned.
    pub(crate) fn named(&mut self, e: &Entry) -> Named {
        let opt = |b: &mut Builder, f: Field, s: Option<&str>| s.map_or(0, |s| b.intern(f, s) + 1);
        Named {
            method: self.intern(Field::Method, e.method),
            route: self.intern(Field::Route, e.route),
            key: opt(self, Field::Key, e.key_id),
            tenant: opt(self, Field::Tenant, e.tenant),
            code: opt(self, Field::Code, e.code),
        }
    }

    /// Appends a record.
    pub(crate) fn push(&mut self, e: &Entry) {
        let n = self.named(e);
        self.push_named(e, &n);
    }

    /// Appends a record whose names are interned already.
    pub(crate) fn push_named(&mut self, e: &Entry, n: &Named) {
        if self.rows == 0 {
            self.min_time_ms = e.time_ms;
            self.max_time_ms = e.time_ms;
            self.base_time_ms = e.time_ms;
            self.data.clear();
            self.data.push(VERSION);
            self.data.extend_from_slice(&e.time_ms.to_le_bytes());
        } else {
            self.min_time_ms = self.min_time_ms.min(e.time_ms);
            self.max_time_ms = self.max_time_ms.max(e.time_ms);
        }
        let d = &mut self.data;
        self.offsets
            .push(u32::try_from(d.len()).unwrap_or(u32::MAX));
        put_bytes(d, e.request_id.as_bytes());
        put_var(d, zigzag(e.time_ms.wrapping_sub(self.base_time_ms)));
        put_var(d, u64::from(n.method));
        put_bytes(d, e.path.as_bytes());
        put_var(d, u64::from(n.route));
        put_var(d, u64::from(n.key));
        put_var(d, u64::from(n.tenant));
        put_var(d, u64::from(e.status));
        put_var(d, u64::from(n.code));
        put_var(d, zigzag(e.latency_us));
        put_var(d, e.upstream_status.map_or(0, |s| u64::from(s) + 1));
        match e.upstream_request_id {
            None => put_var(d, 0),
            Some(u) => {
                put_var(d, u.len() as u64 + 1);
                d.extend_from_slice(u.as_bytes());
            }
        }
        match e.trace_id.map(|t| (t, hex_id(t))) {
            None => put_var(d, 0),
            Some((_, Some(id))) => {
                put_var(d, 1);
                d.extend_from_slice(&id);
            }
            Some((t, None)) => {
                put_var(d, t.len() as u64 + 2);
                d.extend_from_slice(t.as_bytes());
            }
        }
        self.hashes.push(id_hash(e.request_id.as_bytes()));
        self.rows += 1;
    }

    /// The chunk written so far; the builder starts again, empty, writing into `data`.
    pub(crate) fn finish(&mut self, data: Vec<u8>) -> Chunk {
        if self.rows > 0 {
            for o in &self.offsets {
                self.data.extend_from_slice(&o.to_le_bytes());
            }
            let n = u32::try_from(self.rows).unwrap_or(u32::MAX);
            self.data.extend_from_slice(&n.to_le_bytes());
        }
        let mut names =
            Vec::with_capacity(8 + self.names.iter().map(|n| n.len() + 2).sum::<usize>());
        put_var(&mut names, self.names.len() as u64);
        for n in &self.names {
            put_bytes(&mut names, n.as_bytes());
        }
        let chunk = Chunk {
            rows: self.rows,
            min_time_ms: self.min_time_ms,
            max_time_ms: self.max_time_ms,
            names,
            ids: bloom(&self.hashes),
            data: std::mem::replace(&mut self.data, data),
        };
        self.data.clear();
        self.names.clear();
        self.index.clear();
        self.hashes.clear();
        self.offsets.clear();
        self.last = [0; FIELDS];
        self.rows = 0;
        chunk
    }
}

/// A trace id of 32 lower-case hex digits as its 16 bytes.
fn hex_id(t: &str) -> Option<[u8; 16]> {
    let t = t.as_bytes();
    if t.len() != 32 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut id = [0u8; 16];
    for (i, b) in id.iter_mut().enumerate() {
        *b = digit(t[2 * i])? << 4 | digit(t[2 * i + 1])?;
    }
    Some(id)
}

/// 16 bytes as 32 lower-case hex digits.
fn id_hex(id: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(id.len() * 2);
    for b in id {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 0xf)] as char);
    }
    s
}

fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

fn put_var(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_var(out, b.len() as u64);
    out.extend_from_slice(b);
}

fn corrupt() -> StoreError {
    StoreError("corrupt request log chunk".into())
}

/// Reads varints and byte strings off a slice.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn var(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(corrupt)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(corrupt())
    }

    fn bytes(&mut self, len: u64) -> Result<&'a [u8], StoreError> {
        let len = usize::try_from(len).map_err(|_| corrupt())?;
        let end = self.pos.checked_add(len).ok_or_else(corrupt)?;
        let b = self.buf.get(self.pos..end).ok_or_else(corrupt)?;
        self.pos = end;
        Ok(b)
    }

    fn str(&mut self) -> Result<&'a [u8], StoreError> {
        let len = self.var()?;
        self.bytes(len)
    }

    fn small(&mut self) -> Result<u32, StoreError> {
        u32::try_from(self.var()?).map_err(|_| corrupt())
    }
}

/// A chunk's names, decoded.
pub struct Names<'a>(Vec<&'a str>);

impl<'a> Names<'a> {
    pub fn decode(names: &'a [u8]) -> Result<Names<'a>, StoreError> {
        let mut r = Reader { buf: names, pos: 0 };
        let n = r.var()?;
        let mut v = Vec::with_capacity(usize::try_from(n.min(4096)).unwrap_or(0));
        for _ in 0..n {
            v.push(std::str::from_utf8(r.str()?).map_err(|_| corrupt())?);
        }
        Ok(Names(v))
    }

    /// The index of a name, if the chunk has it.
    pub fn find(&self, s: &str) -> Option<u32> {
        self.0.iter().position(|n| *n == s).map(|i| i as u32)
    }

    fn get(&self, i: u32) -> Result<&'a str, StoreError> {
        self.0.get(i as usize).copied().ok_or_else(corrupt)
    }

    fn opt(&self, i: u32) -> Result<Option<&'a str>, StoreError> {
        if i == 0 {
            Ok(None)
        } else {
            self.get(i - 1).map(Some)
        }
    }
}

/// One record as stored: names still as indexes, strings not yet checked.
#[derive(Clone, Copy, Debug)]
pub struct Raw<'a> {
    pub request_id: &'a [u8],
    pub time_ms: i64,
    method: u32,
    path: &'a [u8],
    route: u32,
    /// Name index + 1; 0 for none.
    pub key: u32,
    pub tenant: u32,
    pub status: u16,
    pub code: u32,
    latency_us: i64,
    upstream_status: Option<u16>,
    upstream_request_id: Option<&'a [u8]>,
    trace_id: TraceField<'a>,
}

/// A record's trace id as stored.
#[derive(Clone, Copy, Debug)]
enum TraceField<'a> {
    None,
    /// The 16 bytes of a trace id written in hex.
    Id(&'a [u8]),
    /// Any other text.
    Text(&'a [u8]),
}

impl Raw<'_> {
    /// The record, with its names looked up.
    pub fn record(&self, names: &Names) -> Result<Record, StoreError> {
        let s = |b: &[u8]| {
            std::str::from_utf8(b)
                .map(str::to_owned)
                .map_err(|_| corrupt())
        };
        Ok(Record {
            request_id: s(self.request_id)?,
            time_ms: self.time_ms,
            method: names.get(self.method)?.to_owned(),
            path: s(self.path)?,
            route: names.get(self.route)?.to_owned(),
            key_id: names.opt(self.key)?.map(str::to_owned),
            tenant: names.opt(self.tenant)?.map(str::to_owned),
            status: self.status,
            code: names.opt(self.code)?.map(str::to_owned),
            latency_us: self.latency_us,
            upstream_status: self.upstream_status,
            upstream_request_id: self.upstream_request_id.map(s).transpose()?,
            trace_id: match self.trace_id {
                TraceField::None => None,
                TraceField::Id(id) => Some(id_hex(id)),
                TraceField::Text(t) => Some(s(t)?),
            },
        })
    }
}

/// The records of a chunk's `data`, in the order they were written.
pub struct Raws<'a> {
    /// The records, from the first one on.
    r: Reader<'a>,
    version: u8,
    base_time_ms: i64,
    /// Where each record starts, 4 bytes each.
    offsets: &'a [u8],
}

impl<'a> Raws<'a> {
    pub fn new(data: &'a [u8]) -> Result<Raws<'a>, StoreError> {
        if data.len() < HEADER + 4 || (data[0] != VERSION && data[0] != VERSION_1) {
            return Err(corrupt());
        }
        let mut base = [0u8; 8];
        base.copy_from_slice(&data[1..HEADER]);
        let count_at = data.len() - 4;
        let n = u32_at(data, count_at) as usize;
        let end = n
            .checked_mul(4)
            .and_then(|o| count_at.checked_sub(o))
            .filter(|&end| end >= HEADER)
            .ok_or_else(corrupt)?;
        Ok(Raws {
            r: Reader {
                buf: &data[..end],
                pos: HEADER,
            },
            base_time_ms: i64::from_le_bytes(base),
            offsets: &data[end..count_at],
            version: data[0],
        })
    }

    /// The records whose request id is `id`, found by comparing ids alone.
    pub fn with_id(&self, id: &'a [u8]) -> impl Iterator<Item = Result<Raw<'a>, StoreError>> {
        let (buf, base, offsets, version) =
            (self.r.buf, self.base_time_ms, self.offsets, self.version);
        (0..offsets.len() / 4).filter_map(move |i| {
            let at = u32_at(offsets, i * 4) as usize;
            let mut r = Reader { buf, pos: at };
            match r.str() {
                Ok(got) if got == id => Some(read(&mut Reader { buf, pos: at }, base, version)),
                Ok(_) => None,
                Err(e) => Some(Err(e)),
            }
        })
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// The record `r` is at, in a chunk of `version`.
fn read<'a>(r: &mut Reader<'a>, base_time_ms: i64, version: u8) -> Result<Raw<'a>, StoreError> {
    let request_id = r.str()?;
    let time_ms = base_time_ms.wrapping_add(unzigzag(r.var()?));
    let method = r.small()?;
    let path = r.str()?;
    let route = r.small()?;
    let key = r.small()?;
    let tenant = r.small()?;
    let status = u16::try_from(r.var()?).map_err(|_| corrupt())?;
    let code = r.small()?;
    let latency_us = unzigzag(r.var()?);
    let upstream_status = match r.var()? {
        0 => None,
        s => Some(u16::try_from(s - 1).map_err(|_| corrupt())?),
    };
    let upstream_request_id = match r.var()? {
        0 => None,
        n => Some(r.bytes(n - 1)?),
    };
    let trace_id = if version == VERSION_1 {
        TraceField::None
    } else {
        match r.var()? {
            0 => TraceField::None,
            1 => TraceField::Id(r.bytes(16)?),
            n => TraceField::Text(r.bytes(n - 2)?),
        }
    };
    Ok(Raw {
        request_id,
        time_ms,
        method,
        path,
        route,
        key,
        tenant,
        status,
        code,
        latency_us,
        upstream_status,
        upstream_request_id,
        trace_id,
    })
}

impl<'a> Iterator for Raws<'a> {
    type Item = Result<Raw<'a>, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.r.pos >= self.r.buf.len() {
            return None;
        }
        let item = read(&mut self.r, self.base_time_ms, self.version);
        if item.is_err() {
            // Nothing after a corrupt record can be read.
            self.r.pos = self.r.buf.len();
        }
        Some(item)
    }
}

/// Every record of a chunk stored as `names` and `data`.
pub fn decode_all(names: &[u8], data: &[u8]) -> Result<Vec<Record>, StoreError> {
    let names = Names::decode(names)?;
    Raws::new(data)?
        .map(|raw| raw.and_then(|raw| raw.record(&names)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(i: usize) -> Record {
        Record {
            request_id: format!("req_{i:08}"),
            time_ms: 1_700_000_000_000 + (i as i64 % 7) * 1000 - 3000,
            method: if i.is_multiple_of(3) { "POST" } else { "GET" }.into(),
            path: format!("/v1/items/{i}"),
            route: "/v1/*".into(),
            key_id: (!i.is_multiple_of(5)).then(|| format!("key_{}", i % 4)),
            tenant: (!i.is_multiple_of(5)).then(|| "acme".into()),
            status: if i.is_multiple_of(11) { 429 } else { 200 },
            code: (i.is_multiple_of(11)).then(|| "rate_limited".into()),
            latency_us: i as i64 * 13,
            upstream_status: (!i.is_multiple_of(11)).then_some(200),
            upstream_request_id: (i.is_multiple_of(2)).then(|| format!("up-{i}")),
            trace_id: match i % 3 {
                0 => None,
                1 => Some(format!("{:032x}", (i as u128) << 64 | 0xabc)),
                _ => Some(format!("not-hex-{i}")),
            },
        }
    }

    /// A chunk of records as version 1 wrote it (before trace ids): the same records, each
    /// without its last byte (a `0`, no trace id), and their offsets moved to match.
    fn as_version_1(c: &Chunk) -> Vec<u8> {
        let d = &c.data;
        let n = c.rows;
        let count_at = d.len() - 4;
        let end = count_at - 4 * n;
        let offsets: Vec<usize> = (0..n).map(|i| u32_at(d, end + 4 * i) as usize).collect();
        let mut out = vec![VERSION_1];
        out.extend_from_slice(&d[1..HEADER]);
        for i in 0..n {
            let stop = offsets.get(i + 1).copied().unwrap_or(end);
            assert_eq!(d[stop - 1], 0, "record {i} has no trace id");
            out.extend_from_slice(&d[offsets[i]..stop - 1]);
        }
        for (i, o) in offsets.iter().enumerate() {
            out.extend_from_slice(&((o - i) as u32).to_le_bytes());
        }
        out.extend_from_slice(&d[count_at..]);
        out
    }

    #[test]
    fn trace_ids_are_kept_in_16_bytes_and_version_1_chunks_read_without_them() {
        let hex = "4bf92f3577b34da6a3ce929d0e0e4736";
        let mut r = rec(1);
        r.trace_id = Some(hex.into());
        let mut s = r.clone();
        s.trace_id = None;
        let with = Chunk::from_records([&r]);
        let without = Chunk::from_records([&s]);
        assert_eq!(with.data.len(), without.data.len() + 16, "16 bytes, not 32");
        assert_eq!(with.records().unwrap(), vec![r.clone()]);

        let records: Vec<Record> = (0..200)
            .map(|i| Record {
                trace_id: None,
                ..rec(i)
            })
            .collect();
        let c = Chunk::from_records(&records);
        let old = as_version_1(&c);
        assert_eq!(old.len(), c.data.len() - records.len());
        assert_eq!(decode_all(&c.names, &old).unwrap(), records);
        let names = Names::decode(&c.names).unwrap();
        let raws = Raws::new(&old).unwrap();
        let found: Vec<Record> = raws
            .with_id(records[7].request_id.as_bytes())
            .map(|raw| raw.unwrap().record(&names).unwrap())
            .collect();
        assert_eq!(found, vec![records[7].clone()]);
    }

    #[test]
    fn records_come_back_as_they_went_in() {
        let records: Vec<Record> = (0..1000).map(rec).collect();
        let c = Chunk::from_records(&records);
        assert_eq!(c.rows, 1000);
        assert_eq!(c.min_time_ms, 1_700_000_000_000 - 3000);
        assert_eq!(c.max_time_ms, 1_700_000_000_000 + 3000);
        assert_eq!(c.records().unwrap(), records);
        let names = Names::decode(&c.names).unwrap();
        let raws = Raws::new(&c.data).unwrap();
        for r in &records {
            assert!(c.may_hold(&r.request_id));
            let found: Vec<Record> = raws
                .with_id(r.request_id.as_bytes())
                .map(|raw| raw.unwrap().record(&names).unwrap())
                .collect();
            assert_eq!(found, std::slice::from_ref(r));
        }
        assert_eq!(raws.with_id(b"req_nope").count(), 0);
        let false_hits = (0..10_000)
            .filter(|i| c.may_hold(&format!("req_other_{i}")))
            .count();
        assert!(false_hits < 300, "{false_hits} false hits in 10,000");
    }

    #[test]
    fn extremes_round_trip() {
        let mut r = rec(1);
        r.time_ms = i64::MIN;
        r.latency_us = i64::MAX;
        r.upstream_status = Some(u16::MAX);
        r.request_id = String::new();
        let mut s = rec(2);
        s.time_ms = i64::MAX;
        s.latency_us = -1;
        let c = Chunk::from_records([&r, &s]);
        assert_eq!(c.records().unwrap(), vec![r, s]);
    }

    #[test]
    fn a_damaged_chunk_is_an_error_not_a_panic() {
        let records: Vec<Record> = (0..50).map(rec).collect();
        let c = Chunk::from_records(&records);
        for cut in 0..c.data.len() {
            let _ = decode_all(&c.names, &c.data[..cut]);
        }
        for cut in 0..c.names.len() {
            let _ = decode_all(&c.names[..cut], &c.data);
        }
        assert!(decode_all(&c.names, &c.data[..c.data.len() - 1]).is_err());
    }
}
