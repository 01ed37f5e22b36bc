//! `loadtest idle`: opens connections, reads each greeting, and holds them open and silent until the run
//! ends: what a server's memory per idle connection is measured with (with --tls, after the handshake).

use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::connect::Endpoint;
use crate::runner::Shared;
use crate::stats::Stats;
use crate::wire::kind;

pub async fn connection(target: Endpoint, timeout: Duration, shared: Arc<Shared>) -> Stats {
    let mut st = Stats::default();
    if !shared.claim() {
        return st;
    }
    let t = Instant::now();
    match target.open(timeout).await {
        Ok(mut w) => match w.line().await {
            Ok(_) => {
                st.record(shared.start.elapsed(), t.elapsed(), 0);
                shared.done.fetch_add(1, Relaxed);
                while !shared.stopped() {
                    glommio::timer::sleep(Duration::from_millis(100)).await;
                }
                w.close().await;
            }
            Err(e) => {
                st.error(kind(&e));
                shared.errors.fetch_add(1, Relaxed);
            }
        },
        Err(e) => {
            st.connections_failed += 1;
            st.error(format!("connect {}", kind(&e)));
            shared.errors.fetch_add(1, Relaxed);
        }
    }
    st
}
