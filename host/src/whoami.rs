//! Who and when, for lock holders and history records.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub fn host() -> String {
    hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_else(|_| "unknown".into())
}

/// The OS user: `$USER` or `$LOGNAME`, else the user database's name for
/// the effective uid (CI containers often set neither variable), else the
/// uid itself.
pub fn user() -> String {
    let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
    var("USER")
        .or_else(|| var("LOGNAME"))
        .or_else(user_name)
        // SAFETY: geteuid has no preconditions and cannot fail.
        .unwrap_or_else(|| format!("uid {}", unsafe { libc::geteuid() }))
}

/// The user database's (passwd, NSS) name of the effective uid.
fn user_name() -> Option<String> {
    let mut buf = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: a passwd of null pointers and zeros is a valid value to
    // overwrite; getpwuid_r writes only into `pwd` and `buf`, which outlive
    // the call, and the name (pointing into `buf`) is copied out before
    // `buf` is dropped.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut found = std::ptr::null_mut();
        let rc = libc::getpwuid_r(
            libc::geteuid(),
            &mut pwd,
            buf.as_mut_ptr(),
            buf.len(),
            &mut found,
        );
        if rc != 0 || found.is_null() || pwd.pw_name.is_null() {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(pwd.pw_name).to_string_lossy();
        (!name.is_empty()).then(|| name.into_owned())
    }
}

/// Who asked for a rollout: `given` (`--actor`, `$PITWALL_ACTOR`), else
/// `$GITHUB_ACTOR` (the user who started the workflow), else the OS user.
pub fn actor(given: Option<&str>) -> String {
    given
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_string)
        .or_else(|| {
            std::env::var("GITHUB_ACTOR")
                .ok()
                .filter(|a| !a.trim().is_empty())
        })
        .unwrap_or_else(user)
}

/// Milliseconds since the Unix epoch, as checks see time.
pub fn now_ms() -> u64 {
    let nanos = OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
    u64::try_from(nanos).unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// A time in ms since the epoch, as RFC 3339 (UTC).
pub fn rfc3339_ms(ms: u64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// `20261126T130501Z`, for file names.
pub fn now_compact() -> String {
    let t = OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_os_user_is_named_as_id_names_it() {
        let id = std::process::Command::new("id")
            .arg("-un")
            .output()
            .expect("id (coreutils) runs");
        let expected = id
            .status
            .success()
            .then(|| String::from_utf8_lossy(&id.stdout).trim().to_string());
        assert_eq!(super::user_name(), expected);
        assert_eq!(super::actor(Some("  ada  ")), "ada");
    }
}
