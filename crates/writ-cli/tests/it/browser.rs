//! What the browser tests (`ui_proof`, `demo_web`) share.

/// What a browser test needs: node's modules with `playwright-core` and `axe-core`
/// (WRIT_UI_NODE_MODULES) and Chromium (WRIT_CHROMIUM, default /usr/bin/chromium); and where
/// its scripts are (`root`, the workspace) and its screenshots go
/// (`$CARGO_TARGET_DIR/ui-screenshots`, created).
pub struct BrowserEnv {
    pub root: std::path::PathBuf,
    pub modules: String,
    pub chromium: String,
    pub screenshots: std::path::PathBuf,
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
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let screenshots = std::env::var("CARGO_TARGET_DIR")
        .map_or_else(|_| root.join("target"), std::path::PathBuf::from)
        .join("ui-screenshots");
    std::fs::create_dir_all(&screenshots).unwrap();
    Some(BrowserEnv {
        root,
        modules,
        chromium,
        screenshots,
    })
}
