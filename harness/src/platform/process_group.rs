//! Process groups: every process a platform starts (an instance, a platform command) leads
//! a group of its own that dies with the harness, so that a whole group can be signalled and
//! nothing outlives a killed run.

/// Puts the child in a process group of its own that dies with the harness: `PR_SET_PDEATHSIG`
/// asks the kernel to SIGKILL it when the thread that spawned it exits, so neither an instance
/// nor a platform command outlives a killed harness.
pub fn own_group_dying_with_us(cmd: &mut tokio::process::Command) {
    cmd.process_group(0);
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// Sends `signal` to the process group led by `pid`.
pub fn kill_group(pid: u32, signal: i32) {
    if pid == 0 {
        return;
    }
    // SAFETY: kill(2) has no memory-safety preconditions; a stale pid group is harmless
    // because each instance leads its own group and groups are reaped only by us.
    unsafe {
        libc::kill(-(pid as i32), signal);
    }
}
