//! Transparent huge pages off for the simulator's process.
//!
//! A simulation's world grows to hundreds of megabytes (about 190 MB at 10,000 instances) that
//! mimalloc asks the kernel to back with 2 MiB pages. On the 2-core Firecracker machines here the
//! kernel then zeroes each fresh huge page inside the fault that first touches it, and the host
//! behind it backs those pages slowly: 0.3–0.46 s of system time in most 10,000-instance runs
//! (a fifth of the wall time), against 0.07–0.09 s with 4 KiB pages, for the same user time and
//! the same report (README, Performance, the ninth session of 2026-12-01). The handler's own
//! processes (the Lambda, `invoke`) keep few records in memory and are left as they are.

/// Turns transparent huge pages off for this process from now on (on Linux: the process's
/// `PR_SET_THP_DISABLE` flag, which mimalloc's `MIMALLOC_ALLOW_THP=0` also sets); true when they
/// are off. Elsewhere there is nothing to turn off: false.
pub fn turn_off() -> bool {
    #[cfg(target_os = "linux")]
    {
        rustix::thread::disable_transparent_huge_pages(true).is_ok()
            && rustix::thread::transparent_huge_pages_are_disabled().unwrap_or(false)
    }
    #[cfg(not(target_os = "linux"))]
    {
        false
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn huge_pages_are_off_for_the_process_after_turning_them_off() {
        assert!(super::turn_off());
        // The flag is the process's, as `/proc/self/status` shows it.
        let status = std::fs::read_to_string("/proc/self/status").expect("procfs is mounted");
        let line = status
            .lines()
            .find(|l| l.starts_with("THP_enabled:"))
            .expect("the kernel reports THP_enabled");
        assert_eq!(line.split_whitespace().nth(1), Some("0"), "{line}");
    }
}
