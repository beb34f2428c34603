//! The GraphQL API binary (being built: see the README).

fn main() -> std::process::ExitCode {
    eprintln!(
        "the GraphQL API is not built yet; `cargo run -p migration -- --help` manages the schema"
    );
    std::process::ExitCode::FAILURE
}
