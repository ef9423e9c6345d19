//! Domain vocabulary shared by the server and the browser: typed ids, states and kinds, steps and
//! policies, and the views that server functions return. No I/O here.

mod account;
mod catalogue;
mod drivers;
mod enums;
mod ids;
mod policy;
mod stats;
mod tokens;
mod views;

pub use account::*;
pub use catalogue::*;
pub use drivers::*;
pub use enums::*;
pub use ids::*;
pub use policy::*;
pub use stats::*;
pub use tokens::*;
pub use views::*;
