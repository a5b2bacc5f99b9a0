//! The CPU that Lambda gives a memory size, given to one function process through the kernel's
//! CPU controller, and the CPU time that process uses, read from the same controller.
//!
//! Lambda allocates CPU in proportion to memory: 1,769 MB gets one vCPU, 128 MB about 1/14 of one
//! (AWS's "Memory and computing power" page). Here that is a CFS quota of `memory / 1769` of each
//! 100 ms period: at 128 MB a process may run 7.2 ms in every 100 ms, then waits for the next
//! period, which is how a throttled sandbox behaves.
//!
//! Each process gets a control group of its own, made before it starts its work and removed
//! after it exits. Its CPU time (user + system, every thread it ever had) is the group's counter,
//! in nanoseconds: unlike `/proc/<pid>/stat` (10 ms ticks) it can time a 1 ms invocation, and
//! unlike per-thread `schedstat` it keeps the time of threads that have exited.
//!
//! Both kinds of controller are supported: cgroup v1 (`cpu` and `cpuacct` hierarchies) and v2
//! (`cpu.max`, `cpu.stat`). Writing to them needs root, or a delegated subtree.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Result};

/// The memory size at which Lambda gives a function one whole vCPU, in MB.
pub const ONE_VCPU_MB: u32 = 1_769;
/// The quota's period; the kernel's default.
const PERIOD_MICROS: u64 = 100_000;
/// The smallest quota the kernel accepts.
const MIN_QUOTA_MICROS: u64 = 1_000;

/// The kernel's CPU controller, as this machine mounts it.
#[derive(Debug, Clone)]
pub enum Controller {
    /// cgroup v1: quotas in the `cpu` hierarchy, CPU time in the `cpuacct` one (often the same
    /// folder, mounted as `cpu,cpuacct`).
    V1 { cpu: PathBuf, cpuacct: PathBuf },
    /// cgroup v2: one hierarchy; the folder's `cgroup.subtree_control` must include `cpu`.
    V2 { root: PathBuf },
}

impl Controller {
    /// This machine's controller, with a folder of the benchmark's own under it; an error that
    /// says what is missing where there is none the benchmark may write to.
    pub fn find() -> Result<Controller> {
        Controller::find_under(Path::new("/sys/fs/cgroup"))
    }

    fn find_under(mount: &Path) -> Result<Controller> {
        let v1_cpu = mount.join("cpu");
        let v1_cpuacct = [mount.join("cpuacct"), mount.join("cpu,cpuacct"), v1_cpu.clone()]
            .into_iter()
            .find(|folder| folder.join("cpuacct.usage").is_file());
        let controller = if v1_cpu.join("cpu.cfs_quota_us").is_file() {
            let cpuacct =
                v1_cpuacct.ok_or_else(|| anyhow!("{} has a cpu controller but no cpuacct", mount.display()))?;
            Controller::V1 {
                cpu: v1_cpu.join("lambda-bench"),
                cpuacct: cpuacct.join("lambda-bench"),
            }
        } else if std::fs::read_to_string(mount.join("cgroup.controllers"))
            .is_ok_and(|list| list.split_whitespace().any(|name| name == "cpu"))
        {
            // The group's parent must hand the cpu controller down to its children.
            let subtree = mount.join("cgroup.subtree_control");
            write(&subtree, "+cpu")?;
            Controller::V2 {
                root: mount.join("lambda-bench"),
            }
        } else {
            return Err(anyhow!(
                "--memory needs the kernel's CPU controller, and {} has none (neither cgroup v1's cpu/cpu.cfs_quota_us nor v2's cgroup.controllers with cpu)",
                mount.display()
            ));
        };
        for folder in controller.folders() {
            std::fs::create_dir_all(&folder).map_err(|error| {
                anyhow!(
                    "--memory needs to write to the CPU controller: {}: {error} (run the benchmark as root)",
                    folder.display()
                )
            })?;
        }
        if let Controller::V2 { root } = &controller {
            write(&root.join("cgroup.subtree_control"), "+cpu")?;
        }
        Ok(controller)
    }

    fn folders(&self) -> Vec<PathBuf> {
        match self {
            Controller::V1 { cpu, cpuacct } if cpu == cpuacct => vec![cpu.clone()],
            Controller::V1 { cpu, cpuacct } => vec![cpu.clone(), cpuacct.clone()],
            Controller::V2 { root } => vec![root.clone()],
        }
    }

    /// A new, empty group for one process, with no limit yet.
    pub fn group(&self, name: &str) -> Result<Group> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!("{name}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let group = match self {
            Controller::V1 { cpu, cpuacct } => Group {
                controller: self.clone(),
                cpu: cpu.join(&name),
                cpuacct: cpuacct.join(&name),
            },
            Controller::V2 { root } => Group {
                controller: self.clone(),
                cpu: root.join(&name),
                cpuacct: root.join(&name),
            },
        };
        for folder in group.folders() {
            std::fs::create_dir_all(&folder).map_err(|error| anyhow!("{}: {error}", folder.display()))?;
        }
        Ok(group)
    }
}

/// One process's control group.
#[derive(Debug)]
pub struct Group {
    controller: Controller,
    /// Where the quota is set.
    cpu: PathBuf,
    /// Where the CPU time is read (the same folder on v2).
    cpuacct: PathBuf,
}

impl Group {
    fn folders(&self) -> Vec<PathBuf> {
        if self.cpu == self.cpuacct {
            vec![self.cpu.clone()]
        } else {
            vec![self.cpu.clone(), self.cpuacct.clone()]
        }
    }

    /// Moves process `pid` (all its threads) into the group.
    pub fn admit(&self, pid: u32) -> Result<()> {
        for folder in self.folders() {
            write(&folder.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    /// From now on, the group may use the CPU Lambda gives `memory_mb`.
    pub fn limit_to(&self, memory_mb: u32) -> Result<()> {
        let quota = quota_micros(memory_mb);
        match self.controller {
            Controller::V1 { .. } => {
                write(&self.cpu.join("cpu.cfs_period_us"), &PERIOD_MICROS.to_string())?;
                write(&self.cpu.join("cpu.cfs_quota_us"), &quota.to_string())
            }
            Controller::V2 { .. } => write(&self.cpu.join("cpu.max"), &format!("{quota} {PERIOD_MICROS}")),
        }
    }

    /// The CPU time the group's processes have used since they entered it.
    pub fn cpu_time(&self) -> Result<Duration> {
        match self.controller {
            Controller::V1 { .. } => {
                let path = self.cpuacct.join("cpuacct.usage");
                let text = read(&path)?;
                let nanos = text
                    .trim()
                    .parse::<u64>()
                    .map_err(|error| anyhow!("{}: {text:?}: {error}", path.display()))?;
                Ok(Duration::from_nanos(nanos))
            }
            Controller::V2 { .. } => {
                let path = self.cpuacct.join("cpu.stat");
                let text = read(&path)?;
                let micros = text
                    .lines()
                    .find_map(|line| line.strip_prefix("usage_usec "))
                    .and_then(|value| value.trim().parse::<u64>().ok())
                    .ok_or_else(|| anyhow!("{} has no usage_usec line", path.display()))?;
                Ok(Duration::from_micros(micros))
            }
        }
    }
}

impl Drop for Group {
    /// Removes the group; call it once its process has exited (`wait` returned), since the kernel
    /// refuses to remove a group with a process in it.
    fn drop(&mut self) {
        for folder in self.folders() {
            let _ = std::fs::remove_dir(&folder);
        }
    }
}

/// The quota per [`PERIOD_MICROS`] that gives `memory_mb` its share of a vCPU.
pub fn quota_micros(memory_mb: u32) -> u64 {
    (PERIOD_MICROS * u64::from(memory_mb) / u64::from(ONE_VCPU_MB)).max(MIN_QUOTA_MICROS)
}

/// The share of one vCPU that `memory_mb` gets.
pub fn vcpu_share(memory_mb: u32) -> f64 {
    f64::from(memory_mb) / f64::from(ONE_VCPU_MB)
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).map_err(|error| anyhow!("writing {value:?} to {}: {error}", path.display()))
}

fn read(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|error| anyhow!("{}: {error}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_is_lambda_s_share_of_one_vcpu() {
        assert_eq!(quota_micros(1_769), 100_000);
        assert_eq!(quota_micros(128), 7_235);
        assert_eq!(quota_micros(3_538), 200_000);
        // Below the kernel's minimum, the minimum.
        assert_eq!(quota_micros(1), 1_000);
        assert!((vcpu_share(128) - 1.0 / 13.82).abs() < 1e-3);
    }

    /// A folder laid out as the kernel lays out its controller, written to as the kernel's would be.
    fn fake_mount(files: &[&str]) -> PathBuf {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let mount = std::env::temp_dir().join(format!(
            "cpu-share-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        for file in files {
            let path = mount.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        mount
    }

    #[test]
    fn on_cgroup_v1_the_quota_goes_to_cpu_and_the_time_comes_from_cpuacct() -> Result<()> {
        let mount = fake_mount(&["cpu/cpu.cfs_quota_us", "cpuacct/cpuacct.usage"]);
        let controller = Controller::find_under(&mount)?;
        let group = controller.group("s3-put-handler")?;
        group.admit(42)?;
        group.limit_to(128)?;
        assert_eq!(std::fs::read_to_string(group.cpu.join("cgroup.procs"))?, "42");
        assert_eq!(std::fs::read_to_string(group.cpuacct.join("cgroup.procs"))?, "42");
        assert_eq!(std::fs::read_to_string(group.cpu.join("cpu.cfs_quota_us"))?, "7235");
        assert_eq!(std::fs::read_to_string(group.cpu.join("cpu.cfs_period_us"))?, "100000");
        std::fs::write(group.cpuacct.join("cpuacct.usage"), "1234567\n")?;
        assert_eq!(group.cpu_time()?, Duration::from_nanos(1_234_567));
        std::fs::remove_dir_all(&mount)?;
        Ok(())
    }

    #[test]
    fn on_cgroup_v2_the_quota_and_the_time_share_one_folder() -> Result<()> {
        let mount = fake_mount(&["cgroup.subtree_control"]);
        std::fs::write(mount.join("cgroup.controllers"), "cpuset cpu io memory pids\n")?;
        let controller = Controller::find_under(&mount)?;
        assert_eq!(std::fs::read_to_string(mount.join("cgroup.subtree_control"))?, "+cpu");
        let group = controller.group("api-gateway-http")?;
        group.limit_to(512)?;
        assert_eq!(std::fs::read_to_string(group.cpu.join("cpu.max"))?, "28942 100000");
        std::fs::write(
            group.cpu.join("cpu.stat"),
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        )?;
        assert_eq!(group.cpu_time()?, Duration::from_micros(2_500));
        std::fs::remove_dir_all(&mount)?;
        Ok(())
    }

    #[test]
    fn a_machine_without_a_cpu_controller_is_told_so() {
        let mount = fake_mount(&["memory/memory.limit_in_bytes"]);
        let error = Controller::find_under(&mount).unwrap_err().to_string();
        assert!(error.contains("--memory needs the kernel's CPU controller"), "{error}");
        std::fs::remove_dir_all(&mount).unwrap();
    }
}
