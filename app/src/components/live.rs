//! Live updates on a page: the server's stream (Server-Sent Events, `server/src/http/live.rs`)
//! says when what the page shows changed, and the page reloads it. An idle page costs no
//! requests. While the stream is down (the browser reconnects by itself) the page polls every
//! `fallback` instead, and reloads once when the stream is back, for what it may have missed.

use std::time::Duration;

/// Calls `reload` when the stream at `url` says something changed (at most once per
/// `min_gap`, trailing), or every `fallback` while the stream is down. Does nothing on the
/// server.
pub fn use_live_updates(
    url: impl Fn() -> String + 'static,
    reload: impl Fn() + Clone + 'static,
    min_gap: Duration,
    fallback: Duration,
) {
    #[cfg(feature = "hydrate")]
    browser::follow(url, reload, min_gap, fallback);
    #[cfg(not(feature = "hydrate"))]
    let _ = (url, reload, min_gap, fallback);
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;

    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, EventSource};

    type Listener = Closure<dyn FnMut(Event)>;

    pub fn follow(
        url: impl Fn() -> String + 'static,
        reload: impl Fn() + Clone + 'static,
        min_gap: Duration,
        fallback: Duration,
    ) {
        Effect::new(move |_| {
            let Ok(source) = EventSource::new(&url()) else {
                return;
            };
            let up = Rc::new(Cell::new(false));
            let was_up = Rc::new(Cell::new(false));
            let pending = Rc::new(Cell::new(false));
            let changed: Listener = {
                let (reload, pending) = (reload.clone(), pending.clone());
                Closure::new(move |_: Event| {
                    if pending.replace(true) {
                        return;
                    }
                    let (reload, pending) = (reload.clone(), pending.clone());
                    set_timeout(
                        move || {
                            pending.set(false);
                            reload();
                        },
                        min_gap,
                    );
                })
            };
            let opened: Listener = {
                let (reload, up, was_up) = (reload.clone(), up.clone(), was_up.clone());
                Closure::new(move |_: Event| {
                    up.set(true);
                    // Back after a drop: catch up on what the stream did not carry.
                    if was_up.replace(true) {
                        reload();
                    }
                })
            };
            let failed: Listener = {
                let up = up.clone();
                Closure::new(move |_: Event| up.set(false))
            };
            for (kind, listener) in [("changed", &changed), ("open", &opened), ("error", &failed)] {
                let _ = source
                    .add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
            }
            let poll = {
                let reload = reload.clone();
                set_interval_with_handle(
                    move || {
                        if !up.get() {
                            reload();
                        }
                    },
                    fallback,
                )
                .ok()
            };
            let held = StoredValue::new_local((source, [changed, opened, failed]));
            on_cleanup(move || {
                held.with_value(|(source, _)| source.close());
                held.dispose();
                if let Some(poll) = poll {
                    poll.clear();
                }
            });
        });
    }
}
