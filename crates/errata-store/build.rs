// `sqlx::migrate!` embeds the migration files at compile time: rebuild when they change, not
// only when a source file does.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
