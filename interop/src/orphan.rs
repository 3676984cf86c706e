//! Drivers exit when the process that started them dies.
//!
//! A runner that crashes (or is SIGKILLed) never sends its servers SIGTERM, so they would run
//! on forever as orphans, holding Redis connections and consumer-group slots that later runs
//! then see. A driver therefore watches its parent: when it is reparented (the parent id
//! changes, to init or a subreaper), the parent is gone and the driver exits at once. Safe
//! code only: the parent id is polled, no `prctl(PR_SET_PDEATHSIG)`.

use std::os::unix::process::parent_id;
use std::time::Duration;

/// How often the parent id is checked: an orphan lingers at most this long.
pub const POLL: Duration = Duration::from_millis(250);

/// The exit status of a driver whose parent died.
pub const ORPHANED_EXIT_CODE: i32 = 3;

/// Starts a thread that ends the process with [`ORPHANED_EXIT_CODE`] once the current parent
/// process has died. A thread rather than a task, so it fires even while the runtime is
/// blocked (e.g. the driver still reading its config from stdin). Call it first in `main`.
pub fn exit_when_parent_dies() -> std::io::Result<()> {
    let parent = parent_id();
    std::thread::Builder::new()
        .name("parent-watch".into())
        .spawn(move || loop {
            std::thread::sleep(POLL);
            if parent_id() != parent {
                eprintln!("parent process {parent} is gone: exiting");
                std::process::exit(ORPHANED_EXIT_CODE);
            }
        })
        .map(drop)
}
