//! A desktop app's license flow, end to end: activate this machine, check the token offline,
//! beat, list the license's machines, deactivate.
//!
//! ```text
//! cargo run --release -- serve --sandbox        # in another terminal: a gateway on :8080
//! cargo run -p gumgate-client --example desktop -- http://127.0.0.1:8080 \
//!     9Y2u8Dy4AWioyNrmNROrFA== 5A1C0F3E-8B2D4E61-9F7A3C05-D4E2B1A0 /tmp/license.json
//! ```

use gumgate_client::{Client, Machine, Outcome};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [server, product, license, state] = args.as_slice() else {
        eprintln!("usage: desktop SERVER_URL PRODUCT_ID LICENSE_KEY STATE_FILE");
        std::process::exit(2);
    };
    let client = Client::builder(server, product).state_path(state).build()?;
    println!("machine fingerprint: {}", client.fingerprint());

    match client
        .activate(license, Machine::named("example desktop"))
        .await?
    {
        Outcome::Granted(g) => println!(
            "1. activated {} ({} of {} seats), entitlements {:?}",
            g.activation.id, g.license.seats_used, g.license.seats, g.entitlements
        ),
        other => {
            println!("1. not activated: {other:?}");
            std::process::exit(1);
        }
    }

    let offline = client.check_offline();
    println!("2. offline check of the stored token: {}", offline.code);

    match client.heartbeat().await? {
        Outcome::Granted(g) => match g.heartbeat {
            Some(h) => println!(
                "3. heartbeat: next at {}, seat kept until {}",
                h.next_at, h.deadline
            ),
            None => println!("3. heartbeat: this product has no heartbeats"),
        },
        other => println!("3. heartbeat: {other:?}"),
    }

    if let Ok(list) = client.machines().await? {
        println!("4. this license's machines:");
        for m in &list.machines {
            let name = m.name.as_deref().unwrap_or("(unnamed)");
            let seen = m.last_seen_at.as_deref().unwrap_or("-");
            println!("   {} {name}, last seen {seen}", m.id);
        }
    }

    match client.deactivate(None).await? {
        None => println!("5. deactivated: the seat is free"),
        Some(denial) => println!("5. not deactivated: {} ({})", denial.message, denial.code),
    }
    Ok(())
}
