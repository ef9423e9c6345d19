//! The migrations are embedded in the binary (`embed_migrations!`): rebuild when they change.
fn main() {
    println!("cargo:rerun-if-changed=../migrations");
}
