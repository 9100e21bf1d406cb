//! Reads the PHP this extension is built against (the `php-config` that
//! ext-php-rs binds: `$PHP_CONFIG`, else the one on `PATH`) for what
//! ext-php-rs does not tell the Rust code:
//!
//! - the signature of the engine's slow argument parsers, which
//!   `src/ffi.rs` declares itself (ext-php-rs does not bind them) and which
//!   changed in PHP 8.6: taken from the PHP's own `Zend/zend_API.h`, so a
//!   PHP with another signature stops the build instead of being called
//!   with the wrong one (which would pass a pointer as an argument number);
//! - whether the engine guards its C stack (PHP 8.3 and newer): before it,
//!   `src/stack_guard.rs` stands in for nested `Lock::synchronized()` calls;
//! - the PHP version and the compiler, shown by `php --ri exakat_lock`
//!   beside the module API and thread-safety ext-php-rs records, so a bug
//!   report says which PHP a `.so` was built for. PHP itself refuses a `.so`
//!   of another module API, thread-safety or debug mode when it loads it.

use std::{env, fs, path::PathBuf, process::Command};

fn main() {
    println!("cargo:rerun-if-env-changed=PHP_CONFIG");
    println!("cargo:rustc-check-cfg=cfg(php_slow_parsers_return_value)");
    println!("cargo:rustc-check-cfg=cfg(php_without_stack_limit)");
    let php_config = env::var("PHP_CONFIG").unwrap_or_else(|_| "php-config".into());
    let version = output(&php_config, &["--version"]);
    let header = PathBuf::from(output(&php_config, &["--include-dir"])).join("Zend/zend_API.h");
    println!("cargo:rerun-if-changed={}", header.display());
    let api = fs::read_to_string(&header).unwrap_or_else(|e| panic!("cannot read {}: {e}", header.display()));

    // PHP 8.1-8.5: `bool f(zval *arg, T *dest, uint32_t arg_num)`;
    // 8.6: `T f(zval *arg, uint32_t arg_num)`.
    let returns_value = ["zend_parse_arg_str_slow", "zend_parse_arg_double_slow"].map(|function| {
        let declaration = api
            .lines()
            .find(|line| line.starts_with("ZEND_API") && line.contains(&format!(" {function}(")))
            .unwrap_or_else(|| panic!("{} does not declare {function}()", header.display()));
        let parameters = declaration.split_once('(').map_or("", |(_, rest)| rest);
        match parameters.split(',').map(str::trim).collect::<Vec<_>>()[..] {
            [_, dest, "uint32_t arg_num);"] if dest.contains("*dest") => false,
            [_, "uint32_t arg_num);"] => true,
            _ => panic!("PHP {version} declares {function}() in a way exakat_lock does not know: {declaration}"),
        }
    });
    match returns_value {
        [true, true] => println!("cargo:rustc-cfg=php_slow_parsers_return_value"),
        [false, false] => {}
        _ => panic!("PHP {version}: the slow argument parsers of {} disagree", header.display()),
    }

    // `EG(stack_limit)` and the engine's own "Maximum call stack size"
    // error came with PHP 8.3.
    let version_id: u32 = output(&php_config, &["--vernum"])
        .parse()
        .unwrap_or_else(|e| panic!("{php_config} --vernum is not a number: {e}"));
    if version_id < 80300 {
        println!("cargo:rustc-cfg=php_without_stack_limit");
    }

    pack_relative_relocations();

    let rustc = output(&env::var("RUSTC").unwrap_or_else(|_| "rustc".into()), &["--version"]);
    println!("cargo:rustc-env=EXAKAT_LOCK_BUILT_FOR_PHP={version}");
    println!("cargo:rustc-env=EXAKAT_LOCK_BUILT_WITH={rustc} for {}", env::var("TARGET").unwrap_or_default());
}

/// Nine relocations in ten are "add the load address here" (vtables and
/// string tables in `.data.rel.ro`); DT_RELR stores them as bitmaps: the
/// `.so` is 0.23 MiB smaller, with fewer pages for the loader to touch.
/// Only glibc 2.36 and newer load such a file, so only a native build on
/// such a glibc uses it: not one linked by another linker (cargo-zigbuild's,
/// for the release assets' older glibc), which cargo announces in
/// `RUSTC_LINKER`.
fn pack_relative_relocations() {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let native_gnu = env::var("TARGET") == env::var("HOST") && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu");
    if !native_gnu || env::var_os("RUSTC_LINKER").is_some() {
        return;
    }
    let glibc = Command::new("getconf")
        .arg("GNU_LIBC_VERSION")
        .output()
        .map(|out| String::from_utf8_lossy(&out.stdout).into_owned());
    let version: Option<(u32, u32)> =
        glibc.ok().as_deref().and_then(|text| text.trim().strip_prefix("glibc ")).and_then(|v| {
            let (major, minor) = v.split_once('.')?;
            Some((major.parse().ok()?, minor.split('.').next()?.parse().ok()?))
        });
    if version.is_some_and(|v| v >= (2, 36)) {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,pack-relative-relocs");
    }
}

/// The first line `program args` prints; the build stops if it fails.
fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(out.status.success(), "{program} {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().next().unwrap_or_default().trim().to_owned()
}
