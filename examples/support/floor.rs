//! What the floor examples share: SQLite's least (`sqlite_floor`'s tables and settings) and
//! the sample's JSON encoded per delivery.

use bytes::Bytes;

/// Deliveries encoded, written and handed over together, and answers written together.
pub const BATCH: usize = 256;
/// The cheapest settings measured here (`sqlite_floor`'s defaults): 64 KB pages, and SQLite's
/// own checkpoint every 1,000 of them.
pub const LEAST_PAGE_SIZE: i64 = 65_536;
pub const LEAST_CHECKPOINT_PAGES: i64 = 1_000;

/// A fresh database file with a status table and a body table, no index but the rowids, in
/// WAL mode with `synchronous = NORMAL` as the spool is.
pub fn open(path: &std::path::Path, page_size: i64, checkpoint_pages: i64) -> rusqlite::Connection {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let conn = rusqlite::Connection::open(path).expect("a database");
    conn.execute_batch(&format!(
        "PRAGMA page_size = {page_size}; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;
         PRAGMA wal_autocheckpoint = {checkpoint_pages};
         CREATE TABLE d (id INTEGER PRIMARY KEY, status INTEGER NOT NULL);
         CREATE TABLE bodies (id INTEGER PRIMARY KEY, body BLOB NOT NULL);"
    ))
    .expect("tables");
    conn
}

/// New deliveries, in one transaction: a body row and a status row each.
pub fn write_new(conn: &rusqlite::Connection, deliveries: &[(i64, Bytes)]) {
    let tx = conn.unchecked_transaction().expect("a transaction");
    {
        let mut insert_body = tx.prepare_cached("INSERT INTO bodies (id, body) VALUES (?1, ?2)").expect("insert");
        let mut insert = tx.prepare_cached("INSERT INTO d (id, status) VALUES (?1, 0)").expect("insert");
        for (id, body) in deliveries {
            insert_body.execute(rusqlite::params![id, &body[..]]).expect("insert");
            insert.execute([id]).expect("insert");
        }
    }
    tx.commit().expect("commit");
}

/// Answers, in one transaction: each delivery's status set.
pub fn write_answers(conn: &rusqlite::Connection, answers: &[(i64, u16)]) {
    let tx = conn.unchecked_transaction().expect("a transaction");
    {
        let mut update = tx.prepare_cached("UPDATE d SET status = ?2 WHERE id = ?1").expect("update");
        for &(id, status) in answers {
            update.execute([id, i64::from(status)]).expect("update");
        }
    }
    tx.commit().expect("commit");
}

/// The order_paid_done sample's body for each delivery: encoded anew from the parsed data each
/// time (what `dispatch()` must do, every event being its own data), or once and shared.
pub struct Bodies {
    sample: serde_json::Value,
    once: Option<Bytes>,
    capacity: usize,
}

impl Bodies {
    pub fn new(encode_each: bool) -> Bodies {
        let json = std::fs::read("fixtures/events/order_paid_done.json").expect("run from the repository");
        let sample: serde_json::Value = serde_json::from_slice(&json).expect("JSON");
        let once = (!encode_each).then(|| Bytes::from(serde_json::to_vec(&sample).expect("JSON")));
        Bodies { sample, once, capacity: json.len() }
    }

    pub fn next(&mut self) -> Bytes {
        if let Some(body) = &self.once {
            return body.clone();
        }
        // Sized as the last body, so that the encoder does not grow the buffer as it writes.
        let mut body = Vec::with_capacity(self.capacity);
        serde_json::to_writer(&mut body, &self.sample).expect("JSON");
        self.capacity = self.capacity.max(body.len());
        Bytes::from(body)
    }

    /// The next batch of deliveries, ids from `first` on: BATCH of them, fewer at `count`.
    pub fn batch(&mut self, first: i64, count: i64) -> Vec<(i64, Bytes)> {
        (first..(first + BATCH as i64).min(count)).map(|id| (id, self.next())).collect()
    }
}
