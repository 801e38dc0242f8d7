//! Maton's connection management: `GET|POST /connections`, `GET|DELETE /connections/{id}`.
//! These can unlink a seller's Gumroad account, which is why the gateway must never expose them.

use gumroad_wire::params::Params;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{
    ids::maton_time,
    reply::Reply,
    store::{Connection, Store},
};

/// Routes `rest`, the path after `/connections`.
pub fn dispatch(store: &mut Store, method: &str, rest: &str, p: &Params) -> Reply {
    let id = rest.trim_start_matches('/').trim_end_matches('/');
    match (method, id) {
        ("GET", "") => list(store, p),
        ("POST", "") => create(store, p),
        ("GET", id) => match store.connections.iter().find(|c| c.id == id) {
            Some(c) => one(c),
            None => not_found(),
        },
        ("DELETE", id) => match store.connections.iter().position(|c| c.id == id) {
            Some(i) => one(&store.connections.remove(i)),
            None => not_found(),
        },
        _ => Reply::json(404, json!({"error": "Not found"})),
    }
}

fn list(store: &Store, p: &Params) -> Reply {
    let app = p.str("app").filter(|a| !a.is_empty());
    let status = p.str("status").filter(|s| !s.is_empty());
    let rows: Vec<Value> = store
        .connections
        .iter()
        .filter(|_| app.is_none_or(|a| a == "gumroad"))
        .filter(|c| status.is_none_or(|s| c.status.eq_ignore_ascii_case(s)))
        .map(connection_json)
        .collect();
    Reply::ok(json!({"connections": rows}))
}

/// A new connection stays PENDING: in real life the user would finish OAuth at `url`.
fn create(store: &mut Store, p: &Params) -> Reply {
    if p.str("app") != Some("gumroad") {
        return Reply::json(
            400,
            json!({"error": "The sandbox only knows the 'gumroad' app."}),
        );
    }
    let now = OffsetDateTime::now_utc();
    let connection = Connection {
        id: uuid::Uuid::new_v4().to_string(),
        status: "PENDING".to_owned(),
        created: now,
        updated: now,
        seller_id: None,
        edit_products: false,
    };
    let reply = one(&connection);
    store.connections.push(connection);
    reply
}

fn one(c: &Connection) -> Reply {
    Reply::ok(json!({"connection": connection_json(c)}))
}

fn not_found() -> Reply {
    Reply::json(404, json!({"error": "Connection not found"}))
}

fn connection_json(c: &Connection) -> Value {
    json!({
        "connection_id": c.id,
        "status": c.status,
        "creation_time": maton_time(c.created),
        "last_updated_time": maton_time(c.updated),
        "url": format!("https://connect.maton.ai/?session_token=sandbox-{}", c.id),
        "app": "gumroad",
        "method": "OAUTH2",
        "metadata": {},
    })
}
