//! `writ-sandbox`: the sandbox launcher the command runner re-executes (see
//! `writ_gate::exec::sandbox`). Sets `no_new_privs` and Landlock rules on itself, then `exec`s
//! the command; prints why and exits 125 (setup failed), 126 or 127 when it cannot.

fn main() -> std::process::ExitCode {
    let code = writ_gate::exec::sandbox::main_with_args(std::env::args_os().skip(1));
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(125))
}
