use super::*;
use callrec_core::test_rng::Rng;

use std::time::Instant;

use tokio::time::timeout;

/// Upper bound for any change to be noticed in these tests; the target is well under a second.
const DETECT_LIMIT: Duration = Duration::from_secs(2);

fn patterns(list: &[&str]) -> Vec<String> {
    list.iter().map(|p| (*p).to_owned()).collect()
}

// ---------------------------------------------------------------------------------------------
// mountinfo test vectors (byte-exact, as a phone's kernel prints them)
// ---------------------------------------------------------------------------------------------

/// A phone with a vfat stick at /media/sda1. `errors=remount-ro` must not read as read-only.
const PHONE: &str = "\
15 20 0:14 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
16 20 0:4 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
20 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
21 20 0:19 / /tmp rw,nosuid,nodev shared:9 - tmpfs tmpfs rw,size=8192k
22 20 179:3 / /config rw,noatime shared:10 - ubifs ubi0:config rw,assert=read-only,ubi=0,vol=1
112 20 8:1 / /media/sda1 rw,nosuid,nodev,noexec,relatime shared:61 - vfat /dev/sda1 rw,fmask=0022,dmask=0022,codepage=437,iocharset=utf8,shortname=mixed,errors=remount-ro
";

/// A stick mounted read-only (a locked SD adapter, or the kernel remounted it after errors).
const READ_ONLY: &str = "\
20 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
113 20 8:17 / /media/sdb1 ro,nosuid,nodev,relatime shared:62 - vfat /dev/sdb1 ro,fmask=0022,dmask=0022,codepage=437,iocharset=utf8,shortname=mixed,errors=remount-ro
";

/// Read-only in the super options only: the per-mount flags say rw.
const SUPER_READ_ONLY: &str = "\
20 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
114 20 8:33 / /mnt/usb1 rw,relatime - vfat /dev/sdc1 ro,fmask=0022,dmask=0022
";

/// A volume label with spaces, a tab and a backslash, escaped by the kernel.
const ESCAPED: &str = "\
20 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
115 20 8:1 / /media/MY\\040STICK\\011x\\134y rw,relatime shared:63 - exfat /dev/sda1 rw,iocharset=utf8
";

/// A line without the `-` separator (skipped), then garbage, then a good line.
const MALFORMED: &str = "\
116 20 8:1 / /media/sda1 rw,relatime shared:64 vfat /dev/sda1 rw
hello world
117 20 8:1 / /media/sda1 rw,relatime - vfat
x 20 8:1 / /media/sda1 rw - vfat /dev/sda1 rw
118 20 81 / /media/sda1 rw - vfat /dev/sda1 rw
\u{0}\u{0}\u{7f} \\ - - -
119 20 8:2 / /media/sda2 rw,relatime shared:65 - vfat /dev/sda2 rw
";

/// Two sticks; the one mounted last wins.
const TWO_STICKS: &str = "\
20 1 179:2 / / rw,relatime shared:1 - ext4 /dev/mmcblk0p2 rw
120 20 8:1 / /media/sda1 rw,relatime shared:66 - vfat /dev/sda1 rw
121 20 8:17 / /media/sdb1 rw,relatime shared:67 master:3 - vfat /dev/sdb1 rw
";

#[test]
fn finds_a_vfat_stick() {
    let stick = find_in_mountinfo(PHONE, &patterns(&["/media/*"])).unwrap();
    assert_eq!(
        stick,
        Stick {
            path: PathBuf::from("/media/sda1"),
            read_only: false,
            fs_type: "vfat".to_owned(),
            device: "/dev/sda1".to_owned(),
            mount_id: 112,
        }
    );
}

#[test]
fn no_pattern_no_stick() {
    assert_eq!(find_in_mountinfo(PHONE, &[]), None);
    assert_eq!(find_in_mountinfo(PHONE, &patterns(&["/mnt/usb*"])), None);
    // `/*` matches /, /sys, /proc, /tmp and /config but not /media/sda1; the last one wins.
    let top = find_in_mountinfo(PHONE, &patterns(&["/*"])).unwrap();
    assert_eq!(top.path, Path::new("/config"));
    assert_eq!(top.device, "ubi0:config");
    assert!(!top.read_only, "assert=read-only is not ro");
}

#[test]
fn any_of_several_patterns() {
    let stick = find_in_mountinfo(PHONE, &patterns(&["/mnt/usb*", "/media/sd?1"])).unwrap();
    assert_eq!(stick.mount_id, 112);
}

#[test]
fn read_only_from_mount_options() {
    let stick = find_in_mountinfo(READ_ONLY, &patterns(&["/media/*"])).unwrap();
    assert!(stick.read_only);
    assert_eq!(stick.mount_id, 113);
    assert_eq!(stick.device, "/dev/sdb1");
}

#[test]
fn read_only_from_super_options() {
    let stick = find_in_mountinfo(SUPER_READ_ONLY, &patterns(&["/mnt/usb*"])).unwrap();
    assert!(stick.read_only);
    assert_eq!(stick.path, Path::new("/mnt/usb1"));
    assert_eq!(stick.mount_id, 114);
}

#[test]
fn decodes_escaped_mount_points() {
    let stick = find_in_mountinfo(ESCAPED, &patterns(&["/media/*"])).unwrap();
    assert_eq!(stick.path, Path::new("/media/MY STICK\tx\\y"));
    assert_eq!(stick.fs_type, "exfat");
    // Patterns match the decoded name.
    assert!(find_in_mountinfo(ESCAPED, &patterns(&["/media/MY STICK*"])).is_some());
}

#[test]
fn skips_malformed_lines() {
    let stick = find_in_mountinfo(MALFORMED, &patterns(&["/media/*"])).unwrap();
    assert_eq!(stick.mount_id, 119);
    assert_eq!(stick.path, Path::new("/media/sda2"));
    assert_eq!(
        find_in_mountinfo(MALFORMED, &patterns(&["/media/sda1"])),
        None
    );
}

#[test]
fn empty_table_has_no_stick() {
    assert_eq!(find_in_mountinfo("", &patterns(&["/media/*"])), None);
    assert_eq!(find_in_mountinfo("\n\n", &patterns(&["*"])), None);
}

#[test]
fn last_mounted_wins() {
    let stick = find_in_mountinfo(TWO_STICKS, &patterns(&["/media/*"])).unwrap();
    assert_eq!(stick.mount_id, 121);
    assert_eq!(stick.path, Path::new("/media/sdb1"));
}

#[test]
fn missing_super_options_are_tolerated() {
    let text = "130 20 8:1 / /media/sda1 ro - vfat /dev/sda1";
    let stick = find_in_mountinfo(text, &patterns(&["/media/*"])).unwrap();
    assert!(stick.read_only);
    assert_eq!(stick.device, "/dev/sda1");
}

#[test]
fn non_utf8_mount_point_keeps_its_bytes() {
    let text = b"131 20 8:1 / /media/st\xffck rw - vfat /dev/sda1 rw\n";
    let stick = find_in_mountinfo_bytes(text, &patterns(&["/media/*"])).unwrap();
    assert_eq!(stick.path.as_os_str().as_bytes(), b"/media/st\xffck");
}

#[test]
fn unescape_leaves_bad_escapes_alone() {
    assert_eq!(&*unescape(b"a\\040b"), b"a b");
    assert_eq!(&*unescape(b"a\\04"), b"a\\04");
    assert_eq!(&*unescape(b"a\\09x"), b"a\\09x");
    assert_eq!(&*unescape(b"\\777"), b"\\777"); // does not fit a byte
    assert_eq!(&*unescape(b"\\"), b"\\");
    assert_eq!(&*unescape(b"\\134\\134"), b"\\\\");
}

#[test]
fn parse_u64_refuses_overflow_and_signs() {
    assert_eq!(parse_u64(b"18446744073709551615"), Some(u64::MAX));
    assert_eq!(parse_u64(b"18446744073709551616"), None);
    assert_eq!(parse_u64(b"-1"), None);
    assert_eq!(parse_u64(b"+1"), None);
    assert_eq!(parse_u64(b""), None);
}

/// Every prefix of every vector, and seeded random bytes: no panic.
#[test]
fn never_panics_on_truncated_or_random_tables() {
    let pats = patterns(&["/media/*", "*", "/mnt/usb?", "", "/"]);
    for text in [
        PHONE,
        READ_ONLY,
        SUPER_READ_ONLY,
        ESCAPED,
        MALFORMED,
        TWO_STICKS,
    ] {
        for end in 0..=text.len() {
            let _ = find_in_mountinfo_bytes(&text.as_bytes()[..end], &pats);
        }
    }
    let mut rng = Rng(0x5eed);
    let alphabet = b"0123456789 :-/\\\nrwo,ab*?\xff\xc3\xa9";
    let mut buf = Vec::new();
    for _ in 0..5_000 {
        buf.clear();
        let len = rng.below(80);
        buf.extend((0..len).map(|_| alphabet[rng.below(alphabet.len())]));
        let _ = find_in_mountinfo_bytes(&buf, &pats);
    }
}

// ---------------------------------------------------------------------------------------------
// glob_match
// ---------------------------------------------------------------------------------------------

#[test]
fn glob_examples() {
    assert!(glob_match("/media/*", "/media/sda1"));
    assert!(!glob_match("/media/*", "/media/a/b"));
    assert!(!glob_match("/media/*", "/media"));
    assert!(glob_match("/mnt/usb*", "/mnt/usb"));
    assert!(glob_match("/mnt/usb*", "/mnt/usb1"));
    assert!(!glob_match("/mnt/usb*", "/mnt/usb1/x"));
    assert!(glob_match("/mnt/usb?", "/mnt/usb1"));
    assert!(!glob_match("/mnt/usb?", "/mnt/usb"));
    assert!(!glob_match("/mnt/usb?", "/mnt/usb12"));
    assert!(!glob_match("/mnt/usb?", "/mnt/usb/"));
    assert!(glob_match("/*/*", "/media/sda1"));
    assert!(glob_match("/media/*a*a*", "/media/banana"));
    assert!(glob_match("*aab", "aaab"));
    assert!(glob_match("/media/?", "/media/é"));
    assert!(glob_match("/media/st*k", "/media/stick"));
    assert!(glob_match("/media/*é", "/media/clé"));
    assert!(glob_match("", ""));
    assert!(!glob_match("", "/"));
    assert!(glob_match("*", ""));
    assert!(!glob_match("*", "/"));
    assert!(glob_match("/media/sda1", "/media/sda1"));
    assert!(!glob_match("/media/sda1", "/media/sda10"));
}

/// A slow but obviously right reference: recursion over characters.
fn reference_glob(pattern: &[char], text: &[char]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len())
            .take_while(|&i| i == 0 || text[i - 1] != '/')
            .any(|i| reference_glob(rest, &text[i..])),
        Some(('?', rest)) => {
            matches!(text.split_first(), Some((c, t)) if *c != '/' && reference_glob(rest, t))
        }
        Some((p, rest)) => {
            matches!(text.split_first(), Some((c, t)) if c == p && reference_glob(rest, t))
        }
    }
}

#[test]
fn glob_agrees_with_reference() {
    let alphabet = ['a', 'b', '/', 'é', '*', '?'];
    let mut rng = Rng(42);
    for _ in 0..20_000 {
        let pattern: Vec<char> = (0..rng.below(7)).map(|_| alphabet[rng.below(6)]).collect();
        // Texts from the alphabet without the wildcards, which would only be literal there.
        let text: Vec<char> = (0..rng.below(8)).map(|_| alphabet[rng.below(4)]).collect();
        let (p, t): (String, String) = (pattern.iter().collect(), text.iter().collect());
        assert_eq!(
            glob_match(&p, &t),
            reference_glob(&pattern, &text),
            "{p:?} vs {t:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Directory source
// ---------------------------------------------------------------------------------------------

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let path = std::env::temp_dir().join(format!("callrec-usb-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path.canonicalize().expect("canonical temp dir"))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn probe_directory_states() {
    let tmp = TempDir::new("probe");
    let stick_dir = tmp.0.join("stick");
    let source = StickSource::Directory(stick_dir.clone());
    assert_eq!(probe(&source), None);

    std::fs::write(&stick_dir, b"not a directory").unwrap();
    assert_eq!(probe(&source), None);
    std::fs::remove_file(&stick_dir).unwrap();

    std::fs::create_dir(&stick_dir).unwrap();
    let stick = probe(&source).unwrap();
    assert_eq!(stick.path, stick_dir);
    assert_eq!(stick.fs_type, DIRECTORY_FS_TYPE);
    assert_eq!(stick.device, stick_dir.display().to_string());
    assert!(!stick.read_only);
    assert_eq!(stick.mount_id, std::fs::metadata(&stick_dir).unwrap().ino());
}

#[test]
fn probe_mounts_reads_this_process_table() {
    // The root file system is always mounted; a pattern that matches nothing gives nothing.
    let root = probe(&StickSource::Mounts {
        patterns: patterns(&["/"]),
    })
    .unwrap();
    assert_eq!(root.path, Path::new("/"));
    assert_eq!(
        probe(&StickSource::Mounts {
            patterns: patterns(&["/no/such/mount*"])
        }),
        None
    );
}

#[tokio::test]
async fn directory_watcher_sees_insertion() {
    let tmp = TempDir::new("insert");
    let stick_dir = tmp.0.join("stick");
    let mut watcher = StickWatcher::new(StickSource::Directory(stick_dir.clone())).unwrap();
    assert_eq!(watcher.current(), None);

    std::fs::create_dir(&stick_dir).unwrap();
    let start = Instant::now();
    let stick = timeout(DETECT_LIMIT, watcher.changed())
        .await
        .expect("insertion not seen");
    println!("directory insertion seen after {:?}", start.elapsed());
    let stick = stick.expect("stick present");
    assert_eq!(stick.path, stick_dir);
    assert_eq!(watcher.current(), Some(&stick));
}

#[tokio::test]
async fn directory_watcher_sees_removal_and_recreation() {
    let tmp = TempDir::new("remove");
    let stick_dir = tmp.0.join("stick");
    std::fs::create_dir(&stick_dir).unwrap();
    let mut watcher = StickWatcher::new(StickSource::Directory(stick_dir.clone())).unwrap();
    let first = watcher.current().cloned().expect("stick present at start");

    // Made while the first directory still holds its inode, so the file system cannot hand the
    // same inode number to the "new stick".
    let next = tmp.0.join("stick.next");
    std::fs::create_dir(&next).unwrap();

    std::fs::remove_dir(&stick_dir).unwrap();
    let start = Instant::now();
    let gone = timeout(DETECT_LIMIT, watcher.changed())
        .await
        .expect("removal not seen");
    println!("directory removal seen after {:?}", start.elapsed());
    assert_eq!(gone, None);
    assert_eq!(watcher.current(), None);

    std::fs::rename(&next, &stick_dir).unwrap();
    let back = timeout(DETECT_LIMIT, watcher.changed())
        .await
        .expect("recreation not seen");
    let back = back.expect("stick present again");
    assert_eq!(back.path, stick_dir);
    assert_ne!(back.mount_id, first.mount_id);
}

#[tokio::test]
async fn cancelled_changed_loses_nothing() {
    let tmp = TempDir::new("cancel");
    let stick_dir = tmp.0.join("stick");
    let mut watcher = StickWatcher::new(StickSource::Directory(stick_dir.clone())).unwrap();
    // Nothing changes: the bound elapses and the future is dropped mid-wait.
    assert!(timeout(Duration::from_millis(10), watcher.changed())
        .await
        .is_err());
    std::fs::create_dir(&stick_dir).unwrap();
    let stick = timeout(DETECT_LIMIT, watcher.changed())
        .await
        .expect("insertion not seen");
    assert!(stick.is_some());
}
