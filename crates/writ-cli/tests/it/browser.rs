//! What the browser tests (`ui_proof`, `demo_web`) share.

/// What a browser test needs: node's modules with `playwright-core` and `axe-core`
/// (WRIT_UI_NODE_MODULES) and Chromium (WRIT_CHROMIUM, default /usr/bin/chromium).
pub struct BrowserEnv {
    pub modules: String,
    pub chromium: String,
}

/// The browser test environment, or `None` after saying why `what` cannot run (a test failure
/// instead when WRIT_REQUIRE_UI=1).
pub fn browser_env(what: &str) -> Option<BrowserEnv> {
    let skip = |why: String| {
        if std::env::var("WRIT_REQUIRE_UI").as_deref() == Ok("1") {
            panic!("{what} cannot run: {why}");
        }
        eprintln!("skipped: {what} cannot run: {why}");
        None
    };
    let Ok(modules) = std::env::var("WRIT_UI_NODE_MODULES") else {
        return skip(
            "WRIT_UI_NODE_MODULES is not set (scripts/test.sh installs ui/package-lock.json)"
                .into(),
        );
    };
    let chromium = std::env::var("WRIT_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        return skip(format!(
            "no Chromium at {chromium} (apt-get install chromium)"
        ));
    }
    Some(BrowserEnv { modules, chromium })
}
