//! Bundles GraphiQL into the build output, so that the binary serves it with no third-party
//! host at run time: pinned production builds of GraphiQL, React and ReactDOM, fetched from the
//! npm registry with npm (`npm pack`), checked against the integrity pinned here, unpacked into
//! `OUT_DIR` and embedded by `src/http/graphiql.rs`. Nothing is copied into the repository.
//!
//! Without npm or the registry the build still succeeds (the page then says what is missing),
//! except in CI (`CI` set), where a missing GraphiQL fails the build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// (package, version, npm integrity, [(file in the package, name served)]).
type Package = (
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const PACKAGES: [Package; 3] = [
    (
        "graphiql",
        "4.1.2",
        "sha512-rNlzQIAzm6i2KBXmVQWBgLvt0TloxFVB2d18bukvdsvjEuFDHsKx5IVOomL1W1o5WW+tE54+ioHb2AEKzO2cUg==",
        &[
            ("package/graphiql.min.js", "graphiql.min.js"),
            ("package/graphiql.min.css", "graphiql.min.css"),
        ],
    ),
    (
        "react",
        "18.3.1",
        "sha512-wS+hAgJShR0KhEvPJArfuPVN1+Hz1t0Y6n5jLrGQbkb4urgPE/0Rve+1kMB1v/oWgHgm4WIcV+i7F2pTVj+2iQ==",
        &[(
            "package/umd/react.production.min.js",
            "react.production.min.js",
        )],
    ),
    (
        "react-dom",
        "18.3.1",
        "sha512-5m4nQKp+rZRb09LNH59GM4BxTh9251/ylbKIbpe7TpGxfJ+9kv6BLkLBXIjjspbgbnIBNqlI23tRnTWT0snUIw==",
        &[(
            "package/umd/react-dom.production.min.js",
            "react-dom.production.min.js",
        )],
    ),
];

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CI");
    let out =
        PathBuf::from(std::env::var("OUT_DIR").unwrap_or_else(|_| ".".into())).join("graphiql");
    let missing = out.join("MISSING");
    let result = std::fs::create_dir_all(&out)
        .map_err(|e| format!("cannot create {}: {e}", out.display()))
        .and_then(|()| PACKAGES.iter().try_for_each(|p| fetch(p, &out)));
    match result {
        Ok(()) => {
            let _ = std::fs::remove_file(&missing);
        }
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "0" && v != "false") {
                eprintln!("GraphiQL could not be bundled: {reason}");
                std::process::exit(1);
            }
            println!("cargo:warning=GraphiQL is not bundled into this build: {reason}");
            for (_, _, _, files) in PACKAGES {
                for (_, name) in files {
                    let path = out.join(name);
                    if !path.exists() {
                        let _ = std::fs::write(&path, "");
                    }
                }
            }
            let _ = std::fs::write(&missing, &reason);
            println!(
                "cargo:rustc-env=GRAPHIQL_MISSING_MARKER={}",
                reason.replace(['\n', '\r'], " ")
            );
        }
    }
}

/// Unpacks `package`'s files into `out`, unless an earlier build did.
fn fetch((name, version, integrity, files): &Package, out: &Path) -> Result<(), String> {
    let stamp = out.join(format!("{name}-{version}.ok"));
    if stamp.exists() && files.iter().all(|(_, served)| out.join(served).exists()) {
        return Ok(());
    }
    let work = out.join(format!("{name}-{version}"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let spec = format!("{name}@{version}");
    let packed = Command::new("npm")
        .args(["pack", &spec, "--json", "--silent", "--pack-destination"])
        .arg(&work)
        .output()
        .map_err(|e| format!("cannot run npm ({e}): install Node.js and npm"))?;
    if !packed.status.success() {
        return Err(format!(
            "`npm pack {spec}` failed: {}",
            String::from_utf8_lossy(&packed.stderr).trim()
        ));
    }
    let report = String::from_utf8_lossy(&packed.stdout);
    if !report.contains(&format!("\"integrity\": \"{integrity}\"")) {
        return Err(format!(
            "{spec} from the registry does not have the pinned integrity {integrity}"
        ));
    }
    let tarball = work.join(format!("{name}-{version}.tgz"));
    for (member, served) in *files {
        let unpacked = Command::new("tar")
            .arg("-xzf")
            .arg(&tarball)
            .arg("-C")
            .arg(&work)
            .arg(member)
            .status()
            .map_err(|e| format!("cannot run tar: {e}"))?;
        if !unpacked.success() {
            return Err(format!("{member} is not in {spec}"));
        }
        std::fs::rename(work.join(member), out.join(served)).map_err(|e| e.to_string())?;
    }
    let _ = std::fs::remove_dir_all(&work);
    std::fs::write(stamp, integrity).map_err(|e| e.to_string())
}
