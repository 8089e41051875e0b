//! The VM's initramfs: a cpio "newc" archive
//! (<https://docs.kernel.org/driver-api/early-userspace/buffer-format.html>),
//! gzip-compressed. It is written here rather than with cpio(1) so that
//! every file is root's and `/dev/console` exists without vm-test running
//! as root. [`Image`] is the archive; the functions below fill it: busybox,
//! the test rootfs, and the step binaries with their shared libraries.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::{INIT, Tools, kernel, output, read};

pub enum Kind {
    Dir,
    File(Vec<u8>),
    Symlink(String),
    CharDev(u32, u32),
}

/// The image's entries by path (relative, no leading `/`). Sorted, so a
/// directory always comes before what is in it, as the kernel needs.
#[derive(Default)]
pub struct Image {
    entries: BTreeMap<String, (u32, Kind)>,
}

impl Image {
    pub fn dir(&mut self, path: &str, mode: u32) {
        self.add(path, mode, Kind::Dir);
    }
    pub fn file(&mut self, path: &str, mode: u32, data: Vec<u8>) {
        self.add(path, mode, Kind::File(data));
    }
    pub fn symlink(&mut self, path: &str, target: &str) {
        self.add(path, 0o777, Kind::Symlink(target.to_owned()));
    }
    pub fn char_dev(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.add(path, mode, Kind::CharDev(major, minor));
    }

    /// Adds an entry, and every missing parent directory (mode 0755).
    fn add(&mut self, path: &str, mode: u32, kind: Kind) {
        let path = path.trim_matches('/');
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            self.entries
                .entry(dir.to_string_lossy().into_owned())
                .or_insert((0o755, Kind::Dir));
            parent = dir.parent();
        }
        self.entries.insert(path.to_owned(), (mode, kind));
    }

    /// The archive, every entry owned by root.
    pub fn newc(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, (mode, kind))) in self.entries.iter().enumerate() {
            let (kind_bits, nlink, data, rdev): (u32, u32, &[u8], (u32, u32)) = match kind {
                Kind::Dir => (0o040000, 2, &[], (0, 0)),
                Kind::File(data) => (0o100000, 1, data, (0, 0)),
                Kind::Symlink(target) => (0o120000, 1, target.as_bytes(), (0, 0)),
                Kind::CharDev(major, minor) => (0o020000, 1, &[], (*major, *minor)),
            };
            entry(
                &mut out,
                path,
                ino as u32 + 1,
                kind_bits | mode,
                nlink,
                data,
                rdev,
            );
        }
        entry(&mut out, "TRAILER!!!", 0, 0, 1, &[], (0, 0));
        out
    }

    /// Writes the archive, gzip-compressed, to `path`.
    pub fn write_gz(&self, path: &Path) -> Result<()> {
        let file = fs::File::create(path).with_context(|| format!("create {}", path.display()))?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(file),
            flate2::Compression::fast(),
        );
        gz.write_all(&self.newc())
            .and_then(|()| gz.finish()?.flush())
            .with_context(|| format!("write {}", path.display()))
    }
}

fn entry(
    out: &mut Vec<u8>,
    name: &str,
    ino: u32,
    mode: u32,
    nlink: u32,
    data: &[u8],
    rdev: (u32, u32),
) {
    // c_ino c_mode c_uid c_gid c_nlink c_mtime c_filesize c_devmajor
    // c_devminor c_rdevmajor c_rdevminor c_namesize c_check
    let fields = [
        ino,
        mode,
        0,
        0,
        nlink,
        0,
        data.len() as u32,
        0,
        0,
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0,
    ];
    out.extend_from_slice(b"070701");
    for field in fields {
        out.extend_from_slice(format!("{field:08X}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while out.len() % 4 != 0 {
        out.push(0);
    }
}

/// The initramfs vm-test boots, and the steps that did not build.
pub struct Built {
    pub path: PathBuf,
    /// Step name to the first line of why it did not build.
    pub unbuilt: BTreeMap<String, String>,
}

/// Builds `work/initramfs.cpio.gz`: init.sh as /init, busybox, the test
/// rootfs at /rootfs, veth.ko and overlay.ko, and the steps asked for (built by cargo; a
/// step that does not build is left out and reported in [`Built::unbuilt`]).
pub fn build(steps: &[u8], modules: &[Option<&Path>], work: &Path, tools: &Tools) -> Result<Built> {
    let mut image = Image::default();
    image.dir("dev", 0o755);
    // The kernel opens /dev/console for init's stdio before anything is mounted.
    image.char_dev("dev/console", 0o600, 5, 1);
    for dir in ["proc", "sys", "tmp", "etc", "lib/modules"] {
        image.dir(dir, 0o755);
    }
    image.file("init", 0o755, INIT.as_bytes().to_vec());
    let steps_line: Vec<String> = steps.iter().map(u8::to_string).collect();
    image.file(
        "etc/vmtest.env",
        0o644,
        format!(
            "STEPS=\"{}\"\nSKIP=\"{}\"\n",
            steps_line.join(" "),
            super::NOT_IN_VM
                .iter()
                .map(|c| format!("--skip {c}"))
                .collect::<Vec<_>>()
                .join(" ")
        )
        .into_bytes(),
    );
    add_busybox(&mut image)?;
    add_rootfs(&mut image)?;
    // veth.ko and overlay.ko, decompressed, under their plain names.
    for module in modules.iter().flatten() {
        let name = module.file_name().unwrap_or_default().to_string_lossy();
        let plain = name.split(".ko").next().unwrap_or_default();
        image.file(
            &format!("lib/modules/{plain}.ko"),
            0o644,
            kernel::module_bytes(module)?,
        );
    }
    // The not-root check runs the step through util-linux's setpriv
    // (busybox's has no --reuid); it replaces busybox's applet link.
    let setpriv = super::which("setpriv")
        .context("vm-test needs setpriv; install it with: apt-get install util-linux")?;
    add_program(&mut image, "setpriv", &setpriv, tools)?;
    // step09 as an ordinary user: uid 1000 with a subordinate range, and
    // the setuid-root helpers that write its full map (the archive makes
    // every file root's, so mode 04755 is a real setuid-root program).
    if steps.contains(&9) {
        for helper in ["newuidmap", "newgidmap"] {
            let path = super::which(helper).with_context(|| {
                format!(
                    "vm-test needs {helper} for step09; install it with: apt-get install uidmap"
                )
            })?;
            add_program(&mut image, helper, &path, tools)?;
            image.file(&format!("bin/{helper}"), 0o4755, read(&path)?);
        }
        for (file, text) in ROOTLESS_FILES {
            image.file(file, 0o644, text.as_bytes().to_vec());
        }
    }
    // The checks themselves (testkit's `checks` program) and the steps, in
    // one cargo run, so that every crate is built once, with one set of
    // features. A step that does not build fails its checks.
    let names: Vec<String> = steps.iter().map(|s| format!("step{s:02}")).collect();
    let mut packages = vec!["testkit".to_owned()];
    packages.extend(names.iter().cloned());
    let (mut built, error) = build_bins(&packages, &work.join("bin"), tools)?;
    let checks = built.remove("checks").with_context(|| {
        format!(
            "testkit's checks program did not build: {}",
            error.as_deref().unwrap_or("?")
        )
    })?;
    add_program(&mut image, "checks", &checks, tools)?;
    // step05's v1-backend tests, which a v2 machine must report as ignored.
    if steps.contains(&5) {
        let v1_tests = build_test("step05", "cgroup_v1", &work.join("bin"), tools)?;
        add_program(&mut image, "cgroup_v1_tests", &v1_tests, tools)?;
    }
    let mut unbuilt = BTreeMap::new();
    for name in names {
        match built.remove(&name) {
            Some(bin) => {
                add_program(&mut image, &name, &bin, tools)?;
                // init.sh finds a step at /bin/step0N (`step0$step`), which
                // for step 10 is /bin/step010: that name too.
                if let Some(alias) = init_sh_name(&name) {
                    image.symlink(&format!("bin/{alias}"), &name);
                }
            }
            None => {
                let why = error
                    .clone()
                    .unwrap_or_else(|| "cargo built no executable".into());
                eprintln!("vm-test: {name} did not build; its checks fail: {why}");
                unbuilt.insert(name, why);
            }
        }
    }
    let path = work.join("initramfs.cpio.gz");
    image.write_gz(&path)?;
    Ok(Built { path, unbuilt })
}

/// The name init.sh looks a step up by (`/bin/step0$step`), when it is
/// not the step's own: `step010` for `step10`.
fn init_sh_name(step: &str) -> Option<String> {
    let n = step.strip_prefix("step")?.trim_start_matches('0');
    let name = format!("step0{n}");
    (name != step).then_some(name)
}

/// The VM's ordinary user for step09 (init.sh's rootless checks): uid and
/// gid 1000, named so that newuidmap finds its range.
const ROOTLESS_FILES: [(&str, &str); 4] = [
    (
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nrootless:x:1000:1000:rootless:/tmp/rootless/home:/bin/sh\n",
    ),
    ("etc/group", "root:x:0:\nrootless:x:1000:\n"),
    ("etc/subuid", "rootless:200000:65536\n"),
    ("etc/subgid", "rootless:200000:65536\n"),
];

/// `bin` as /bin/`name`, with the shared libraries it needs.
fn add_program(image: &mut Image, name: &str, bin: &Path, tools: &Tools) -> Result<()> {
    image.file(&format!("bin/{name}"), 0o755, read(bin)?);
    for lib in shared_libraries(&tools.ldd, bin)? {
        image.file(&lib.to_string_lossy(), 0o755, read(&lib)?);
    }
    Ok(())
}

/// /bin/busybox and a symlink per applet, so that init.sh finds them on PATH.
fn add_busybox(image: &mut Image) -> Result<()> {
    image.file(
        "bin/busybox",
        0o755,
        read(Path::new(testkit::rootfs::BUSYBOX))?,
    );
    for applet in testkit::rootfs::busybox_applets()? {
        image.symlink(&format!("bin/{applet}"), "busybox");
    }
    Ok(())
}

/// The test rootfs, at /rootfs: the same tree the host's tests run in,
/// taken from its tarball (which needs no root to build).
fn add_rootfs(image: &mut Image) -> Result<()> {
    let tarball = testkit::rootfs::busybox_tarball()?;
    let file = fs::File::open(&tarball).with_context(|| format!("open {}", tarball.display()))?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(file));
    for entry in archive.entries().context("read the test rootfs tarball")? {
        let mut entry = entry.context("read the test rootfs tarball")?;
        let rel = entry
            .path()?
            .to_string_lossy()
            .trim_start_matches("./")
            .trim_end_matches('/')
            .to_owned();
        let path = if rel.is_empty() {
            "rootfs".to_owned()
        } else {
            format!("rootfs/{rel}")
        };
        let mode = entry.header().mode()? & 0o7777;
        match entry.header().entry_type() {
            tar::EntryType::Directory => image.dir(&path, mode),
            tar::EntryType::Regular => {
                let mut data = Vec::new();
                entry.read_to_end(&mut data)?;
                image.file(&path, mode, data);
            }
            tar::EntryType::Symlink => {
                let target = entry.link_name()?.context("a symlink without a target")?;
                image.symlink(&path, &target.to_string_lossy());
            }
            other => {
                bail!("the test rootfs has a {other:?} entry at {rel}, which vm-test does not pack")
            }
        }
    }
    Ok(())
}

/// Builds every binary of `packages` in one `cargo build --keep-going`,
/// and returns copies without debug info (a fifth of the size, and the
/// image is held in the VM's memory twice) by binary name, with the first
/// error line when something did not build.
fn build_bins(
    packages: &[String],
    bin_dir: &Path,
    tools: &Tools,
) -> Result<(BTreeMap<String, PathBuf>, Option<String>)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args([
        "build",
        "--quiet",
        "--keep-going",
        "--message-format=json-render-diagnostics",
        "--bins",
    ]);
    for package in packages {
        cmd.args(["-p", package]);
    }
    let out = cmd
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .output()
        .context("run cargo build for the VM's programs")?;
    let error = (!out.status.success()).then(|| {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(20).collect();
        eprintln!(
            "vm-test: cargo build failed:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
        stderr
            .lines()
            .find(|l| l.starts_with("error"))
            .unwrap_or("cargo build failed")
            .to_owned()
    });
    fs::create_dir_all(bin_dir).with_context(|| format!("create {}", bin_dir.display()))?;
    let mut built = BTreeMap::new();
    for (name, exe) in executables(&String::from_utf8_lossy(&out.stdout)) {
        let stripped = strip(&exe, &bin_dir.join(&name), tools)?;
        built.insert(name, stripped);
    }
    Ok((built, error))
}

/// A copy of `exe` at `to` without debug info.
fn strip(exe: &Path, to: &Path, tools: &Tools) -> Result<PathBuf> {
    output(
        Command::new(&tools.strip)
            .arg("--strip-debug")
            .arg("-o")
            .arg(to)
            .arg(exe),
    )?;
    Ok(to.to_path_buf())
}

/// Builds the integration test `name` of `package` (`cargo test --no-run`)
/// and returns a copy of its executable without debug info.
fn build_test(package: &str, name: &str, bin_dir: &Path, tools: &Tools) -> Result<PathBuf> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .args([
            "test",
            "--no-run",
            "--quiet",
            "--message-format=json",
            "-p",
            package,
        ])
        .args(["--test", name])
        .current_dir(crate::workspace_root())
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("run cargo test --no-run -p {package} --test {name}"))?;
    if !out.status.success() {
        bail!(
            "cargo test --no-run -p {package} --test {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim_end()
        );
    }
    let exe = executable_of(&String::from_utf8_lossy(&out.stdout), name)
        .with_context(|| format!("cargo test --no-run named no executable {name}"))?;
    fs::create_dir_all(bin_dir).with_context(|| format!("create {}", bin_dir.display()))?;
    strip(&exe, &bin_dir.join(format!("{name}-test")), tools)
}

/// Every executable among cargo's JSON messages, by target name.
fn executables(messages: &str) -> Vec<(String, PathBuf)> {
    messages
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_owned();
            Some((name, PathBuf::from(m["executable"].as_str()?)))
        })
        .collect()
}

/// The executable called `name` among cargo's JSON messages.
fn executable_of(messages: &str, name: &str) -> Option<PathBuf> {
    executables(messages)
        .into_iter()
        .find_map(|(n, exe)| (n == name).then_some(exe))
}

/// The shared libraries (and the dynamic loader) `bin` needs, as `ldd` finds them.
fn shared_libraries(ldd: &Path, bin: &Path) -> Result<Vec<PathBuf>> {
    let out = output(Command::new(ldd).arg(bin))?;
    parse_ldd(&out).with_context(|| format!("ldd {}", bin.display()))
}

fn parse_ldd(out: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in out.lines().map(str::trim) {
        let path = match line.split_once("=>") {
            Some((name, rest)) => {
                let rest = rest.trim();
                if rest.starts_with("not found") {
                    bail!("{} is not found", name.trim());
                }
                rest.split(" (").next().unwrap_or("").trim()
            }
            None => line.split(" (").next().unwrap_or("").trim(),
        };
        // linux-vdso.so.1 is the kernel's, and "statically linked" needs nothing.
        if path.starts_with('/') {
            libs.push(PathBuf::from(path));
        }
    }
    Ok(libs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_the_libraries_and_the_loader() {
        let out = "\tlinux-vdso.so.1 (0x00007ffd6b5f0000)\n\
                   \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f5e)\n\
                   \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f5e)\n\
                   \t/lib64/ld-linux-x86-64.so.2 (0x00007f5e)\n";
        assert_eq!(
            parse_ldd(out).unwrap(),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        let err = parse_ldd("\tlibfoo.so.1 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libfoo.so.1"), "{err}");
    }

    #[test]
    fn init_sh_finds_every_step() {
        assert_eq!(init_sh_name("step03"), None);
        assert_eq!(init_sh_name("step09"), None);
        assert_eq!(init_sh_name("step10").as_deref(), Some("step010"));
        // init.sh's loop, which names the binary it runs.
        assert!(INIT.contains("bin=/bin/step0$step"));
    }

    #[test]
    fn cargo_messages_name_the_executable() {
        let msgs = r#"{"reason":"compiler-artifact","target":{"name":"workshop"},"executable":null}
    {"reason":"compiler-artifact","target":{"name":"step01"},"executable":"/t/debug/step01"}
    {"reason":"build-finished","success":true}"#;
        assert_eq!(
            executable_of(msgs, "step01"),
            Some(PathBuf::from("/t/debug/step01"))
        );
        assert_eq!(executable_of(msgs, "step02"), None);
    }

    /// Reads a newc archive back: (name, mode, uid, nlink, rdev major, data).
    fn read_newc(mut bytes: &[u8]) -> Vec<(String, u32, u32, u32, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let total = bytes.len();
        loop {
            assert_eq!(
                &bytes[..6],
                b"070701",
                "a newc header at offset {}",
                total - bytes.len()
            );
            let field = |i: usize| {
                u32::from_str_radix(
                    std::str::from_utf8(&bytes[6 + 8 * i..14 + 8 * i]).unwrap(),
                    16,
                )
                .unwrap()
            };
            let (mode, uid, nlink, size, rmajor, namesize) =
                (field(1), field(2), field(4), field(6), field(9), field(11));
            let name = std::str::from_utf8(&bytes[110..110 + namesize as usize - 1])
                .unwrap()
                .to_owned();
            assert_eq!(
                bytes[110 + namesize as usize - 1],
                0,
                "the name ends in NUL"
            );
            let data_at = (110 + namesize as usize).div_ceil(4) * 4;
            let data = bytes[data_at..data_at + size as usize].to_vec();
            let next = (data_at + size as usize).div_ceil(4) * 4;
            bytes = &bytes[next..];
            if name == "TRAILER!!!" {
                assert!(bytes.is_empty(), "nothing after the trailer");
                return out;
            }
            out.push((name, mode, uid, nlink, rmajor, data));
        }
    }

    #[test]
    fn the_image_is_newc_with_parents_first_and_root_owned() {
        let mut image = Image::default();
        image.file("/bin/busybox", 0o755, b"elf".to_vec());
        image.symlink("bin/sh", "busybox");
        image.char_dev("dev/console", 0o600, 5, 1);
        image.dir("tmp", 0o1777);
        image.file("a/b/c", 0o644, b"12345".to_vec());
        let entries = read_newc(&image.newc());
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "a",
                "a/b",
                "a/b/c",
                "bin",
                "bin/busybox",
                "bin/sh",
                "dev",
                "dev/console",
                "tmp"
            ]
        );
        let by_name = |n: &str| entries.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(by_name("a").1, 0o040755);
        assert_eq!(by_name("a/b/c").1, 0o100644);
        assert_eq!(by_name("a/b/c").5, b"12345");
        assert_eq!(by_name("bin/sh").1, 0o120777);
        assert_eq!(by_name("bin/sh").5, b"busybox");
        assert_eq!(by_name("dev/console").1, 0o020600);
        assert_eq!(by_name("dev/console").4, 5);
        assert_eq!(by_name("tmp").1, 0o041777);
        assert_eq!(by_name("tmp").3, 2);
        assert!(entries.iter().all(|e| e.2 == 0), "every entry is root's");
    }
}
