//! The test function's image, built by the harness itself from its own executable: no base
//! image and no registry. The image holds the executable, the shared libraries it links (as
//! `ldd` finds them, at the same paths), and a shell with its own libraries for the
//! [`Entrypoint::Shell`](super::section::Entrypoint::Shell) wrapper; nothing else.
//!
//! It is tagged by a hash of everything it holds (`update-harness/testfn:<hash>`), so a
//! second run of the same build finds it and does not build again; a new build of the
//! harness gets a new image, and the older images of the same program go. Built images carry
//! [`IMAGE_LABEL`] and are kept between runs, as a build cache is: `docker image rm $(docker
//! images -q -f label=io.update-harness.image)` removes them.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use bollard::query_parameters::BuildImageOptions;
use bollard::Docker;
use futures_util::StreamExt;

use super::engine::IMAGE_LABEL;

/// Where the executable is in the image.
pub const APP_DIR: &str = "/app";
/// The wrapper script of [`super::section::Entrypoint::Shell`].
pub const WRAPPER: &str = "/app/wrapper.sh";

/// A shell wrapper as many images have one: it runs the app as its child and waits for it,
/// to say something after it ends. It does not `exec` the app, and it sets no trap: as the
/// container's PID 1 it ignores SIGTERM (the kernel gives PID 1 no default action), and
/// the app, its child, never receives it.
const WRAPPER_SCRIPT: &str = "#!/bin/sh\n\
# Runs the app and waits for it; forwards no signal.\n\
\"$@\"\n\
status=$?\n\
echo \"wrapper: the app exited with status $status\" >&2\n\
exit $status\n";

const DOCKERFILE: &str = "FROM scratch\nCOPY rootfs/ /\n";

/// The built image and whether this run built it.
#[derive(Clone, Debug)]
pub struct Built {
    pub tag: String,
    /// The executable's path in the image.
    pub program: String,
    /// `None`: found in the Engine's images (built by an earlier run); else how long the
    /// build took, in ms.
    pub build_ms: Option<f64>,
}

/// The files of the image: the program, its libraries and the shell's, by their path in the
/// image.
fn files(program: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    let name = program
        .file_name()
        .ok_or_else(|| anyhow::anyhow!("{} names no file", program.display()))?
        .to_string_lossy()
        .into_owned();
    let shell = std::fs::canonicalize("/bin/sh")
        .map_err(|e| anyhow::anyhow!("the wrapper's shell, /bin/sh: {e}"))?;
    let mut libs = BTreeSet::new();
    libs.extend(shared_libraries(program)?);
    libs.extend(shared_libraries(&shell)?);
    let mut files = vec![
        (format!("{APP_DIR}/bin/{name}"), program.to_owned()),
        ("/bin/sh".to_owned(), shell),
    ];
    files.extend(libs.into_iter().map(|l| (l.clone(), PathBuf::from(l))));
    Ok(files)
}

/// The shared libraries `ldd` says `exe` loads, with the dynamic loader: the absolute
/// paths, as the loader looks them up.
fn shared_libraries(exe: &Path) -> anyhow::Result<Vec<String>> {
    let out = std::process::Command::new("ldd")
        .arg(exe)
        .output()
        .map_err(|e| anyhow::anyhow!("running ldd on {}: {e}", exe.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // A static executable: "not a dynamic executable", nothing to copy.
        if text.contains("not a dynamic")
            || String::from_utf8_lossy(&out.stderr).contains("not a dynamic")
        {
            return Ok(Vec::new());
        }
        anyhow::bail!(
            "ldd {} failed: {}",
            exe.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(parse_ldd(&text))
}

/// The absolute paths in `ldd`'s output: `libc.so.6 => /lib/.../libc.so.6 (0x...)` and the
/// loader's own `/lib64/ld-linux-x86-64.so.2 (0x...)`; the kernel's vDSO has no file.
fn parse_ldd(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, right)) => right.trim(),
                None => line.trim(),
            };
            let path = path.split_whitespace().next()?;
            path.starts_with('/').then(|| path.to_owned())
        })
        .collect()
}

/// The program's file name: the value of the images' [`IMAGE_LABEL`].
fn program_name(program: &Path) -> String {
    program
        .file_name()
        .map_or_else(|| "testfn".into(), |n| n.to_string_lossy().into_owned())
}

/// Removes the images built before for the same program, other than `keep`: a new build
/// replaces the old one, as a build cache would. One that a container still uses stays (the
/// Engine refuses), as does anything the harness did not build.
async fn remove_older(docker: &Docker, program: &str, keep: &str) {
    use bollard::query_parameters::{ListImagesOptions, RemoveImageOptions};
    let Ok(images) = docker
        .list_images(Some(ListImagesOptions {
            filters: Some(std::collections::HashMap::from([(
                "label".to_owned(),
                vec![format!("{IMAGE_LABEL}={program}")],
            )])),
            ..Default::default()
        }))
        .await
    else {
        return;
    };
    for image in images {
        if image.repo_tags.iter().any(|t| t == keep) {
            continue;
        }
        for tag in &image.repo_tags {
            let _ = docker
                .remove_image(tag, None::<RemoveImageOptions>, None)
                .await;
        }
    }
}

/// A 64-bit FNV-1a over 8-byte words: the cache key of the image's content (not a
/// security boundary: the Engine's own image id is the content's digest).
fn content_hash(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        h = (h ^ part.len() as u64).wrapping_mul(0x0000_0100_0000_01b3);
        let mut words = part.chunks_exact(8);
        for w in &mut words {
            let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
            h = (h ^ w).wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in words.remainder() {
            h = (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// The test function's image for `program`: found by its content's tag, or built now.
pub async fn ensure(docker: &Docker, program: &Path) -> anyhow::Result<Built> {
    let program = std::fs::canonicalize(program).map_err(|e| {
        anyhow::anyhow!("the test function's executable {}: {e}", program.display())
    })?;
    let files = files(&program)?;
    let mut contents = Vec::with_capacity(files.len());
    for (at, from) in &files {
        let bytes = std::fs::read(from)
            .map_err(|e| anyhow::anyhow!("reading {} for the image: {e}", from.display()))?;
        contents.push((at.clone(), bytes));
    }
    let mut parts: Vec<&[u8]> = vec![DOCKERFILE.as_bytes(), WRAPPER_SCRIPT.as_bytes()];
    for (at, bytes) in &contents {
        parts.push(at.as_bytes());
        parts.push(bytes);
    }
    let tag = format!("update-harness/testfn:{:016x}", content_hash(&parts));
    let in_image = files[0].0.clone();
    if docker.inspect_image(&tag).await.is_ok() {
        return Ok(Built {
            tag,
            program: in_image,
            build_ms: None,
        });
    }
    let began = Instant::now();
    let context = context(&contents)?;
    let options = BuildImageOptions {
        dockerfile: "Dockerfile".to_owned(),
        t: Some(tag.clone()),
        rm: true,
        forcerm: true,
        labels: Some(std::collections::HashMap::from([(
            IMAGE_LABEL.to_owned(),
            program_name(&program),
        )])),
        ..Default::default()
    };
    let body = http_body_util::Either::Left(http_body_util::Full::new(context.into()));
    let mut stream = docker.build_image(options, None, Some(body));
    while let Some(info) = stream.next().await {
        let info = info.map_err(|e| anyhow::anyhow!("building the image {tag}: {e}"))?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            anyhow::bail!("building the image {tag}: {error}");
        }
    }
    docker
        .inspect_image(&tag)
        .await
        .map_err(|e| anyhow::anyhow!("the image {tag} was not there after its build: {e}"))?;
    remove_older(docker, &program_name(&program), &tag).await;
    Ok(Built {
        tag,
        program: in_image,
        build_ms: Some(began.elapsed().as_secs_f64() * 1e3),
    })
}

/// The build context: the Dockerfile and `rootfs/` with every file at its path in the
/// image, executable, and the wrapper.
fn context(contents: &[(String, Vec<u8>)]) -> anyhow::Result<Vec<u8>> {
    let mut tar = tar::Builder::new(Vec::new());
    let mut add = |path: &str, bytes: &[u8], mode: u32| -> std::io::Result<()> {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(mode);
        header.set_mtime(0);
        header.set_cksum();
        tar.append_data(&mut header, path, bytes)
    };
    add("Dockerfile", DOCKERFILE.as_bytes(), 0o644)?;
    add(
        &format!("rootfs{WRAPPER}"),
        WRAPPER_SCRIPT.as_bytes(),
        0o755,
    )?;
    add("rootfs/tmp/.keep", b"", 0o644)?;
    for (at, bytes) in contents {
        add(&format!("rootfs{at}"), bytes, 0o755)?;
    }
    Ok(tar.into_inner()?)
}

/// What a container runs: its image, its entrypoint (`None`: the image's own) and the
/// arguments before the host's flags.
pub struct Command {
    pub image: String,
    pub entrypoint: Option<Vec<String>>,
    pub args: Vec<String>,
}

/// What `version`'s containers run: the image, the entrypoint (`None`: the image's own) and
/// the arguments before the host's flags. A user's image (`image_from`, `image_to`) keeps its
/// own entrypoint, the host's flags its command; the built image starts the program as
/// `section.entrypoint` says, after `program_args` (`testfn` for the harness's executable).
pub fn for_version(
    section: &super::config::DockerSection,
    built: Option<&Built>,
    (from, to): (&str, &str),
    program_args: &[String],
    version: &str,
) -> Result<Command, String> {
    let users = if version == from {
        section.image_from.clone()
    } else if version == to {
        section.image_to.clone()
    } else {
        None
    };
    if let Some(image) = users {
        return Ok(Command {
            image,
            entrypoint: None,
            args: Vec::new(),
        });
    }
    let built = built
        .ok_or_else(|| format!("version {version} has no image: name it in [platform.docker]"))?;
    let entrypoint = match section.entrypoint {
        super::config::Entrypoint::Exec => vec![built.program.clone()],
        super::config::Entrypoint::Shell => {
            vec!["/bin/sh".into(), WRAPPER.into(), built.program.clone()]
        }
    };
    Ok(Command {
        image: built.tag.clone(),
        entrypoint: Some(entrypoint),
        args: program_args.to_vec(),
    })
}

/// The ledger's row for the image: `engine action=image_built` (with its `ms`) or
/// `image_found`.
pub fn record(ledger: &crate::ledger::Ledger, built: &Built) {
    let action = if built.build_ms.is_some() {
        "image_built"
    } else {
        "image_found"
    };
    let mut e = ledger
        .event(reports::ledger::Kind::Engine, "", "", "")
        .with("action", action)
        .with("image", &built.tag);
    if let Some(ms) = built.build_ms {
        e = e.with("ms", format!("{ms:.0}"));
    }
    ledger.record(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_gives_every_library_and_the_loader_but_not_the_vdso() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        assert_eq!(
            parse_ldd(text),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
        );
    }

    #[test]
    fn the_content_hash_moves_with_any_byte_and_with_where_a_part_ends() {
        let base = content_hash(&[b"abcdefgh12", b"x"]);
        assert_ne!(base, content_hash(&[b"abcdefgh13", b"x"]));
        assert_ne!(base, content_hash(&[b"abcdefgh1", b"2x"]));
        assert_eq!(base, content_hash(&[b"abcdefgh12", b"x"]));
    }
}
