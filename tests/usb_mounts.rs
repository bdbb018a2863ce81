//! The stick watcher against the real kernel: a tmpfs mounted, remounted read-only and unmounted
//! in a private mount namespace (`unshare -m`, as root), seen through /proc/self/mountinfo and
//! its POLLPRI events. A mount namespace belongs to a whole process, so this test has its own
//! `main` (`harness = false`): run normally it re-executes itself under `unshare` and checks the
//! child's report; the child (marked by an environment variable) does the mounting.

use callrec_platform::usb::{probe, Stick, StickSource, StickWatcher};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};
use tokio::time::timeout;

/// Upper bound for a change to be seen (a bound, not a wait: the watcher answers in ms).
const DETECT_LIMIT: Duration = Duration::from_secs(2);
/// Set for the child: the directory to mount under.
const CHILD_ENV: &str = "CALLREC_USB_MOUNT_CHILD_DIR";

fn main() -> ExitCode {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        return if child(PathBuf::from(dir)) {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        };
    }
    let ok = parent();
    // The plain closing line test runners are read by.
    println!(
        "usb_mounts: {} passed, {} failed",
        u8::from(ok),
        u8::from(!ok)
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn parent() -> bool {
    let dir = std::env::temp_dir().join(format!("callrec-usb-mounts-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let exe = std::env::current_exe().expect("test executable");
    let output = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(exe)
        .env(CHILD_ENV, &dir)
        .output()
        .expect("cannot run `unshare` (util-linux) for the mount namespace test");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    println!("--- child stdout ---\n{stdout}--- child stderr ---\n{stderr}");
    output.status.success() && stdout.contains("mount watch: ok")
}

fn child(dir: PathBuf) -> bool {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(mount_watch(dir));
    true
}

async fn mount_watch(dir: PathBuf) {
    let usb1 = dir.join("usb1");
    std::fs::create_dir(&usb1).unwrap();
    let source = StickSource::Mounts {
        patterns: vec![format!("{}/usb*", dir.display())],
    };
    // `watcher` is configured as in production; `events_only` never rescans in this test, so it
    // proves that the kernel's mount event alone is seen.
    let mut watcher = StickWatcher::new(source.clone()).unwrap();
    let mut events_only =
        StickWatcher::with_rescan_period(source.clone(), Duration::from_secs(3600)).unwrap();
    assert!(events_only.has_mount_events());
    assert_eq!(watcher.current(), None);
    assert_eq!(events_only.current(), None);

    // Insertion.
    let mount = &["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs"];
    let inserted = both_change(&mut watcher, &mut events_only, "insert", mount, &usb1)
        .await
        .expect("stick present");
    assert_eq!(inserted.path, usb1);
    assert_eq!(inserted.fs_type, "tmpfs");
    assert_eq!(inserted.device, "tmpfs");
    assert!(!inserted.read_only);
    assert_eq!(probe(&source), Some(inserted.clone()));
    assert!(
        !probe(&StickSource::Directory(usb1.clone()))
            .unwrap()
            .read_only
    );

    // Read-only remount: the same mount, now ro.
    let remount = &["mount", "-o", "remount,ro"];
    let remounted = both_change(&mut watcher, &mut events_only, "remount ro", remount, &usb1)
        .await
        .expect("stick present");
    assert!(remounted.read_only);
    assert_eq!(remounted.mount_id, inserted.mount_id);
    assert!(
        probe(&StickSource::Directory(usb1.clone()))
            .unwrap()
            .read_only
    );

    // Removal.
    let removed = both_change(&mut watcher, &mut events_only, "remove", &["umount"], &usb1).await;
    assert_eq!(removed, None);
    assert_eq!(probe(&source), None);
    println!("mount watch: ok");
}

/// Runs `args` with `path` appended on a blocking thread while both watchers wait (idle, as in
/// production) for the change it makes, and prints how long each took from the command's start.
/// The kernel's event comes during the mount system call, so a watcher can see the change
/// before `mount(8)` has exited.
async fn both_change(
    watcher: &mut StickWatcher,
    events_only: &mut StickWatcher,
    what: &str,
    args: &'static [&'static str],
    path: &Path,
) -> Option<Stick> {
    let path = path.to_path_buf();
    let start = Instant::now();
    let command = tokio::task::spawn_blocking(move || {
        let status = Command::new(args[0])
            .args(&args[1..])
            .arg(&path)
            .status()
            .expect(args[0]);
        assert!(status.success(), "{args:?} {}: {status}", path.display());
        start.elapsed()
    });
    let (command, (a, a_took), (b, b_took)) = tokio::join!(
        command,
        timed_change(watcher, start),
        timed_change(events_only, start)
    );
    let command_took = command.unwrap_or_else(|e| panic!("{what}: {args:?} failed: {e}"));
    let a = a.unwrap_or_else(|_| panic!("{what}: not seen within {DETECT_LIMIT:?}"));
    let b = b.unwrap_or_else(|_| panic!("{what}: not seen from mount events alone"));
    println!(
        "usb {what}: seen {a_took:?} after `{}` started (events only: {b_took:?}; the command \
         exited after {command_took:?})",
        args.join(" ")
    );
    assert_eq!(a, b, "{what}: watchers disagree");
    a
}

async fn timed_change(
    watcher: &mut StickWatcher,
    start: Instant,
) -> (Result<Option<Stick>, tokio::time::error::Elapsed>, Duration) {
    let result = timeout(DETECT_LIMIT, watcher.changed()).await;
    (result, start.elapsed())
}
