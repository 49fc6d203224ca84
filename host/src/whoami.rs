//! Who: the host, the OS user and the actor named in lock holders and
//! history records (when is `clock`'s).

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
